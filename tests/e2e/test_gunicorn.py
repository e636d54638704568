"""A real gunicorn serving an instance that `fairwitness init` made with the same variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from audit_log.checkpoint import Verifier
from audit_log.verify import verify_document
from tests.e2e.conftest import free_port

BIN = Path(sys.executable).parent


@pytest.fixture
def served(tmp_path: Path):
    env = {
        **os.environ,
        "FAIRWITNESS_INSTANCE_DIR": str(tmp_path / "instance"),
        "FAIRWITNESS_DATABASE_URL": f"sqlite:///{tmp_path / 'fw.db'}",
    }
    env.pop("FAIRWITNESS_POLICY_DIR", None)
    subprocess.run([str(BIN / "fairwitness"), "init"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [str(BIN / "fairwitness"), "keys", "create", "--app", "forum", "--role", "client"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    # A file, not a pipe: nobody reads the server's log while it runs, and a full pipe
    # would stall it.
    server_log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "service:create_app()",
        ],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not answer /healthz within 60 s")
    except BaseException:
        proc.kill()
        proc.wait(timeout=30)
        raise
    yield url, key
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    server_log.close()


def test_gunicorn_serves_moderation_with_verifiable_receipts(served):
    url, key = served
    resp = requests.post(
        url + "/v1/moderations",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "text": "I will hurt you",
            "subject": "user-42",
            "content_ref": "post-7",
            "policy": "civility",
        },
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert doc["decision"]["action"] == "remove"
    keys = [
        Verifier.from_key(line)
        for line in requests.get(url + "/v1/log/key", timeout=5).text.splitlines()
    ]
    verify_document(doc, keys)
    public = requests.get(url + f"/v1/decisions/{doc['decision']['id']}", timeout=5).json()
    assert public["entry"] == doc["decision"]
    verify_document(public, keys)
    bad = requests.post(
        url + "/v1/moderations", headers={"Authorization": f"Bearer {key}"}, data=b"{", timeout=5
    )
    assert bad.status_code in (400, 415)
    assert bad.headers["Content-Type"] == "application/problem+json"
