"""Idempotency-Key on POST /v1/moderations: a retry appends nothing and gets the same
decisions back (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading

import pytest

from audit_log.merkle import check_record
from audit_log.store import head
from service.http.state import runtime_of
from tests.conftest import log_size, make_key

THREAT = "I will hurt you"


def post(client, auth, body, key=None, raw=None):
    headers = dict(auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    if raw is not None:
        return client.post(
            "/v1/moderations", data=raw, headers=headers, content_type="application/json"
        )
    return client.post("/v1/moderations", json=body, headers=headers)


def test_a_retry_appends_nothing_and_answers_the_same_decision(client, auth, app):
    body = {"text": THREAT, "subject": "ada", "content_ref": "post-1"}
    first = post(client, auth, body, key="req-0001")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    size = log_size(app)
    # Same JSON value, written differently: still the same request.
    again = post(
        client,
        auth,
        None,
        key="req-0001",
        raw=json.dumps({"content_ref": "post-1", "subject": "ada", "text": THREAT}, indent=2),
    )
    assert again.status_code == 201, again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert log_size(app) == size
    original, replayed = first.get_json(), again.get_json()
    assert replayed["decision"] == original["decision"]
    assert replayed["receipt"]["index"] == original["receipt"]["index"]
    assert replayed["receipt"]["leaf_hash"] == original["receipt"]["leaf_hash"]
    assert replayed["receipt"]["content_salt"] == original["receipt"]["content_salt"]
    # Only the token's hash is kept, so a replay cannot hand it out again.
    assert original["appeal"]["token"] and replayed["appeal"] is None
    receipt = replayed["receipt"]
    with runtime_of(app).engine.connect() as conn:
        size, root = head(conn)
    assert receipt["tree_size"] == size
    check_record(
        [bytes.fromhex(h) for h in receipt["inclusion_proof"]],
        size,
        root,
        receipt["index"],
        bytes.fromhex(receipt["leaf_hash"]),
    )


def test_a_batch_retry_answers_every_result_in_order(client, auth, app):
    body = {
        "items": [
            {"text": t, "subject": f"u{i}"}
            for i, t in enumerate([THREAT, "lovely weather", "you are an idiot"])
        ]
    }
    first = post(client, auth, body, key="batch-7").get_json()
    size = log_size(app)
    again = post(client, auth, body, key="batch-7")
    assert again.status_code == 201 and log_size(app) == size
    assert [r["decision"] for r in again.get_json()["results"]] == [
        r["decision"] for r in first["results"]
    ]


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(client, auth, app):
    assert post(client, auth, {"text": THREAT, "subject": "ada"}, key="k1").status_code == 201
    size = log_size(app)
    resp = post(client, auth, {"text": THREAT, "subject": "bob"}, key="k1")
    assert resp.status_code == 422
    assert resp.content_type == "application/problem+json"
    assert resp.get_json()["errors"][0]["pointer"] == "#/headers/Idempotency-Key"
    assert log_size(app) == size


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_malformed_keys_are_422_and_change_nothing(client, auth, app, key):
    size = log_size(app)
    resp = post(client, auth, {"text": THREAT, "subject": "ada"}, key=key)
    assert resp.status_code == 422
    assert resp.get_json()["errors"][0]["pointer"] == "#/headers/Idempotency-Key"
    assert log_size(app) == size


def test_keys_belong_to_one_app(client, auth, app, database_url):
    other = {"Authorization": f"Bearer {make_key(database_url, 'other-app', 'client')}"}
    body = {"text": THREAT, "subject": "ada"}
    mine = post(client, auth, body, key="shared").get_json()
    theirs = post(client, other, body, key="shared")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["decision"]["id"] != mine["decision"]["id"]


def test_a_key_is_remembered_for_a_day(client, auth, app, clock):
    body = {"text": THREAT, "subject": "ada"}
    first = post(client, auth, body, key="daily").get_json()
    clock.advance(hours=23)
    assert post(client, auth, body, key="daily").headers.get("Idempotent-Replayed") == "true"
    clock.advance(hours=2)
    later = post(client, auth, body, key="daily")
    assert "Idempotent-Replayed" not in later.headers
    assert later.get_json()["decision"]["id"] != first["decision"]["id"]


def test_concurrent_retries_append_once(app, auth):
    size = log_size(app)
    answers = []

    def send() -> None:
        resp = post(app.test_client(), auth, {"text": THREAT, "subject": "ada"}, key="race")
        answers.append((resp.status_code, resp.get_json()["decision"]["id"]))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [status for status, _ in answers] == [201] * 6
    assert len({decision for _, decision in answers}) == 1
    assert log_size(app) == size + 1
