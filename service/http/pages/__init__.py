"""The public web pages a person reads in a browser."""
