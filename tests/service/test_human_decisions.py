"""Human decisions: a reviewer acts under a cited rule, logged like any decision."""

from __future__ import annotations

import hashlib

import pytest

from tests import openapi_contract as contract
from tests.conftest import log_size, make_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def reviewer(database_url) -> dict[str, str]:
    return bearer(make_key(database_url, "forum-example", "reviewer"))


def decide(client, headers, **body):
    body = {"subject": "ada", "policy": "civility", "rule": "threat", **body}
    return client.post("/v1/decisions", json=body, headers=headers)


def test_reviewer_decides_under_a_rule(client, reviewer, auth, app):
    before = log_size(app)
    resp = decide(
        client, reviewer, text="meet me outside, you know what happens", content_ref="post-7"
    )
    assert resp.status_code == 201, resp.get_json()
    contract.assert_conforms("/v1/decisions", "POST", resp)
    result = resp.get_json()
    decision = result["decision"]
    assert log_size(app) == before + 1
    assert decision["automated"] is False and decision["moderator"].startswith("key_")
    assert decision["classifier"] is None and decision["scores"] == {}
    assert [r["id"] for r in decision["rules"]] == ["threat"]
    assert decision["action"] == "remove" and decision["strike"]["weight"] == 2
    salt = bytes.fromhex(result["receipt"]["content_salt"])
    text = b"meet me outside, you know what happens"
    assert decision["content"] == "sha256:" + hashlib.sha256(salt + text).hexdigest()
    assert result["appeal"]["token"]
    # Same subject pseudonym as the app's automated decisions for that user.
    automated = client.post(
        "/v1/moderations", json={"text": "hello", "subject": "ada"}, headers=auth
    ).get_json()["decision"]
    assert automated["subject"] == decision["subject"]
    # The strike counts for escalation like any other.
    again = decide(client, reviewer).get_json()["decision"]
    assert again["escalation"]["action"] == "restrict_account"
    assert again["content"] is None


def test_action_and_notice_can_be_chosen(client, reviewer):
    decision = decide(
        client, reviewer, rule="spam", action="remove", notice="A moderator removed this advert."
    ).get_json()["decision"]
    assert decision["content_action"] == "remove" and decision["rules"][0]["id"] == "spam"
    assert decision["notice"] == "A moderator removed this advert."


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"rule": "no-such-rule"}, "#/rule"),
        ({"policy": "no-such-policy"}, "#/policy"),
        ({"action": "allow"}, "#/action"),
        ({"action": "suspend_account"}, "#/action"),
        ({"rule": None}, "#/rule"),
        ({"text": ""}, "#/text"),
        ({"subject": ""}, "#/subject"),
        ({"extra": 1}, "#/extra"),
    ],
)
def test_refusals_append_nothing(client, reviewer, app, body, pointer):
    before = log_size(app)
    resp = decide(client, reviewer, **body)
    assert resp.status_code == 422, resp.get_json()
    assert pointer in [e["pointer"] for e in resp.get_json()["errors"]]
    contract.assert_conforms("/v1/decisions", "POST", resp)
    assert log_size(app) == before


def test_only_reviewers_decide(client, auth, app):
    before = log_size(app)
    assert decide(client, {}).status_code == 401
    assert decide(client, auth).status_code == 403
    assert log_size(app) == before


def test_moderator_may_not_resolve_the_appeal_of_their_decision(
    client, reviewer, app, database_url
):
    result = decide(client, reviewer).get_json()
    appeal = client.post(
        "/v1/appeals",
        json={
            "decision_id": result["decision"]["id"],
            "statement": "I did nothing.",
            "token": result["appeal"]["token"],
        },
    ).get_json()
    before = log_size(app)
    resp = client.post(
        f"/v1/appeals/{appeal['id']}/resolution",
        headers=reviewer,
        json={"outcome": "overturned", "rationale": "Mine, so fine."},
    )
    assert resp.status_code == 403 and log_size(app) == before
    contract.assert_conforms("/v1/appeals/{appeal_id}/resolution", "POST", resp)
    other = bearer(make_key(database_url, "forum-example", "reviewer"))
    resp = client.post(
        f"/v1/appeals/{appeal['id']}/resolution",
        headers=other,
        json={"outcome": "overturned", "rationale": "No evidence."},
    )
    assert resp.status_code == 201
    contract.assert_conforms("/v1/appeals/{appeal_id}/resolution", "POST", resp)
    entries = client.get(f"/v1/subjects/{result['decision']['subject']}").get_json()
    assert entries["active_strikes"] == []
    for e in entries["entries"]:
        assert not contract.schema_errors("#/components/schemas/LogEntry", e)
