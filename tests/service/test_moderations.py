"""POST /v1/moderations through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785

from service.http.state import runtime_of
from tests.conftest import log_size, make_key

THREAT = "I will hurt you"
KIND = "Have a lovely day, neighbour"


def moderate(client, auth, **body):
    return client.post("/v1/moderations", json=body, headers=auth)


def test_single_item_is_judged_and_appended(client, auth, app):
    before = log_size(app)
    resp = moderate(
        client, auth, text=THREAT, subject="user-1", content_ref="post-9", policy="civility"
    )
    assert resp.status_code == 201, resp.get_json()
    decision = resp.get_json()["decision"]
    receipt = resp.get_json()["receipt"]
    assert decision["id"].startswith("dec_")
    assert decision["action"] == "remove"
    assert decision["automated"] is True
    assert [r["id"] for r in decision["rules"]] == ["threat"]
    assert decision["rules"][0]["notice"] and decision["notice"] == decision["rules"][0]["notice"]
    assert decision["policy"]["id"] == "civility"
    assert decision["policy"]["version"].startswith("sha256:")
    assert decision["classifier"]["version"].startswith("sha256:")
    assert decision["subject"].startswith("sub_")
    assert decision["content"].startswith("sha256:")
    assert all(0.0 <= v <= 1.0 for v in decision["scores"].values())
    assert receipt["tree_size"] == log_size(app) == before + 1
    assert receipt["index"] == before


def test_decision_is_the_hashed_public_body(client, auth):
    body = moderate(client, auth, text=THREAT, subject="user-1").get_json()
    decision, receipt = body["decision"], body["receipt"]
    leaf = hashlib.sha256(b"\x00" + rfc8785.dumps(decision)).hexdigest()
    assert leaf == receipt["leaf_hash"]
    salt = bytes.fromhex(receipt["content_salt"])
    assert decision["content"] == "sha256:" + hashlib.sha256(salt + THREAT.encode()).hexdigest()


def test_public_body_holds_no_raw_text_or_user_id(client, auth, app):
    moderate(client, auth, text="You are a total idiot, mr secret", subject="alice@example.org")
    engine = runtime_of(app).engine
    with engine.connect() as conn:
        bodies = [row[0] for row in conn.exec_driver_sql("SELECT body FROM log_entries")]
    assert bodies
    for stored in bodies:
        assert "idiot" not in stored and "secret" not in stored
        assert "alice" not in stored


def test_pseudonym_is_stable_per_app_and_user(client, auth, database_url):
    first = moderate(client, auth, text=KIND, subject="u-7").get_json()["decision"]["subject"]
    again = moderate(client, auth, text=KIND, subject="u-7").get_json()["decision"]["subject"]
    other = moderate(client, auth, text=KIND, subject="u-8").get_json()["decision"]["subject"]
    other_app_key = make_key(database_url, "another-app", "client")
    other_app = moderate(
        client, {"Authorization": f"Bearer {other_app_key}"}, text=KIND, subject="u-7"
    ).get_json()["decision"]["subject"]
    assert first == again
    assert len({first, other, other_app}) == 3


def test_allow_has_no_rules_and_no_notice(client, auth):
    decision = moderate(client, auth, text=KIND, subject="u").get_json()["decision"]
    assert decision["action"] == "allow"
    assert decision["rules"] == []
    assert decision["notice"] is None
    assert decision["strike"] is None


def test_batch_keeps_order_and_appends_in_one_transaction(client, auth, app):
    before = log_size(app)
    texts = [KIND, THREAT, "nice work on the garden", THREAT]
    items = [{"text": t, "subject": f"u{i}"} for i, t in enumerate(texts)]
    resp = client.post("/v1/moderations", headers=auth, json={"items": items})
    assert resp.status_code == 201, resp.get_json()
    results = resp.get_json()["results"]
    assert [r["decision"]["action"] for r in results] == ["allow", "remove", "allow", "remove"]
    assert [r["receipt"]["index"] for r in results] == list(range(before, before + 4))
    assert {r["receipt"]["tree_size"] for r in results} == {before + 4}


def test_a_batch_of_a_thousand_distinct_authors_is_judged_with_their_strikes(client, auth):
    """The strike query is read in chunks of a fixed number of subjects, so a full batch
    (the schema's 1,000 items, well inside the 256 KiB body limit) costs a few queries of
    one shape: it neither grows past what the database accepts nor misses the strikes of
    authors beyond the first chunk."""
    repeat = [3, 256, 257, 999]
    for i in repeat:
        assert moderate(client, auth, text=THREAT, subject=f"author-{i}").status_code == 201
    items = [{"text": THREAT, "subject": f"author-{i}"} for i in range(1000)]
    body = json.dumps({"items": items}).encode()
    assert len(body) < 256 * 1024
    resp = client.post(
        "/v1/moderations", data=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert resp.status_code == 201, resp.get_json()
    decisions = [r["decision"] for r in resp.get_json()["results"]]
    assert len(decisions) == 1000
    escalated = [i for i, d in enumerate(decisions) if d["escalation"] is not None]
    assert escalated == repeat
    for i in repeat:
        counted = decisions[i]["counted_strikes"]
        assert counted["complete"] is True and len(counted["strikes"]) == 1


def test_strikes_escalate_and_expire(client, auth, clock):
    actions = []
    for _ in range(3):
        decision = moderate(client, auth, text=THREAT, subject="repeat").get_json()["decision"]
        actions.append(decision["action"])
    assert actions[:1] == ["remove"]
    assert decision["strike"]["weight"] >= 1
    escalated = [d for d in actions if d in ("restrict_account", "suspend_account")]
    assert escalated, actions
    last = decision
    assert last["escalation"]["ends_at"] > last["time"]
    assert last["escalation"]["active_strikes"] >= last["escalation"]["threshold"]
    # Someone else is not affected by another person's strikes.
    assert (
        moderate(client, auth, text=THREAT, subject="first-timer").get_json()["decision"]["action"]
        == "remove"
    )
    # A year later every strike has expired: back to the plain rule action.
    clock.advance(days=365)
    fresh = moderate(client, auth, text=THREAT, subject="repeat").get_json()["decision"]
    assert fresh["action"] == "remove"
    assert fresh["escalation"] is None


def test_escalation_counts_within_one_batch(client, auth):
    items = [{"text": THREAT, "subject": "burst"} for _ in range(4)]
    results = client.post("/v1/moderations", json={"items": items}, headers=auth).get_json()[
        "results"
    ]
    assert results[0]["decision"]["action"] == "remove"
    assert results[-1]["decision"]["escalation"] is not None


def test_strikes_are_counted_to_the_ladders_top_then_said_to_be_a_lower_bound(client, auth, app):
    """Civility's ladder tops out at 6 and every strike weighs at least 1, so deciding
    reads at most the author's six newest live strikes, however many they collected.
    Threats weigh 2: with six earlier threats the count stops, the author is at the top
    step as an exact count would put them, and the notice says "at least"."""
    decisions = [
        moderate(client, auth, text=THREAT, subject="collector").get_json()["decision"]
        for _ in range(8)
    ]
    counts = [d["escalation"] and d["escalation"]["active_strikes"] for d in decisions]
    assert counts[:6] == [None, 4, 6, 8, 10, 12]
    assert "You now have 4 active strikes" in decisions[1]["notice"]
    assert not any("at least" in d["notice"] for d in decisions[:6])
    for later in decisions[6:]:
        assert later["action"] == "suspend_account"
        assert later["escalation"]["threshold"] == 6
        assert later["escalation"]["active_strikes"] == 14
        assert "You now have at least 14 active strikes" in later["notice"]
    # The public standing, computed from the bodies alone, still has every strike.
    standing = client.get(f"/v1/subjects/{decisions[0]['subject']}").get_json()
    assert sum(s["weight"] for s in standing["active_strikes"]) == 16


# --- bad input: a clear problem, the right status, the field, and nothing appended ---

BAD_BODIES = [
    ({}, 422, "#/text"),
    ({"text": "", "subject": "u"}, 422, "#/text"),
    ({"text": "   ", "subject": "u"}, 422, "#/text"),
    ({"subject": "u"}, 422, "#/text"),
    ({"text": "hi"}, 422, "#/subject"),
    ({"text": 42, "subject": "u"}, 422, "#/text"),
    ({"text": "hi", "subject": ["u"]}, 422, "#/subject"),
    ({"text": "hi", "subject": "u", "policy": "nope"}, 422, "#/policy"),
    ({"text": "hi", "subject": "u", "policy": 3}, 422, "#/policy"),
    ({"text": "hi", "subject": "u", "colour": "red"}, 422, "#/colour"),
    ({"text": "a\x00b", "subject": "u"}, 422, "#/text"),
    ({"text": "lone \ud800 surrogate", "subject": "u"}, 422, "#/text"),
    ({"items": []}, 422, "#/items"),
    (
        {"items": [{"text": "ok", "subject": "u"}, {"text": "", "subject": "u"}]},
        422,
        "#/items/1/text",
    ),
    ({"items": [{"text": "ok", "subject": "u", "policy": "nope"}]}, 422, "#/items/0/policy"),
    ({"items": [{"text": "ok", "subject": "u"}] * 1001}, 422, "#/items"),
    ({"items": "all of them"}, 422, "#/items"),
    ([1, 2], 422, "#/"),
]


@pytest.mark.parametrize(("body", "status", "pointer"), BAD_BODIES)
def test_bad_bodies_are_refused_and_change_nothing(client, auth, app, body, status, pointer):
    before = log_size(app)
    resp = client.post(
        "/v1/moderations", data=json.dumps(body), headers=auth, content_type="application/json"
    )
    assert resp.status_code == status, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["status"] == status and problem["title"] and problem["type"]
    assert pointer in [e["pointer"] for e in problem["errors"]], problem
    assert log_size(app) == before


def test_invalid_json_is_400(client, auth, app):
    before = log_size(app)
    resp = client.post(
        "/v1/moderations", data=b'{"text": "x",', headers=auth, content_type="application/json"
    )
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert log_size(app) == before


def test_invalid_utf8_bytes_name_the_field(client, auth, app):
    before = log_size(app)
    raw = b'{"text": "caf\xe9 \xff", "subject": "u"}'
    resp = client.post("/v1/moderations", data=raw, headers=auth, content_type="application/json")
    assert resp.status_code == 422
    assert [e["pointer"] for e in resp.get_json()["errors"]] == ["#/text"]
    assert "UTF-8" in resp.get_json()["errors"][0]["detail"]
    assert log_size(app) == before


def test_body_over_limit_is_413(client, auth, app):
    before = log_size(app)
    resp = client.post(
        "/v1/moderations", headers=auth, json={"text": "x" * (256 * 1024 + 1), "subject": "u"}
    )
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"
    assert log_size(app) == before


def test_wrong_content_type_is_415(client, auth, app):
    resp = client.post(
        "/v1/moderations",
        data="text=hi",
        headers=auth,
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 415
    assert resp.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer fw_000000000000_wrong"]
)
def test_missing_or_wrong_key_is_401(client, app, header):
    before = log_size(app)
    headers = {"Authorization": header} if header else {}
    resp = client.post("/v1/moderations", json={"text": THREAT, "subject": "u"}, headers=headers)
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert log_size(app) == before


def test_wrong_role_is_403(client, app, database_url):
    reviewer = make_key(database_url, "forum-example", "reviewer")
    before = log_size(app)
    resp = client.post(
        "/v1/moderations",
        json={"text": THREAT, "subject": "u"},
        headers={"Authorization": f"Bearer {reviewer}"},
    )
    assert resp.status_code == 403
    assert log_size(app) == before
