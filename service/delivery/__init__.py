"""Sending webhook events to the endpoints clients registered, outside any request."""
