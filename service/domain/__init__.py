"""The use cases and read models: what the service decides and records.

No web framework, request parsing or command line here. SQL runs through SQLAlchemy Core
on a Connection or Engine the caller gives, against ``service.storage``'s tables.
"""
