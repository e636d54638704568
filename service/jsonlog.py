"""Structured application logs: one JSON object per line, tagged with the request id.

Only allow-listed fields leave the process. A log line carries ids (request, key,
decision), routes, statuses and timings; never the judged text, an API key's secret or
a user id, whatever a caller passes in ``extra``. Exceptions are logged by type and
stack, without their message, because a database error's message can quote the
parameters it was given (the text under judgement among them).

The command line and the web server log the same way; the web server tells this module
how to find the id of the request being served (``use_request_id``), so the log format
knows nothing of HTTP.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO

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


def _no_request() -> str | None:
    return None


# Where a line without its own ``request_id`` finds the id of the request being served.
_request_id: Callable[[], str | None] = _no_request


def use_request_id(source: Callable[[], str | None]) -> None:
    """Tag every line logged from now on with ``source()`` when it names a request."""
    global _request_id
    _request_id = source


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the safe extras."""

    # UTC times. A builtin is never bound as a method; staticmethod says so to mypy.
    converter = staticmethod(time.gmtime)

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
                value = _request_id()
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
