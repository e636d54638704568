"""Requests appended together (group commit) are decided as if they had come one after
another, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from policies.evaluate import ladder_top
from service.domain.idempotency import AlreadyDone, Claim
from service.domain.moderation import Item, LogSide, Moderated, Request, moderate_requests
from service.http.state import runtime_of
from tests.conftest import log_size

THREAT = "I will hurt you"


def run_group(app, requests: list[Request]) -> list[list[Moderated] | AlreadyDone]:
    runtime = runtime_of(app)
    side = LogSide(log=runtime.log, clock=runtime.clock, published=runtime.published)
    return moderate_requests(
        requests, judges=runtime.judges, secret=runtime.instance.secret, side=side
    )


def item(text: str, user: str) -> Item:
    return Item(text=text, user_id=user, policy_id="civility")


def test_a_group_shares_one_checkpoint_and_escalates_in_arrival_order(app):
    before = log_size(app)
    outcomes = run_group(app, [Request([item(THREAT, "burst")], "forum") for _ in range(4)])
    decided = [o for o in outcomes if not isinstance(o, AlreadyDone)]
    assert len(decided) == 4
    bodies = [moderated[0].body for moderated in decided]
    assert bodies[0]["action"] == "remove" and bodies[0]["escalation"] is None
    # Each request counts the strikes of the earlier ones in the same group, up to the
    # ladder's top, exactly as if they had come one after another.
    top = ladder_top(runtime_of(app).judges["civility"].policy)
    indexes = [moderated[0].appended.index for moderated in decided]
    for position, body in enumerate(bodies):
        counted = [strike["index"] for strike in body["counted_strikes"]["strikes"]]
        assert counted == indexes[:position][-top:]
    assert bodies[-1]["escalation"] is not None
    checkpoints = {moderated[0].checkpoint for moderated in decided}
    assert len(checkpoints) == 1
    # The policy was published when the app started: the group appends its four decisions.
    assert log_size(app) - before == 4


def test_a_key_repeated_within_a_group_is_found_at_its_turn(app):
    claim = Claim(app="forum", key="once", request_hash=b"\x01" * 32)
    other_body = Claim(app="forum", key="once", request_hash=b"\x02" * 32)
    before = log_size(app)
    first, retry, conflicting = run_group(
        app,
        [
            Request([item(THREAT, "ada")], "forum", claim),
            Request([item(THREAT, "ada")], "forum", claim),
            Request([item(THREAT, "ada")], "forum", other_body),
        ],
    )
    assert not isinstance(first, AlreadyDone)
    assert isinstance(retry, AlreadyDone) and retry.same
    assert retry.decision_ids == [first[0].body["id"]]
    assert isinstance(conflicting, AlreadyDone) and not conflicting.same
    # One decision, not three.
    assert log_size(app) - before == 1


def test_keys_of_other_apps_do_not_collide_in_a_group(app):
    outcomes = run_group(
        app,
        [
            Request([item(THREAT, "ada")], "forum", Claim("forum", "k", b"\x01" * 32)),
            Request([item(THREAT, "ada")], "blog", Claim("blog", "k", b"\x01" * 32)),
        ],
    )
    assert not any(isinstance(o, AlreadyDone) for o in outcomes)
    forum, blog = outcomes
    assert forum[0].body["subject"] != blog[0].body["subject"]


def test_answers_that_fail_after_the_commit_are_never_appended_again(app, monkeypatch):
    # Retrying a group request by request is for errors before the commit; after it,
    # a retry would log every decision twice.
    from service.domain import moderation

    def broken_answer(**fields):
        raise ValueError("answer")

    monkeypatch.setattr(moderation, "Moderated", broken_answer)
    before = log_size(app)
    with pytest.raises(moderation.AnswerFailed) as failed:
        run_group(app, [Request([item(THREAT, "ada")], "forum") for _ in range(2)])
    assert isinstance(failed.value.__cause__, ValueError)
    assert log_size(app) - before == 2
    assert not moderation._retry_alone(moderation.AnswerFailed(2))
