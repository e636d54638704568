"""Servers for the benchmarks: a free port, gunicorn up and ready, its workers' memory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Return once ``url`` answers; raise if ``proc`` exits first or time runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited during start-up")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@dataclass(frozen=True)
class Served:
    url: str
    proc: subprocess.Popen

    def worker_pids(self) -> list[int]:
        """The gunicorn master's children, found through /proc (Linux)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(entry.name))
        return sorted(pids)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (VmRSS), or 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def gunicorn(
    app: str,
    env: dict[str, str],
    health: str,
    cwd: Path = ROOT,
    workers: int = 2,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Served]:
    """``gunicorn APP`` with ``workers`` sync workers on a free port, ready to serve.

    The service writes a JSON line per request: it is measured, but not printed.
    """
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            *extra_args,
            app,
        ],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + health, proc)
        yield Served(url, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fairwitness(env: dict[str, str], *args: str) -> str:
    """Run the ``fairwitness`` command as an operator does; its stdout."""
    return subprocess.run(
        [str(BIN / "fairwitness"), *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def fresh_instance(instance_dir: Path, database_url: str) -> tuple[dict[str, str], str]:
    """``fairwitness init`` an instance on ``database_url``; its environment and a new
    client key."""
    env = {"FAIRWITNESS_INSTANCE_DIR": str(instance_dir), "FAIRWITNESS_DATABASE_URL": database_url}
    fairwitness(env, "init")
    return env, fairwitness(env, "keys", "create", "--app", "bench", "--role", "client")


def another_host(env: dict[str, str], instance_dir: Path) -> dict[str, str]:
    """A second host of the same instance: the signing key and secret copied, as
    docs/operations.md says, and ``fairwitness init`` run there (which creates nothing)."""
    source = Path(env["FAIRWITNESS_INSTANCE_DIR"])
    instance_dir.mkdir(parents=True)
    for name in ("signing-key.pem", "pseudonym-secret"):
        shutil.copy2(source / name, instance_dir / name)
    other = {**env, "FAIRWITNESS_INSTANCE_DIR": str(instance_dir)}
    fairwitness(other, "init")
    return other
