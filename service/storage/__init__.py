"""Tables, engines, migrations and the files an instance keeps: where state lives.

Nothing here knows the use cases (``service.domain``) or HTTP (``service.http``).
"""
