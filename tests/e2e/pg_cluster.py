"""A PostgreSQL cluster of the tests' own, which a test may stop and start.

The shared server on 127.0.0.1:5432 serves every other test (and other people's test
runs on the same machine), so an outage test must never stop it. Instead it uses
Debian's cluster tools to create ``fairwitness_outage`` once, on a free port with trust
authentication and manual start-up, and reuses it on later runs. A lock file keeps two
test runs on one machine from stopping it under each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.e2e.conftest import free_port

NAME = "fairwitness_outage"
CONF_ROOT = Path("/etc/postgresql")
LOCK_FILE = Path("/tmp") / f"{NAME}.lock"


class ClusterUnavailable(RuntimeError):
    """This machine cannot give the tests a cluster of their own."""


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class Cluster:
    version: str
    port: int

    def _ctl(self, action: str, *options: str) -> None:
        # The redirect to systemctl would fail in a container without systemd.
        done = _run(
            "pg_ctlcluster", "--skip-systemctl-redirect", *options, self.version, NAME, action
        )
        if done.returncode != 0:
            raise ClusterUnavailable(
                f"pg_ctlcluster {self.version} {NAME} {action}: {done.stderr.strip()}"
            )

    @property
    def running(self) -> bool:
        # Exit 0: running; 3: stopped (pg_ctl's own codes).
        return (
            _run(
                "pg_ctlcluster", "--skip-systemctl-redirect", self.version, NAME, "status"
            ).returncode
            == 0
        )

    def start(self, timeout: float = 30.0) -> None:
        if not self.running:
            self._ctl("start")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session and checkpoints, ``immediate``
        quits without a checkpoint, as a crash would (recovery replays the WAL)."""
        if self.running:
            self._ctl("stop", "--mode", mode)

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh database in this cluster (its SQLAlchemy URL), dropped afterwards."""
        name = f"fw_outage_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            self.start()
            with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _version() -> str:
    versions = (
        sorted((p.name for p in CONF_ROOT.iterdir() if p.name.isdigit()), key=int)
        if CONF_ROOT.is_dir()
        else []
    )
    if not versions:
        raise ClusterUnavailable(f"no PostgreSQL under {CONF_ROOT}")
    return versions[-1]


def _configured_port(version: str) -> int | None:
    conf = CONF_ROOT / version / NAME / "postgresql.conf"
    if not conf.exists():
        return None
    found = re.search(r"^\s*port\s*=\s*(\d+)", conf.read_text(), re.MULTILINE)
    if found is None:
        raise ClusterUnavailable(f"{conf} names no port")
    return int(found[1])


def dedicated_cluster() -> Cluster:
    """The tests' own cluster, created on first use; raises ``ClusterUnavailable``."""
    for tool in ("pg_createcluster", "pg_ctlcluster"):
        if shutil.which(tool) is None:
            raise ClusterUnavailable(f"{tool} is not installed (Debian's postgresql-common)")
    if os.geteuid() != 0:
        raise ClusterUnavailable("creating and stopping a cluster needs root")
    version = _version()
    port = _configured_port(version)
    if port is None:
        port = free_port()
        done = _run(
            "pg_createcluster",
            "--start-conf",
            "manual",
            "--port",
            str(port),
            version,
            NAME,
            "--",
            "--auth=trust",
            timeout=120,
        )
        if done.returncode != 0:
            raise ClusterUnavailable(f"pg_createcluster failed: {done.stderr.strip()}")
    return Cluster(version=version, port=port)


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the cluster alone: another test run waits rather than stop it under us."""
    with LOCK_FILE.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
