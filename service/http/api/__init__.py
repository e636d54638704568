"""The JSON API's routes, one blueprint per resource."""
