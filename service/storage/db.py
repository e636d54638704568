"""Database engines and the service's own (non-log) tables."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    create_engine,
    event,
    make_url,
)
from sqlalchemy import Table as _Table
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import OperationalError

from audit_log.store import metadata as log_metadata

metadata = MetaData(naming_convention=log_metadata.naming_convention)

api_keys = _Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("app", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32)),
    Column("revoked_at", String(32)),
    # A limit such as "600 per minute" on this key's requests; none when null
    # (migration 0003).
    Column("rate_limit", String(64)),
)

# Private: what was judged. Kept beside the log, never in it; erasure deletes the
# text and salt, after which the public commitment links to nothing.
#
# The public excerpt (when the policy publishes one) lives here too, served beside the
# entry, which holds only a salted commitment to it (migration 0005): erasure deletes
# excerpt and salt, and the entry still verifies.
decision_content = _Table(
    "decision_content",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("app", String(64), nullable=False),
    Column("content_ref", String(256)),
    Column("text", Text),
    Column("salt", LargeBinary(16)),
    Column("erased_at", String(32)),
    Column("excerpt", Text),
    Column("excerpt_salt", LargeBinary(16)),
    Index(None, "app", "content_ref"),
)

# Every policy version ever used, byte for byte, so anyone can re-read the exact
# rules a decision cites.
policy_versions = _Table(
    "policy_versions",
    metadata,
    Column("policy_id", String(64), nullable=False),
    Column("version", String(80), nullable=False),
    Column("source", LargeBinary, nullable=False),
    Column("published_at", String(32), nullable=False),
    Column("log_index", BigInteger, nullable=False),
    PrimaryKeyConstraint("policy_id", "version"),
)

ALL_METADATA = (log_metadata, metadata)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(
    url: str, timeout_seconds: float = 5.0, sqlite_synchronous: str = "NORMAL"
) -> Engine:
    """An engine that fails fast instead of hanging when storage is unavailable.

    SQLite: WAL (readers never block the writer), a busy timeout instead of instant
    "database is locked", and ``BEGIN IMMEDIATE`` for write transactions so two appenders
    queue on the lock instead of deadlocking on a read-to-write upgrade.

    PostgreSQL: ``timeout_seconds`` bounds connecting, every statement, waiting for a
    lock, waiting for a pooled connection, an append transaction sitting idle, and
    noticing a peer that vanished (docs/operations.md, "Database outages and timeouts").
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, timeout_seconds, sqlite_synchronous)
    return _postgres_engine(url, timeout_seconds)


def _sqlite_engine(url: str, timeout_seconds: float, sqlite_synchronous: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": timeout_seconds})
    database = make_url(url).database
    lock_path = f"{database}.append-lock" if database and database != ":memory:" else None

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn, record) -> None:
        # Hand transaction control to the "begin" hook below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # Deleted and overwritten content is zeroed in the file, not just unlinked
        # from the b-tree: erasure must not leave the text in free pages. Set here
        # because the default depends on how the library was built.
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        cur.execute(f"PRAGMA busy_timeout={int(timeout_seconds * 1000)}")
        cur.close()
        if lock_path:
            # One descriptor per connection: flock excludes across descriptors, so
            # threads of one process queue as separate processes do.
            record.info["append_lock"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn) -> None:
        if conn.get_execution_options().get("fairwitness_write"):
            fd = conn.connection.info.get("append_lock")
            if fd is not None:
                _lock_or_fail(fd, timeout_seconds)
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    @event.listens_for(engine, "checkin")
    def _release(_dbapi_conn, record) -> None:
        fd = record.info.get("append_lock") if record is not None else None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @event.listens_for(engine, "close")
    def _close(_dbapi_conn, record) -> None:
        fd = record.info.pop("append_lock", None) if record is not None else None
        if fd is not None:
            os.close(fd)

    return engine


