"""The HTTP surface: the Flask app, its routes (``api``), its pages (``pages``), and
everything that reads a request or writes a response."""
