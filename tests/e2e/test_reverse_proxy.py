"""The documented deployment (deploy/nginx.conf in front of gunicorn) keeps answering
while slow clients trickle their headers and bodies a byte at a time; gunicorn alone
does not."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import pytest
import requests

from tests.conftest import IN_CI
from tests.e2e.conftest import free_port
from tests.e2e.servers import Gunicorn, new_instance

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WORKERS = 2
# Generous: the machine is shared; unstalled, the answer takes milliseconds.
PROMPT_SECONDS = 10

if not Path(NGINX).exists():
    if IN_CI:
        raise RuntimeError(f"nginx is not installed at {NGINX}; .ci/run installs it")
    pytest.skip("nginx is not installed", allow_module_level=True)


def render(run_dir: Path, listen: str, upstream: str) -> Path:
    """The repository's template with this run's values, as the docs render it."""
    conf = run_dir / "nginx.conf"
    conf.write_text(
        Template(TEMPLATE.read_text()).safe_substitute(
            FW_LISTEN=listen,
            FW_UPSTREAM=upstream,
            FW_RUN_DIR=str(run_dir),
            FW_USER=getpass.getuser(),
        )
    )
    return conf


@contextlib.contextmanager
def nginx(upstream: str, run_dir: Path) -> Iterator[str]:
    run_dir.mkdir()
    port = free_port()
    conf = render(run_dir, f"127.0.0.1:{port}", upstream)
    check = subprocess.run(
        [NGINX, "-t", "-p", str(run_dir), "-e", str(run_dir / "error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(run_dir),
            "-e",
            str(run_dir / "error.log"),
            "-c",
            str(conf),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (run_dir / "error.log").read_text()
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "nginx did not start proxying"
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class Slowloris:
    """Connections that send a request's start and then one more byte every
    ``interval`` seconds, never finishing: half trickle headers, half a JSON body."""

    def __init__(self, url: str, count: int, interval: float = 0.2) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.interval = interval
        self.sockets = []
        for i in range(count):
            sock = socket.create_connection((host, int(port)), timeout=5)
            if i % 2:
                sock.sendall(
                    b"POST /v1/moderations HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
                )
            else:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            self.sockets.append(sock)
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(self.interval):
            for sock in self.sockets:
                try:
                    sock.sendall(b"a")
                except OSError as exc:
                    self.errors.append(type(exc).__name__)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    env, _ = new_instance(tmp_path / "instance", f"sqlite:///{tmp_path / 'fairwitness.db'}")
    env["FAIRWITNESS_TRUSTED_PROXY_HOPS"] = "1"
    server = Gunicorn(env, log_path=tmp_path / "gunicorn.log", workers=WORKERS)
    server.start(timeout=180)
    try:
        yield server.url
    finally:
        server.stop()


def test_slow_clients_do_not_stall_health_checks_through_the_proxy(served, tmp_path):
    with nginx(served.removeprefix("http://"), tmp_path / "nginx") as proxied:
        slow = Slowloris(proxied, 2 * WORKERS)
        try:
            # Several answers in a row, each while every slow connection is open and
            # trickling: nginx holds them, gunicorn's workers never see them.
            for _ in range(3):
                resp = requests.get(f"{proxied}/healthz", timeout=PROMPT_SECONDS)
                assert resp.status_code == 200
                time.sleep(1)
            assert slow.errors == []
            # Requests that are complete still reach the app and its database.
            assert requests.get(f"{proxied}/readyz", timeout=PROMPT_SECONDS).status_code == 200
        finally:
            slow.close()

        # The proxy's own refusal of an oversized body is the app's problem document.
        too_big = requests.post(
            f"{proxied}/v1/moderations",
            data=b"x" * (256 * 1024 + 1),
            headers={"Content-Type": "application/json"},
            timeout=PROMPT_SECONDS,
        )
        assert too_big.status_code == 413
        assert too_big.headers["Content-Type"] == "application/problem+json"
        assert too_big.json()["type"].endswith("/request-too-large")

    # Without the proxy the same connections take both sync workers, and a health check
    # gets no answer while they trickle.
    slow = Slowloris(served, 2 * WORKERS)
    try:
        with pytest.raises(requests.Timeout):
            requests.get(f"{served}/healthz", timeout=3)
    finally:
        slow.close()
