"""A real gunicorn serving an instance that `fairwitness init` made with the same variables."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from audit_log.checkpoint import Verifier
from audit_log.verify import verify_document
from tests.e2e.servers import Gunicorn, new_instance


@pytest.fixture
def served(tmp_path: Path):
    env, key = new_instance(tmp_path / "instance", f"sqlite:///{tmp_path / 'fw.db'}")
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    url = server.start()
    yield url, key
    server.stop()


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
