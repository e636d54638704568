"""Which storage errors are outages: the database cannot be reached, locked or heard
back from in time.

Only that family is an outage (``service.http.errors`` answers it with a 503, the webhook
deliverer postpones); a constraint violation or a programming error is a bug.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from audit_log.store import CommitUnconfirmed

# Every error storage raises, an outage or a bug: what a caller that only needs to know
# "storage failed" catches.
StorageError = SQLAlchemyError
# The errors ``failure_cause`` may call an outage; anything else is never one.
POSSIBLE_OUTAGES: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout, CommitUnconfirmed)

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


def on_connect(engine: Engine, reached: Callable[[], None]) -> None:
    """Call ``reached`` each time ``engine`` hands out a live connection (the pool has
    pre-pinged it), so a caller can tell storage answered."""

    @event.listens_for(engine, "engine_connect")
    def _connected(_conn: Connection) -> None:
        reached()


def check_reachable(conn: Connection) -> None:
    """Raise a ``StorageError`` unless the database answers and holds the log's head."""
    conn.execute(text("SELECT size FROM log_head WHERE id = 1")).one()