def _postgres_engine(url: str, timeout_seconds: float) -> Engine:
    ms = int(timeout_seconds * 1000)
    seconds = max(1, round(timeout_seconds))
    parsed = make_url(url)
    # Keep libpq options given in the URL (a search_path, say) beside our timeouts; a
    # query key given more than once comes back as a tuple of its values.
    given = parsed.query.get("options", ())
    given_options = [given] if isinstance(given, str) else list(given)
    options = " ".join(
        filter(None, [*given_options, f"-c statement_timeout={ms} -c lock_timeout={ms}"])
    )
    engine = create_engine(
        parsed.difference_update_query(["options"]),
        # A pooled connection that died with the server (restart, failover) is found by
        # the ping at checkout and replaced, so the service recovers without a restart.
        pool_pre_ping=True,
        pool_timeout=timeout_seconds,
        connect_args={
            "connect_timeout": seconds,
            "options": options,
            # A server that vanished without closing the connection (host down, network
            # cut) is noticed by TCP within about the timeout, instead of the kernel's
            # default of minutes to hours.
            "keepalives": 1,
            "keepalives_idle": seconds,
            "keepalives_interval": 1,
            "keepalives_count": 3,
            "tcp_user_timeout": ms,
        },
    )

    @event.listens_for(engine, "begin")
    def _pg_begin(conn) -> None:
        if conn.get_execution_options().get("fairwitness_write"):
            # An append holds the log head's row lock, which every host's appends wait
            # for. If this host stalls or loses the network mid-append, the server ends
            # the session after the timeout and the lock is free again; reads keep the
            # server default, so a slow client can still stream a long export.
            conn.exec_driver_sql(f"SET LOCAL idle_in_transaction_session_timeout = {ms}")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write, queued for the write lock from its start as appends
    are: on SQLite the host's append lock, then ``BEGIN IMMEDIATE`` under the busy
    timeout. A plain transaction that reads first fails at once with "database is locked"
    when it upgrades to write while another connection writes, without waiting."""
    with engine.connect() as conn:
        conn = conn.execution_options(fairwitness_write=True)
        with conn.begin():
            yield conn


def _lock_or_fail(fd: int, timeout_seconds: float) -> None:
    """Take the host's append lock, waiting at most ``timeout_seconds``.

    SQLite's own busy handler sleeps 1, 2, 5, 10… ms between tries, so a writer queued
    behind a 1 ms append often sleeps several times longer than it waits. Appenders
    queue here first, polling every millisecond at most, and then find SQLite's write
    lock free. Holders only ever wait on SQLite itself, which has its own timeout.
    """
    deadline = time.monotonic() + timeout_seconds
    pause = 0.0001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OperationalError(
                    "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                ) from None
        time.sleep(pause)
        pause = min(pause * 2, 0.001)


def purge_erased(engine: Engine, wait_seconds: float = 60.0) -> bool:
    """Remove the copies of just-erased rows that the database keeps in its own files;
    False when they may remain (SQLite readers kept the checkpoint from finishing).

    SQLite: every connection runs with ``secure_delete``, so the erasing UPDATE zeroed
    the old values in the pages it rewrote, but the old page images stay in the
    write-ahead log; a ``TRUNCATE`` checkpoint copies the log into the database file and
    cuts the log to zero bytes. It can finish only when no reader is on an older
    snapshot (a long export, say). A checkpoint that waits blocks every writer, so each
    try gives up at once and the next comes a moment later, for up to
    ``wait_seconds``: appends go on meanwhile.

    PostgreSQL: an UPDATE leaves the old row version in the table until VACUUM removes
    it; this vacuums the tables that hold erasable content. Copies outside the database
    server's tables (its WAL archive, replicas, backups) are the operator's to expire
    (docs/operations.md, "Erasure").
    """
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            (busy_timeout,) = _pragma_row(cursor, "PRAGMA busy_timeout")
            cursor.execute("PRAGMA busy_timeout=0")
            deadline = time.monotonic() + wait_seconds
            try:
                while True:
                    busy, wal_frames, _copied = _pragma_row(
                        cursor, "PRAGMA wal_checkpoint(TRUNCATE)"
                    )
                    if busy == 0 and wal_frames in (0, -1):
                        return True
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(0.05)
            finally:
                cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
        finally:
            raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # A large table may take longer to vacuum than a request may run.
        conn.exec_driver_sql("SET statement_timeout = 0")
        try:
            conn.exec_driver_sql(f"VACUUM {decision_content.name}, {appeal_statements.name}")
        finally:
            conn.exec_driver_sql("RESET statement_timeout")
    return True


def _pragma_row(cursor: DBAPICursor, pragma: str) -> Sequence[int]:
    """The one row of integers ``pragma``, a PRAGMA that reports numbers, returns."""
    cursor.execute(pragma)
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"{pragma} returned no row")
    return row


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Create or upgrade the schema to the newest migration."""
    command.upgrade(alembic_config(url), "head")


