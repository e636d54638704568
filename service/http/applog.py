"""What the access log and the metrics know of a request: its id, route and method.

The log format (JSON lines of allow-listed fields) is ``service.jsonlog``, shared with
the command line; ``current_request_id`` is how it tags a line with the request served.
"""

from __future__ import annotations

import re
import uuid

from flask import g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
# Echoed back in a response header and written to logs: printable, short, no separators
# a log parser or header splitter could trip on.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_for(header_value: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is well-formed, else a fresh one."""
    if header_value and _REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return None


# Every method a route of this service answers, and the other standard ones. A client
# may send any token as a method; the rest are counted and logged as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_of() -> str:
    """The matched route pattern (``/v1/decisions/<decision_id>``), or ``"unmatched"``;
    never the raw path: paths and query strings can carry ids a log must not collect,
    and a stranger can send any number of them."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def method_of() -> str:
    """The request's method if it is one of ``METHODS``, else ``"other"``: a bounded
    value, whatever the client sends."""
    return request.method if request.method in METHODS else "other"
