"""Real servers for the end-to-end tests: gunicorn in a process group of its own, and the
``fairwitness`` command run as an operator runs it (a subprocess with environment
variables, nothing imported)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import free_port

BIN = Path(sys.executable).parent


def instance_env(instance_dir: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of one host: this process's, with the instance's ``FAIRWITNESS_*``
    variables, and none that a developer's shell may have set for another instance."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FAIRWITNESS_") or k == "FAIRWITNESS_TEST_POSTGRES_URL"
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["FAIRWITNESS_INSTANCE_DIR"] = str(instance_dir)
    env["FAIRWITNESS_DATABASE_URL"] = database_url
    for name, value in settings.items():
        env[f"FAIRWITNESS_{name.upper()}"] = value
    return env


def fairwitness(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``fairwitness ARGS`` and return its stdout; fail the test on a non-zero exit."""
    done = subprocess.run(
        [str(BIN / "fairwitness"), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"fairwitness {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def new_instance(
    instance_dir: Path, database_url: str, app: str = "forum", **settings: str
) -> tuple[dict[str, str], str]:
    """``fairwitness init`` a host on ``database_url`` as an operator does; its
    environment and a new client key for ``app``."""
    env = instance_env(instance_dir, database_url, **settings)
    fairwitness(env, "init")
    return env, fairwitness(env, "keys", "create", "--app", app, "--role", "client")


class Gunicorn:
    """``gunicorn 'service.http.app:create_app()'`` with two sync workers, in its own session so
    the master and its workers can be signalled together.

    ``url`` is empty while the server is not serving, so client threads can tell.
    The server's output goes to ``log_path`` (a file, not a pipe nobody drains).
    """

    def __init__(self, env: dict[str, str], log_path: Path | None = None, workers: int = 2) -> None:
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 180.0) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # Links in answers (a decision's appeal.url) point where this server listens,
        # unless the test names another public address.
        env = {"FAIRWITNESS_PUBLIC_URL": url, **self.env}
        log_file = self.log_path.open("ab") if self.log_path else None
        try:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(self.workers),
                    "service.http.app:create_app()",
                ],
                env=env,
                stdout=log_file if log_file is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log_file is not None:
                log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if requests.get(url + "/readyz", timeout=1).status_code == 200:
                    self.url = url
                    return url
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"gunicorn did not become ready:\n{self.output()}")

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: nothing gets to clean up."""
        assert self.proc is not None
        self.url = ""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.url = ""
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
