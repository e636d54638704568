"""Structured application logs: one JSON object per line, tagged with the request id.

Only allow-listed fields leave the process. A log line carries ids (request, key,
decision), routes, statuses and timings; never the judged text, an API key's secret or
a user id, whatever a caller passes in ``extra``. Exceptions are logged by type and
stack, without their message, because a database error's message can quote the
parameters it was given (the text under judgement among them).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from typing import IO

from flask import g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
# Echoed back in a response header and written to logs: printable, short, no separators
# a log parser or header splitter could trip on.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The ``extra`` keys a log line may carry. Anything else is dropped.
SAFE_FIELDS = (
    "event",
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "key_id",
    "app",
    "role",
    "reason",
    "expires_at",
    "revoked_at",
    "decision_id",
    "action",
    "policy_id",
    "count",
    "rate_limit",
)
_MARK = "_fairwitness_json"


def request_id_for(header_value: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is well-formed, else a fresh one."""
    if header_value and _REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the safe extras."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            value = record.__dict__.get(name)
            if value is None and name == "request_id":
                value = current_request_id()
            if value is not None:
                doc[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            doc["exception"] = kind.__name__
            doc["stack"] = "".join(traceback.format_tb(tb))
        return json.dumps(doc, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, so a handler
    installed once keeps working when a test runner or daemoniser swaps the stream."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def configure_logging(*logger_names: str, stream: IO[str] | None = None) -> None:
    """Send the ``fairwitness`` loggers (and any named here) to ``stream`` as JSON lines.

    Idempotent: calling it again, as every ``create_app`` does, adds no second handler.
    """
    for name in ("fairwitness", *logger_names):
        logger = logging.getLogger(name)
        if any(getattr(h, _MARK, False) for h in logger.handlers):
            continue
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        handler.setFormatter(JsonFormatter())
        setattr(handler, _MARK, True)
        # Flask's default text handler would print every line a second time, unfiltered.
        for existing in list(logger.handlers):
            logger.removeHandler(existing)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)


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
