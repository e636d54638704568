"""Fixtures: a fresh instance per test, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from service.clock import system_clock
from service.http.state import runtime_of
from service.storage.db import init_database, make_engine
from service.storage.instance import init_instance
from service.storage.keys import create_key

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LIBRARY = PROJECT_ROOT / "policies" / "library"
POSTGRES_URL = os.environ.get(
    "FAIRWITNESS_TEST_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/fairwitness_test",
)
IN_CI = os.environ.get("CI", "").lower() == "true"

_pg_status: dict[str, str | None] = {}


def _create_test_database() -> None:
    url = make_url(POSTGRES_URL)
    admin = create_engine(
        url.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def _postgres_problem() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per run)."""
    if "problem" not in _pg_status:
        try:
            _create_test_database()
            engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_status["problem"] = None
        except OperationalError as exc:
            _pg_status["problem"] = str(exc).splitlines()[0]
    return _pg_status["problem"]


def require_postgres() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL tests cannot run in CI: {problem}", pytrace=False)
    pytest.skip(f"PostgreSQL not reachable: {problem}")


# Migrating takes about a second on SQLite (one fsync per DDL statement) and a third of
# a second on PostgreSQL, for each of several hundred tests. Each run migrates once and
# gives every test a copy: on SQLite a copy of the migrated file; on PostgreSQL a fresh
# schema built by replaying, in one transaction, the SQL the migration sent. (Creating
# and dropping a database per test, from a template, measured slower: it copies the
# catalogs, and a drop waits for a checkpoint.) A copy shares nothing with its siblings,
# so no test sees another's rows, sequences or settings. test_migrations.py still runs
# the real upgrade, on ``postgres_url`` and on its own SQLite file.


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head, with the empty log's head row, never opened by tests."""
    path = tmp_path_factory.mktemp("template") / "fairwitness.db"
    init_database(f"sqlite:///{path}")
    # Every connection is closed: the write-ahead log is checkpointed into the file.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    path = tmp_path / "fairwitness.db"
    shutil.copyfile(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@contextmanager
def _fresh_schema() -> Iterator[str]:
    """A URL whose connections live in a new, empty schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections live in a fresh, empty schema, dropped afterwards."""
    with _fresh_schema() as url:
        yield url


@dataclass(frozen=True)
class SentStatement:
    sql: str
    parameters: Sequence[object] | Mapping[str, object] | None


@pytest.fixture(scope="session")
def postgres_migration_sql() -> list[SentStatement]:
    """Every statement ``init_database`` sent while migrating an empty schema to head.

    Replayed in a fresh schema it builds the same tables, functions, triggers, version
    row and log head as the migration itself: the migrations branch only on the
    dialect, never on what they read.
    """
    sent: list[SentStatement] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(SentStatement(statement, parameters))

    with _fresh_schema() as url:
        event.listen(Engine, "before_cursor_execute", record)
        try:
            init_database(url)
        finally:
            event.remove(Engine, "before_cursor_execute", record)
    return sent


@pytest.fixture
def migrated_postgres_url(postgres_migration_sql: list[SentStatement]) -> Iterator[str]:
    """A URL whose connections live in a fresh schema migrated to head, dropped afterwards."""
    with _fresh_schema() as url:
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            cursor = conn.connection.cursor()
            for statement in postgres_migration_sql:
                # As sent: SQLAlchemy escaped ``%`` for the driver only when it passed
                # parameters, so they go back unchanged, even when empty.
                cursor.execute(statement.sql, statement.parameters)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("migrated_postgres_url")


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    init_instance(path)
    return path


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = system_clock().replace(microsecond=0)

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(database_url: str, instance_dir: Path, clock: Clock):
    from service.http.app import create_app

    application = create_app(
        # Test webhook receivers listen on 127.0.0.1; test_webhooks holds the default
        # (public addresses only) to account.
        {
            "database_url": database_url,
            "instance_dir": instance_dir,
            "policy_dir": LIBRARY,
            "webhook_allow_private": True,
        },
        clock=clock,
    )
    yield application
    runtime_of(application).engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def make_key(database_url: str, app_name: str, role: str) -> str:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        _, plaintext = create_key(conn, app_name, role, system_clock())
    engine.dispose()
    return plaintext


@pytest.fixture
def client_key(database_url: str) -> str:
    return make_key(database_url, "forum-example", "client")


@pytest.fixture
def auth(client_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client_key}"}


def log_size(app) -> int:
    from audit_log.store import head

    with runtime_of(app).engine.connect() as conn:
        return head(conn)[0]
