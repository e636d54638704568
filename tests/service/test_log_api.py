"""The public log API: anyone can read, page, export and check the log without a key."""

from __future__ import annotations

import csv
import io
import json

import pytest

from audit_log import merkle
from audit_log.checkpoint import Verifier, verify_note
from audit_log.verify import verify_document

THREAT = "I will hurt you"


def post(client, auth, text, subject="u1", **extra):
    resp = client.post(
        "/v1/moderations", json={"text": text, "subject": subject, **extra}, headers=auth
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def verifiers(client):
    resp = client.get("/v1/log/key")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    return [Verifier.from_key(line) for line in resp.get_data(as_text=True).splitlines()]


def test_moderation_receipt_verifies_offline(client, auth):
    doc = post(client, auth, THREAT)
    receipt = doc["receipt"]
    assert receipt["checkpoint"].splitlines()[1] == str(receipt["tree_size"])
    checkpoint = verify_document(doc, verifiers(client))
    assert checkpoint.size == receipt["tree_size"]


def test_batch_receipts_share_one_checkpoint_and_all_verify(client, auth):
    items = [{"text": f"hello {i}", "subject": "b"} for i in range(7)]
    results = client.post("/v1/moderations", json={"items": items}, headers=auth).get_json()[
        "results"
    ]
    assert len({r["receipt"]["checkpoint"] for r in results}) == 1
    keys = verifiers(client)
    for r in results:
        verify_document(r, keys)


def test_decision_view_is_public_and_verifiable(client, auth):
    doc = post(client, auth, THREAT)
    post(client, auth, "later post")  # the tree grows after the decision
    view = client.get(f"/v1/decisions/{doc['decision']['id']}")
    assert view.status_code == 200
    body = view.get_json()
    assert body["entry"] == doc["decision"]
    assert body["receipt"]["tree_size"] > doc["receipt"]["tree_size"]
    verify_document(body, verifiers(client))


def test_unknown_decision_is_404(client):
    resp = client.get("/v1/decisions/dec_00000000000000000000000000")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_checkpoint_and_history(client, auth):
    for i in range(5):
        post(client, auth, f"post {i}")
    note = client.get("/v1/log/checkpoint")
    assert note.mimetype == "text/plain"
    latest = verify_note(note.get_data(as_text=True), verifiers(client))
    history = client.get("/v1/log/checkpoints?after=0").get_json()["checkpoints"]
    sizes = [c["size"] for c in history]
    assert sizes == sorted(sizes) and sizes[-1] == latest.size
    for c in history:
        assert verify_note(c["note"], verifiers(client)).size == c["size"]
    later = client.get(f"/v1/log/checkpoints?after={sizes[-2]}").get_json()["checkpoints"]
    assert [c["size"] for c in later] == [sizes[-1]]


def test_inclusion_and_consistency_proofs_verify(client, auth):
    for i in range(9):
        post(client, auth, f"post {i}")
    checkpoint = verify_note(
        client.get("/v1/log/checkpoint").get_data(as_text=True), verifiers(client)
    )
    entries = client.get("/v1/log/entries?limit=1000").get_json()["entries"]
    for e in entries:
        proof = client.get(f"/v1/log/proof/inclusion?index={e['index']}").get_json()
        assert proof["size"] == checkpoint.size
        merkle.check_record(
            [bytes.fromhex(h) for h in proof["proof"]],
            checkpoint.size,
            checkpoint.root,
            e["index"],
            bytes.fromhex(e["leaf_hash"]),
        )
    history = client.get("/v1/log/checkpoints").get_json()["checkpoints"]
    for old in history:
        c_old = verify_note(old["note"], verifiers(client))
        resp = client.get(f"/v1/log/proof/consistency?from={c_old.size}&to={checkpoint.size}")
        proof = [bytes.fromhex(h) for h in resp.get_json()["proof"]]
        merkle.check_tree(proof, checkpoint.size, checkpoint.root, c_old.size, c_old.root)


@pytest.mark.parametrize(
    ("url", "status", "pointer"),
    [
        ("/v1/log/proof/inclusion", 400, "#/query/index"),
        ("/v1/log/proof/inclusion?index=x", 400, "#/query/index"),
        ("/v1/log/proof/inclusion?index=-1", 400, "#/query/index"),
        ("/v1/log/proof/inclusion?index=5&size=3", 422, "#/query/index"),
        ("/v1/log/proof/inclusion?index=0&size=99999", 422, "#/query/size"),
        ("/v1/log/proof/consistency?from=3&to=2", 422, "#/query/from"),
        ("/v1/log/proof/consistency?from=1&to=99999", 422, "#/query/to"),
        ("/v1/log/proof/consistency?to=2", 400, "#/query/from"),
        ("/v1/log/proof/consistency?from=0&to=2", 400, "#/query/from"),
        ("/v1/log/entries?limit=0", 400, "#/query/limit"),
        ("/v1/log/entries?limit=5000", 400, "#/query/limit"),
        ("/v1/log/entries?cursor=garbage", 400, "#/query/cursor"),
        ("/v1/log/entries?since=yesterday", 400, "#/query/since"),
        ("/v1/log/entries?order=sideways", 400, "#/query/order"),
    ],
)
def test_bad_log_queries_are_problems(client, auth, url, status, pointer):
    for i in range(4):
        post(client, auth, f"post {i}")
    resp = client.get(url)
    assert resp.status_code == status, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert pointer in [e["pointer"] for e in resp.get_json()["errors"]]


def test_pages_are_stable_while_the_log_grows(client, auth):
    for i in range(10):
        post(client, auth, f"first wave {i}")
    seen = []
    url = "/v1/log/entries?limit=3"
    while url:
        page = client.get(url).get_json()
        seen += [e["index"] for e in page["entries"]]
        post(client, auth, "arrives while paging")
        cursor = page["next_cursor"]
        url = f"/v1/log/entries?limit=3&cursor={cursor}" if cursor else None
    assert seen == sorted(set(seen))
    assert seen[0] == 0 and seen == list(range(len(seen)))
    newest_first = client.get("/v1/log/entries?order=desc&limit=2").get_json()
    second = client.get(f"/v1/log/entries?limit=2&cursor={newest_first['next_cursor']}").get_json()
    indexes = [e["index"] for e in newest_first["entries"] + second["entries"]]
    assert indexes == sorted(indexes, reverse=True) and len(set(indexes)) == 4


def test_filters(client, auth, database_url):
    from tests.conftest import make_key

    threat = post(client, auth, THREAT, subject="alice")
    post(client, auth, "lovely weather", subject="bob")
    other = make_key(database_url, "other-app", "client")
    post(client, {"Authorization": f"Bearer {other}"}, "lovely weather", subject="carol")

    def ids(query):
        resp = client.get(f"/v1/log/entries?{query}")
        assert resp.status_code == 200, resp.get_json()
        return [e["entry"]["id"] for e in resp.get_json()["entries"]]

    assert ids("action=remove") == [threat["decision"]["id"]]
    assert ids("rule=threat") == [threat["decision"]["id"]]
    assert ids(f"subject={threat['decision']['subject']}") == [threat["decision"]["id"]]
    assert len(ids("kind=decision")) == 3
    assert len(ids("kind=policy_published")) >= 1
    assert len(ids("app=other-app")) == 1
    assert len(ids("policy=civility&kind=decision")) == 3
    assert ids("since=2999-01-01T00:00:00Z") == []
    assert len(ids("until=2999-01-01T00:00:00Z&kind=decision")) == 3


def test_exports_stream_every_filtered_entry(client, auth):
    for i in range(25):
        post(client, auth, THREAT if i % 5 == 0 else f"fine {i}", subject=f"s{i}")
    nd = client.get("/v1/log/entries?kind=decision", headers={"Accept": "application/x-ndjson"})
    assert nd.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in nd.get_data(as_text=True).splitlines()]
    assert len(lines) == 25
    assert all(set(line) == {"index", "leaf_hash", "entry"} for line in lines)
    out = client.get("/v1/log/entries?action=remove", headers={"Accept": "text/csv"})
    assert out.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(out.get_data(as_text=True))))
    assert len(rows) == 5 and {r["action"] for r in rows} == {"remove"}
    assert all(json.loads(r["entry"])["id"] == r["id"] for r in rows)


