"""Fixtures: a fresh instance per test, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> str:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fairwitness.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    init_database(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'fairwitness.db'}"
    init_database(url)
    return url


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
