"""The ``fairwitness`` command, one module per command group (``main`` assembles them)."""