def test_an_export_resumes_after_the_last_index_it_received(client, auth):
    for i in range(12):
        post(client, auth, f"fine {i}", subject=f"s{i}")
    ndjson = {"Accept": "application/x-ndjson"}

    def indexes(query: str) -> list[int]:
        resp = client.get(f"/v1/log/entries?{query}", headers=ndjson)
        assert resp.status_code == 200, resp.get_json()
        return [json.loads(line)["index"] for line in resp.get_data(as_text=True).splitlines()]

    everything = indexes("kind=decision")
    broke_off_at = everything[4]
    assert indexes(f"kind=decision&after={broke_off_at}") == everything[5:]
    assert indexes(f"kind=decision&order=desc&after={broke_off_at}") == everything[:4][::-1]
    assert indexes("kind=decision&after=-1") == everything
    # JSON pages take it too.
    page = client.get(f"/v1/log/entries?kind=decision&after={broke_off_at}&limit=3").get_json()
    assert [e["index"] for e in page["entries"]] == everything[5:8]


@pytest.mark.parametrize(
    "query", ["after=x", "after=-2", "after=9223372036854775808", "after=1&cursor=abc"]
)
def test_a_bad_resume_point_is_400_naming_it(client, query):
    resp = client.get(f"/v1/log/entries?{query}")
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["pointer"] == "#/query/after"


def test_subject_status_from_the_log(client, auth):
    doc = post(client, auth, THREAT, subject="dana")
    subject = doc["decision"]["subject"]
    status = client.get(f"/v1/subjects/{subject}").get_json()
    assert status["subject"] == subject
    assert [s["decision_id"] for s in status["active_strikes"]] == [doc["decision"]["id"]]
    assert status["active_strikes"][0]["expires_at"] == doc["decision"]["strike"]["expires_at"]
    assert [e["entry"]["id"] for e in status["entries"]] == [doc["decision"]["id"]]
    assert status["active_restrictions"] == []
    unknown = client.get("/v1/subjects/sub_" + "0" * 32).get_json()
    assert unknown["entries"] == [] and unknown["active_strikes"] == []
    assert client.get("/v1/subjects/dana").status_code == 404


def test_log_time_never_goes_back_and_windows_are_exact(client, auth, clock):
    first = post(client, auth, "one")["decision"]
    clock.advance(days=-1)  # the host's clock jumps back
    second = post(client, auth, "two")["decision"]
    assert second["time"] == first["time"]
    clock.advance(days=3)
    third = post(client, auth, "three")["decision"]

    def ids(query):
        resp = client.get(f"/v1/log/entries?kind=decision&{query}")
        assert resp.status_code == 200, resp.get_json()
        return [e["entry"]["id"] for e in resp.get_json()["entries"]]

    assert ids(f"since={third['time']}") == [third["id"]]
    assert ids(f"until={third['time']}") == [first["id"], second["id"]]
    assert ids(f"since={first['time']}&until={third['time']}") == [first["id"], second["id"]]
    assert ids("since=2999-01-01T00:00:00Z") == []
    assert ids("until=2000-01-01T00:00:00Z") == []
    assert len(ids("until=2999-01-01T00:00:00Z")) == 3
