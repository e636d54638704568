"""SIGTERM to ``fairwitness serve`` lets the request in flight finish and commit.

A client sends a 1,000-item batch whose body is still arriving when the gunicorn master
is told to stop. The answer must be the complete 201, the server must then exit by
itself, and after a restart every decision of the batch must be in the log with a
receipt that verifies.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from audit_log.checkpoint import Verifier
from audit_log.verify import verify_document
from tests.e2e.conftest import free_port
from tests.e2e.servers import new_instance

BIN = Path(sys.executable).parent
ITEMS = 1000


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        # Through the command an operator runs, with one worker: the request in flight
        # is the one that worker holds.
        self.proc = subprocess.Popen(
            [
                str(BIN / "fairwitness"),
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--graceful-timeout",
                "60",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                pytest.fail("fairwitness serve did not become ready:\n" + log.read_text())
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    yield new_instance(tmp_path / "instance", f"sqlite:///{tmp_path / 'fw.db'}")


@pytest.mark.slow
def test_sigterm_lets_the_batch_in_flight_finish(instance, tmp_path: Path):
    env, key = instance
    server = Server(env, tmp_path / "server.log")
    try:
        body = json.dumps(
            {
                "items": [
                    {
                        "text": f"I will hurt you, number {i}" if i % 3 else f"Lovely day {i}",
                        "subject": f"user-{i % 40}",
                        "content_ref": f"post-{i}",
                    }
                    for i in range(ITEMS)
                ]
            }
        ).encode()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        conn.putrequest("POST", "/v1/moderations")
        conn.putheader("Authorization", f"Bearer {key}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        half = len(body) // 2
        conn.send(body[:half])
        time.sleep(1.0)  # the worker has taken the connection and waits for the rest
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        # Stopping means no new request is served...
        with pytest.raises(requests.RequestException):
            requests.get(server.url + "/healthz", timeout=2)
        # ...but the request in flight is still read, judged, committed and answered.
        conn.send(body[half:])
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        conn.close()
        assert resp.status == 201, answer
        results = answer["results"]
        assert len(results) == ITEMS
        assert server.proc.wait(timeout=60) == 0
    finally:
        server.stop()

    restarted = Server(env, tmp_path / "server.log")
    try:
        keys = [
            Verifier.from_key(line)
            for line in requests.get(restarted.url + "/v1/log/key", timeout=10).text.splitlines()
        ]
        lines = requests.get(
            restarted.url + "/v1/log/entries?kind=decision",
            timeout=60,
            headers={"Accept": "application/x-ndjson"},
        ).text.splitlines()
        logged = {json.loads(line)["entry"]["id"] for line in lines}
        assert {r["decision"]["id"] for r in results} <= logged
        for result in (results[0], results[-1]):
            verify_document(result, keys)
            public = requests.get(
                restarted.url + f"/v1/decisions/{result['decision']['id']}", timeout=10
            ).json()
            assert public["entry"] == result["decision"]
            verify_document(public, keys)
    finally:
        restarted.proc.send_signal(signal.SIGTERM)
        restarted.proc.wait(timeout=60)
        restarted.stop()
