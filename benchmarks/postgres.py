"""The scaled-out deployment under load: one PostgreSQL database, two gunicorn servers.

The database is created for the run and dropped afterwards, on the server named by
``BENCH_POSTGRES_URL`` (default: the local server the tests use).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from servers import Served, another_host, fresh_instance, gunicorn
from sqlalchemy import make_url

ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _dsn(database: str) -> str:
    url = make_url(ADMIN_URL).set(database=database)
    return url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://"
    )


def postgres_problem() -> str | None:
    """None when the benchmark's PostgreSQL server answers, else why not."""
    try:
        with psycopg.connect(_dsn(make_url(ADMIN_URL).database or "postgres"), connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[0]


@contextmanager
def bench_database() -> Iterator[str]:
    """A new, empty database for this run (its SQLAlchemy URL), dropped afterwards."""
    admin = _dsn(make_url(ADMIN_URL).database or "postgres")
    name = f"fairwitness_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Deployment:
    servers: list[Served]
    key: str

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]


@contextmanager
def two_servers(database_url: str, work: Path) -> Iterator[Deployment]:
    """Two hosts' gunicorns (2 workers of 8 threads each, as ``fairwitness serve`` runs
    them) on one database, ready to serve."""
    env_a, key = fresh_instance(work / "host-a", database_url)
    env_b = another_host(env_a, work / "host-b")
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                gunicorn(
                    "service.http.app:create_app()",
                    env,
                    "/healthz",
                    extra_args=("--worker-class", "gthread", "--threads", "8"),
                )
            )
            for env in (env_a, env_b)
        ]
        yield Deployment(servers, key)
