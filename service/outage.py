"""What the service does when storage fails: answer 503, count it, log the outage once.

Every request that cannot reach the database, or that the database does not answer
within ``FAIRWITNESS_DB_TIMEOUT_SECONDS``, gets ``503 application/problem+json`` with
``Retry-After``: a 200 or 201 is given only after a durable commit. Each worker logs the
first refusal of an outage and the first request served after it, rather than one
warning per request (the access log already has a line for each).

Only the "cannot reach, lock or hear back from the database" family maps to 503: a
constraint violation or a programming error is a bug and surfaces as a 500.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from flask import Flask, Response, g, has_request_context
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from audit_log.store import CommitUnconfirmed
from service.metrics import STORAGE_UNAVAILABLE
from service.problems import Problem, internal_error, problem_response

logger = logging.getLogger("fairwitness.storage")

# PostgreSQL's SQLSTATEs for statement_timeout (query_canceled), lock_timeout, and the
# server ending a session that sat idle inside a transaction for longer than the timeout.
_TIMEOUT_SQLSTATES = {"57014", "55P03", "25P03"}
# SQLSTATEs that say the server cannot serve now, whatever the statement: connection
# exceptions (08), insufficient resources (53), system errors such as I/O (58), the
# server shutting down or starting (57P01-57P03), and transactions rolled back for a
# serialisation failure or deadlock (40001, 40P01), which a retry resolves.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "58")
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "40001", "40P01"}
# SQLite primary result codes for the same family: busy (5) and locked (6) are waits
# that ran out; out of memory (7), a read-only file (8), I/O error (10), disk full (13),
# cannot open (14) and lock protocol (15) are the file or host failing. Everything
# else, SQLITE_ERROR (1) above all ("too many terms in compound SELECT", "no such
# column", a syntax error), is the statement's fault: a bug, never an outage.
_SQLITE_BUSY = {5, 6}
_SQLITE_UNAVAILABLE = {7, 8, 10, 13, 14, 15}
RETRY_AFTER_SECONDS = "1"


def failure_cause(err: BaseException) -> str | None:
    """Why storage failed, as a bounded label, or None when ``err`` is not an outage.

    ``timeout`` (the database or a lock did not answer in time), ``commit_unconfirmed``,
    or ``unreachable`` (refused, dropped, down, out of disk). None means a bug (a
    constraint violation, a statement the database refuses for its shape), which must
    surface as a 500 and never as "storage unavailable, retry".
    """
    if isinstance(err, CommitUnconfirmed):
        return "commit_unconfirmed"
    if isinstance(err, PoolTimeout):
        return "timeout"
    if not isinstance(err, DBAPIError):
        return None
    orig = err.orig
    if isinstance(orig, sqlite3.Error):
        return _sqlite_cause(orig)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _TIMEOUT_SQLSTATES:
        return "timeout"
    if sqlstate in _UNAVAILABLE_SQLSTATES or str(sqlstate)[:2] in _UNAVAILABLE_SQLSTATE_CLASSES:
        return "unreachable"
    if err.connection_invalidated:
        return "unreachable"
    if isinstance(err, InterfaceError):
        return "unreachable"
    # No SQLSTATE: the server never answered. That is an outage when connecting failed
    # (no statement was sent yet) or the network failed; a driver refusing a statement
    # before sending it ("number of parameters must be between 0 and 65535") is the
    # statement's fault.
    if (
        sqlstate is None
        and isinstance(err, OperationalError)
        and (err.statement is None or isinstance(orig, OSError))
    ):
        return "unreachable"
    return None


def _sqlite_cause(orig: sqlite3.Error) -> str | None:
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None:
        # Raised by this service itself (the host's append lock timing out), not by
        # SQLite: only its "database is locked" is a wait that ran out.
        return "timeout" if "locked" in str(orig) else None
    primary = code & 0xFF
    if primary in _SQLITE_BUSY:
        return "timeout"
    if primary in _SQLITE_UNAVAILABLE:
        return "unreachable"
    return None


def is_storage_failure(err: BaseException) -> bool:
    """True for "could not reach, lock or hear back from the database" (503), False for
    errors that mean a bug, such as a constraint violation or a refused statement (500)."""
    return failure_cause(err) is not None


class OutageLog:
    """Per worker process: one warning when storage starts failing, one line when a
    request is served from it again, with how long it was out and how many were refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._refused = 0

    def refused(self, cause: str) -> None:
        STORAGE_UNAVAILABLE.labels(cause=cause).inc()
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
            self._refused += 1
        if first:
            logger.warning(
                "storage unavailable", extra={"event": "storage_unavailable", "reason": cause}
            )

    def served(self) -> None:
        with self._lock:
            if self._since is None:
                return
            seconds, refused = time.monotonic() - self._since, self._refused
            self._since, self._refused = None, 0
        logger.info(
            "storage available again",
            extra={
                "event": "storage_recovered",
                "duration_ms": round(seconds * 1000),
                "count": refused,
            },
        )


def _unavailable(cause: str, err: BaseException) -> Problem:
    if isinstance(err, CommitUnconfirmed):
        return Problem(
            503,
            "commit-unconfirmed",
            "Storage failed while confirming the commit, so these entries may or may not "
            "be in the log. Look them up (GET /v1/decisions/{id}) before you retry, or "
            "retry with the same Idempotency-Key.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
            extra={"entries": err.entry_ids},
        )
    detail = "Storage did not answer in time" if cause == "timeout" else "Storage is unavailable"
    return Problem(
        503,
        "storage-unavailable",
        f"{detail}; nothing was recorded. Retry later.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def register(app: Flask, engine: Engine) -> None:
    """Map storage failures to 503 and log each worker's outages from start to end."""
    outage = OutageLog()

    @event.listens_for(engine, "engine_connect")
    def _connected(_conn) -> None:
        # Fires only once the pool has handed out a live (pre-pinged) connection.
        if has_request_context():
            g.storage_reached = True

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    @app.errorhandler(CommitUnconfirmed)
    def _storage(err: Exception) -> Response:
        cause = failure_cause(err)
        if cause is None:
            return internal_error(app)
        outage.refused(cause)
        g.storage_failed = True
        return problem_response(_unavailable(cause, err))

    @app.after_request
    def _recovered(response: Response) -> Response:
        if g.get("storage_reached") and not g.get("storage_failed") and response.status_code < 500:
            outage.served()
        return response
