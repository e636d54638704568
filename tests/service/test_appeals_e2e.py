"""The whole appeal story through HTTP, on SQLite and PostgreSQL.

A post is removed with a strike; the author appeals with the token from the notice; a
reviewer who did not make the decision overturns it; the strike disappears from the
subject's standing; the app's webhook receives the signed event; the transparency
report counts it; and the log still verifies, entry by entry and against the signed
checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from audit_log.checkpoint import Verifier, verify_note
from service.delivery.webhooks import SIGNATURE_HEADER, verify_signature
from service.http.state import webhook_dispatcher
from tests.conftest import make_key
from tests.service.test_storage import assert_log_consistent
from tests.service.test_webhooks import Receiver

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))


def test_remove_appeal_overturn_redeem(client, auth, app, database_url, clock):
    receiver = Receiver()
    try:
        _story(client, auth, app, database_url, clock, receiver)
    finally:
        receiver.close()


def _story(client, auth, app, database_url, clock, receiver):
    reviewer = {"Authorization": f"Bearer {make_key(database_url, 'forum-example', 'reviewer')}"}
    hook = client.post("/v1/webhooks", json={"url": receiver.url}, headers=auth).get_json()

    # 1. The post is removed and a strike issued; the author gets a secret appeal offer.
    result = client.post(
        "/v1/moderations",
        headers=auth,
        json={
            "text": "I will find you and hurt you",
            "subject": "ada",
            "content_ref": "post-1",
        },
    ).get_json()
    decision, offer = result["decision"], result["appeal"]
    assert decision["action"] == "remove" and decision["strike"]["weight"] == 2
    subject = decision["subject"]
    standing = client.get(f"/v1/subjects/{subject}").get_json()
    assert [s["decision_id"] for s in standing["active_strikes"]] == [decision["id"]]

    # 2. A day later the author appeals with the token (no key).
    clock.advance(days=1)
    resp = client.post(
        "/v1/appeals",
        json={
            "decision_id": decision["id"],
            "token": offer["token"],
            "statement": "It is a line from the film I was reviewing.",
        },
    )
    assert resp.status_code == 201, resp.get_json()
    appeal = resp.get_json()

    # 3. Two days later a reviewer sees it in the queue and overturns it.
    clock.advance(days=2)
    queue = client.get("/v1/appeals?status=open", headers=reviewer).get_json()["appeals"]
    assert [a["id"] for a in queue] == [appeal["id"]]
    assert queue[0]["statement"] == "It is a line from the film I was reviewing."
    resp = client.post(
        f"/v1/appeals/{appeal['id']}/resolution",
        headers=reviewer,
        json={
            "outcome": "overturned",
            "rationale": "A quotation in a film review threatens no one.",
        },
    )
    assert resp.status_code == 201, resp.get_json()
    resolution = resp.get_json()

    # 4. The strike is gone from the subject's standing; the original entry is unchanged.
    standing = client.get(f"/v1/subjects/{subject}").get_json()
    assert standing["active_strikes"] == [] and standing["active_restrictions"] == []
    kinds = [e["entry"]["kind"] for e in standing["entries"]]
    assert kinds == ["reversal", "appeal_resolved", "appeal_filed", "decision"]
    assert client.get(f"/v1/decisions/{decision['id']}").get_json()["entry"] == decision
    public = client.get(f"/v1/appeals/{appeal['id']}").get_json()
    assert public["outcome"] == "overturned" and public["action"] == "allow"
    assert "statement" not in public

    # 5. The webhook arrived, signed with the secret the app was given.
    webhook_dispatcher(app).join()
    assert len(receiver.received) == 1
    headers, body, _ = receiver.received[0]
    assert verify_signature(
        hook["secret"], headers[SIGNATURE_HEADER], body, now=int(clock.now.timestamp())
    )
    event = json.loads(body)
    assert event["type"] == "appeal.resolved"
    assert event["data"]["decision_id"] == decision["id"]
    assert event["data"]["outcome"] == "overturned" and event["data"]["action"] == "allow"
    assert event["data"]["log_index"] == resolution["receipt"]["index"]
    deliveries = client.get("/v1/webhooks/deliveries", headers=auth).get_json()["deliveries"]
    assert [d["status"] for d in deliveries] == ["delivered"]

    # 6. The transparency report counts it.
    report = client.get("/v1/transparency").get_json()
    assert report["appeals"]["filed"] == 1 and report["appeals"]["overturned"] == 1
    assert report["appeals"]["overturn_rate_by_rule"]["threat"]["overturn_rate"] == 1.0
    assert report["appeals"]["time_to_resolution_seconds"]["median"] == 2 * 86400
    assert report["decisions"]["by_action"] == {"remove": 1}
    assert report["reversals"] == 1 and report["appeals"]["overdue"] == 0

    # 7. The log still verifies: every leaf and the root, and the signed checkpoint.
    assert_log_consistent(database_url, expected_decisions=1)
    note = client.get("/v1/log/checkpoint").get_data(as_text=True)
    keys = client.get("/v1/log/key").get_data(as_text=True).splitlines()
    checkpoint = verify_note(note, [Verifier.from_key(k) for k in keys])
    size = client.get("/v1/log/entries?limit=1").get_json()["tree_size"]
    assert checkpoint.size == size == resolution["receipt"]["tree_size"]
    proof = client.get(
        f"/v1/log/proof/inclusion?index={resolution['receipt']['index']}&size={size}"
    ).get_json()
    assert bytes.fromhex(proof["root"]) == checkpoint.root

    # 8. And a monitor that knows only the public API agrees: `fairwitness log audit`.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
        audit = subprocess.run(
            [FAIRWITNESS, "log", "audit", "--url", f"http://127.0.0.1:{server.server_port}"],
            env=clean,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith("ok")