def init_database(url: str) -> None:
    """Migrate to head and make sure the empty log has its head row."""
    from audit_log.store import init_head

    migrate(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            init_head(conn)
    finally:
        engine.dispose()


# --- appeals and redemption (migration 0002) ----------------------------------------

# Private: the SHA-256 of each decision's appeal token, written in the decision's own
# append transaction, and the appeal deadline the author was promised then.
appeal_tokens = _Table(
    "appeal_tokens",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("token_hash", LargeBinary(32), nullable=False),
    Column("app", String(64), nullable=False),
    Column("deadline", String(32), nullable=False),
)

# One row per filed appeal, beside its public ``appeal_filed`` entry. Append-only: the
# status is whether an ``appeal_resolutions`` row exists.
appeals = _Table(
    "appeals",
    metadata,
    Column("appeal_id", String(64), primary_key=True),
    Column("decision_id", String(64), nullable=False),
    Column("app", String(64), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("filed_at", String(32), nullable=False),
    Column("decide_by", String(32), nullable=False),
    Column("filed_by", String(16), nullable=False),
    Column("filed_by_key", String(32)),
    Column("log_index", BigInteger, nullable=False),
    Index(None, "decision_id"),
    Index(None, "app", "decide_by"),
)

# Private and erasable: what the author wrote. Never in the log.
appeal_statements = _Table(
    "appeal_statements",
    metadata,
    Column("appeal_id", String(64), primary_key=True),
    Column("statement", Text),
    Column("erased_at", String(32)),
)

# The outcome of each appeal; the primary key makes a second resolution impossible.
appeal_resolutions = _Table(
    "appeal_resolutions",
    metadata,
    Column("appeal_id", String(64), primary_key=True),
    Column("resolution_id", String(64), nullable=False, unique=True),
    Column("outcome", String(16), nullable=False),
    Column("reviewer_key", String(32), nullable=False),
    Column("resolved_at", String(32), nullable=False),
    Column("reversal_id", String(64)),
    Column("log_index", BigInteger, nullable=False),
)

# Webhook endpoints per app. The secret is kept in the clear: signing needs it.
webhooks = _Table(
    "webhooks",
    metadata,
    Column("webhook_id", String(64), primary_key=True),
    Column("app", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
    Index(None, "app"),
)

# A client's Idempotency-Key and the decisions its request made, written in the same
# append transaction as those decisions; looked up for 24 hours, then purged.
idempotency_keys = _Table(
    "idempotency_keys",
    metadata,
    Column("app", String(64), nullable=False),
    Column("idem_key", String(255), nullable=False),
    Column("request_hash", LargeBinary(32), nullable=False),
    Column("decision_ids", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    PrimaryKeyConstraint("app", "idem_key"),
    Index(None, "created_at"),
)

# The outbox: one row per (event, webhook), written in the event's own transaction.
# The row is the truth; delivery only moves its state forward.
webhook_deliveries = _Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("webhook_id", String(64), nullable=False),
    Column("app", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_error", String(512)),
    Column("next_attempt_at", String(32)),
    Column("created_at", String(32), nullable=False),
    Column("delivered_at", String(32)),
    Index(None, "status", "next_attempt_at"),
    Index(None, "app", "created_at"),
)


# --- rate limits (migration 0003) -------------------------------------------------------

# Fixed-window request counters, one row per (limit, client, window), shared by every
# server of a deployment that keeps its limits in the database.
rate_limit_counters = _Table(
    "rate_limit_counters",
    metadata,
    Column("limit_key", String(512), primary_key=True),
    Column("hits", Integer, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Index(None, "expires_at_ms"),
)
