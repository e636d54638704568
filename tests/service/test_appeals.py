"""Appeals through the HTTP API, on SQLite and PostgreSQL: tokens, filing, refusals,
resolution, reversal and what it does to a subject's standing, the public view and the
overdue count."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from service.http.state import runtime_of
from tests.conftest import log_size, make_key

THREAT = "I will hurt you"
INSULT = "you are an idiot"
KIND = "Have a lovely day, neighbour"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def moderate(client, auth, text=THREAT, subject="author-1") -> dict:
    resp = client.post("/v1/moderations", json={"text": text, "subject": subject}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def file(client, decision_id, statement="I was quoting a film.", token=None, headers=None):
    body = {"decision_id": decision_id, "statement": statement}
    if token is not None:
        body["token"] = token
    return client.post("/v1/appeals", json=body, headers=headers or {})


def resolve(
    client, appeal_id, headers, outcome="overturned", rationale="A film quote.", action=None
):
    body = {"outcome": outcome, "rationale": rationale}
    if action is not None:
        body["action"] = action
    return client.post(f"/v1/appeals/{appeal_id}/resolution", json=body, headers=headers)


@pytest.fixture
def reviewer(database_url) -> dict[str, str]:
    return bearer(make_key(database_url, "forum-example", "reviewer"))


def entries(app, kind=None) -> list[dict]:
    engine = runtime_of(app).engine
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT body, kind FROM log_entries ORDER BY idx").all()
    return [json.loads(b) for b, k in rows if kind is None or k == kind]


# --- the token ------------------------------------------------------------------------


def test_acting_decisions_carry_a_secret_appeal_offer(client, auth, app, clock):
    result = moderate(client, auth)
    decision, appeal = result["decision"], result["appeal"]
    assert set(appeal) == {"url", "token", "deadline"}
    assert appeal["url"].endswith(f"/appeals/new?decision={decision['id']}")
    assert appeal["url"].startswith(runtime_of(app).settings.public_url)
    assert len(appeal["token"]) >= 40
    from policies.duration import parse_duration
    from service.clock import parse_rfc3339, rfc3339

    window = parse_duration("P6M")  # the civility policy's appeal window
    assert appeal["deadline"] == rfc3339(window.add_to(parse_rfc3339(decision["time"])))
    # The token is secret: not in the log, and stored only as a hash.
    engine = runtime_of(app).engine
    with engine.connect() as conn:
        logged = " ".join(r[0] for r in conn.exec_driver_sql("SELECT body FROM log_entries"))
        stored = conn.execute(
            text("SELECT token_hash, deadline FROM appeal_tokens WHERE decision_id = :d"),
            {"d": decision["id"]},
        ).one()
    assert appeal["token"] not in logged and "appeal" not in decision
    assert bytes(stored.token_hash) == hashlib.sha256(appeal["token"].encode()).digest()
    assert stored.deadline == appeal["deadline"]


def test_allow_has_no_appeal_offer(client, auth):
    assert moderate(client, auth, text=KIND)["appeal"] is None


def test_batch_items_get_their_own_tokens(client, auth):
    items = [
        {"text": THREAT, "subject": "a"},
        {"text": KIND, "subject": "b"},
        {"text": THREAT, "subject": "c"},
    ]
    results = client.post("/v1/moderations", json={"items": items}, headers=auth).get_json()[
        "results"
    ]
    offers = [r["appeal"] for r in results]
    assert offers[1] is None
    assert offers[0]["token"] != offers[2]["token"]


# --- filing -----------------------------------------------------------------------------


def test_author_files_with_the_token(client, auth, app, clock):
    result = moderate(client, auth)
    before = log_size(app)
    resp = file(client, result["decision"]["id"], token=result["appeal"]["token"])
    assert resp.status_code == 201, resp.get_json()
    filed = resp.get_json()
    assert filed["id"].startswith("apl_") and filed["status"] == "open"
    assert filed["filed_by"] == "author"
    assert filed["decide_by"] > filed["filed_at"]
    assert log_size(app) == before + 1
    entry = entries(app, "appeal_filed")[-1]
    assert entry == {
        "kind": "appeal_filed",
        "id": filed["id"],
        "time": filed["filed_at"],
        "ref": result["decision"]["id"],
        "app": "forum-example",
        "subject": result["decision"]["subject"],
        "policy": result["decision"]["policy"],
        "decide_by": filed["decide_by"],
        "filed_by": "author",
    }
    # The statement is private.
    assert "quoting a film" not in json.dumps(entries(app))


def test_app_files_for_its_user_with_its_client_key(client, auth):
    decision = moderate(client, auth)["decision"]
    resp = file(client, decision["id"], headers=auth)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["filed_by"] == "app"


def _refused(client, app, resp_fn, status):
    before = log_size(app)
    resp = resp_fn()
    assert resp.status_code == status, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == status
    assert log_size(app) == before
    return resp.get_json()


def test_refusals_append_nothing(client, auth, app, clock, database_url):
    result = moderate(client, auth)
    decision_id, token = result["decision"]["id"], result["appeal"]["token"]
    allowed = moderate(client, auth, text=KIND)["decision"]["id"]
    other = moderate(client, auth, subject="someone-else")["appeal"]["token"]
    other_app = bearer(make_key(database_url, "another-app", "client"))
    reviewer_key = bearer(make_key(database_url, "forum-example", "reviewer"))

    _refused(client, app, lambda: file(client, decision_id), 401)
    _refused(client, app, lambda: file(client, decision_id, headers=bearer("fw_bad")), 401)
    _refused(client, app, lambda: file(client, decision_id, headers=reviewer_key), 403)
    _refused(client, app, lambda: file(client, decision_id, token="not-the-token"), 403)
    _refused(client, app, lambda: file(client, decision_id, token=other), 403)
    _refused(client, app, lambda: file(client, decision_id, headers=other_app), 403)
    _refused(client, app, lambda: file(client, allowed, headers=auth), 409)
    _refused(client, app, lambda: file(client, "dec_" + "0" * 26, token=token), 404)
    for statement, pointer in (
        ("", "#/statement"),
        ("   ", "#/statement"),
        ("x" * 5001, "#/statement"),
    ):
        problem = _refused(
            client, app, lambda s=statement: file(client, decision_id, s, token=token), 422
        )
        assert pointer in [e["pointer"] for e in problem["errors"]]
    problem = _refused(client, app, lambda: file(client, "dec_nope", token=token), 422)
    assert "#/decision_id" in [e["pointer"] for e in problem["errors"]]

    assert file(client, decision_id, "x" * 5000, token=token).status_code == 201
    # A second open appeal on the same decision.
    _refused(client, app, lambda: file(client, decision_id, token=token), 409)


def test_window_closes(client, auth, app, clock):
    result = moderate(client, auth)
    clock.advance(days=186)  # past six months from any start date
    problem = _refused(
        client,
        app,
        lambda: file(client, result["decision"]["id"], token=result["appeal"]["token"]),
        409,
    )
    assert "window" in problem["detail"]


def test_just_inside_the_window(client, auth, app, clock):
    from service.clock import parse_rfc3339

    result = moderate(client, auth)
    deadline = parse_rfc3339(result["appeal"]["deadline"])
    clock.now = deadline
    assert (
        file(client, result["decision"]["id"], token=result["appeal"]["token"]).status_code == 201
    )


def test_appeals_per_decision_are_capped(client, auth, app, reviewer):
    result = moderate(client, auth)
    decision_id, token = result["decision"]["id"], result["appeal"]["token"]
    for _ in range(3):
        resp = file(client, decision_id, token=token)
        assert resp.status_code == 201, resp.get_json()
        assert resolve(client, resp.get_json()["id"], reviewer, outcome="upheld").status_code == 201
    problem = _refused(client, app, lambda: file(client, decision_id, token=token), 409)
    assert "at most 3" in problem["detail"]


# --- resolution ---------------------------------------------------------------------------


def _filed(client, auth, text=THREAT, subject="author-1"):
    result = moderate(client, auth, text=text, subject=subject)
    resp = file(client, result["decision"]["id"], token=result["appeal"]["token"])
    assert resp.status_code == 201
    return result["decision"], resp.get_json()["id"]


def test_overturn_appends_resolution_and_reversal(client, auth, app, reviewer):
    decision, appeal_id = _filed(client, auth)
    before = log_size(app)
    resp = resolve(client, appeal_id, reviewer, rationale="Quoting a film, not a threat.")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert log_size(app) == before + 2
    resolution, reversal = body["resolution"], body["reversal"]
    assert resolution["kind"] == "appeal_resolved" and resolution["id"].startswith("res_")
    assert resolution["ref"] == appeal_id and resolution["decision"] == decision["id"]
    assert resolution["outcome"] == "overturned"
    assert resolution["rationale"] == "Quoting a film, not a threat."
    assert reversal["kind"] == "reversal" and reversal["id"].startswith("rev_")
    assert reversal["ref"] == decision["id"] and reversal["reason"] == appeal_id
    assert reversal["subject"] == decision["subject"] and reversal["action"] == "allow"
    assert body["receipt"]["index"] == before
    # The original entry is unchanged and now has related entries.
    view = client.get(f"/v1/decisions/{decision['id']}").get_json()
    assert view["entry"] == decision
    assert [r["entry"]["kind"] for r in view["related"]] == ["appeal_filed", "reversal"]
    # Resolving twice.
    _refused(client, app, lambda: resolve(client, appeal_id, reviewer), 409)


def test_upheld_appends_no_reversal(client, auth, app, reviewer):
    decision, appeal_id = _filed(client, auth)
    before = log_size(app)
    body = resolve(client, appeal_id, reviewer, outcome="upheld").get_json()
    assert body["reversal"] is None and log_size(app) == before + 1
    standing = client.get(f"/v1/subjects/{decision['subject']}").get_json()
    assert [s["decision_id"] for s in standing["active_strikes"]] == [decision["id"]]


def test_resolution_refusals_append_nothing(client, auth, app, reviewer, database_url):
    _, appeal_id = _filed(client, auth)
    other_reviewer = bearer(make_key(database_url, "another-app", "reviewer"))
    cases = [
        (lambda: resolve(client, appeal_id, {}), 401),
        (lambda: resolve(client, appeal_id, auth), 403),
        (lambda: resolve(client, appeal_id, other_reviewer), 404),
        (lambda: resolve(client, "apl_" + "0" * 26, reviewer), 404),
        (lambda: resolve(client, "nonsense", reviewer), 404),
        (lambda: resolve(client, appeal_id, reviewer, outcome="maybe"), 422),
        (lambda: resolve(client, appeal_id, reviewer, rationale=""), 422),
        (lambda: resolve(client, appeal_id, reviewer, rationale="x" * 5001), 422),
        (lambda: resolve(client, appeal_id, reviewer, outcome="modified"), 422),
        (lambda: resolve(client, appeal_id, reviewer, outcome="upheld", action="label"), 422),
        # Not lighter than the original remove.
        (lambda: resolve(client, appeal_id, reviewer, outcome="modified", action="remove"), 422),
        (
            lambda: resolve(
                client, appeal_id, reviewer, outcome="modified", action="suspend_account"
            ),
            422,
        ),
        (lambda: resolve(client, appeal_id, reviewer, outcome="modified", action="allow"), 422),
    ]
    for call, status in cases:
        _refused(client, app, call, status)


def test_modified_lightens_the_action_and_voids_the_strike(client, auth, app, reviewer):
    decision, appeal_id = _filed(client, auth)
    body = resolve(
        client,
        appeal_id,
        reviewer,
        outcome="modified",
        action="label",
        rationale="Rude, not a threat.",
    ).get_json()
    assert body["reversal"]["action"] == "label" and body["reversal"]["ends_at"] is None
    standing = client.get(f"/v1/subjects/{decision['subject']}").get_json()
    assert standing["active_strikes"] == []
    public = client.get(f"/v1/appeals/{appeal_id}").get_json()
    assert public["outcome"] == "modified" and public["action"] == "label"


# --- standing and redemption ----------------------------------------------------------


def test_reversal_removes_strike_restriction_and_escalation(client, auth, app, reviewer, clock):
    first = moderate(client, auth, subject="repeat")
    second = moderate(client, auth, subject="repeat")["decision"]
    assert first["decision"]["escalation"] is None
    assert second["escalation"]["action"] == "restrict_account"  # 2 + 2 strikes, ladder at 3
    subject = second["subject"]
    standing = client.get(f"/v1/subjects/{subject}").get_json()
    assert len(standing["active_strikes"]) == 2 and standing["active_restrictions"]

    # Overturn the escalated decision: its strike and its restriction go.
    resp = file(client, second["id"], headers=auth)
    assert resolve(client, resp.get_json()["id"], reviewer).status_code == 201
    standing = client.get(f"/v1/subjects/{subject}").get_json()
    assert [s["decision_id"] for s in standing["active_strikes"]] == [first["decision"]["id"]]
    assert standing["active_restrictions"] == []
    assert {e["entry"]["kind"] for e in standing["entries"]} >= {
        "decision",
        "appeal_filed",
        "appeal_resolved",
        "reversal",
    }

    # Escalation (the SQL side) agrees: one live strike of 2, plus 2 new, escalates again.
    again = moderate(client, auth, subject="repeat")["decision"]
    assert again["escalation"]["active_strikes"] == 4
    # Overturn the first and the latest: nothing is left, so the next threat only removes.
    resp = file(client, first["decision"]["id"], token=first["appeal"]["token"])
    assert resolve(client, resp.get_json()["id"], reviewer).status_code == 201
    resp = file(client, again["id"], headers=auth)
    assert resolve(client, resp.get_json()["id"], reviewer).status_code == 201
    nxt = moderate(client, auth, subject="repeat")["decision"]
    assert nxt["action"] == "remove" and nxt["escalation"] is None
    standing = client.get(f"/v1/subjects/{subject}").get_json()
    assert [s["decision_id"] for s in standing["active_strikes"]] == [nxt["id"]]

    clock.advance(days=91)  # every strike has expired
    standing = client.get(f"/v1/subjects/{subject}").get_json()
    assert standing["active_strikes"] == [] and standing["active_restrictions"] == []


def test_restriction_ends_on_its_own(client, auth, clock):
    for _ in range(2):
        last = moderate(client, auth, subject="r")["decision"]
    assert last["escalation"]["ends_at"]
    subject = last["subject"]
    assert client.get(f"/v1/subjects/{subject}").get_json()["active_restrictions"]
    clock.advance(days=8)
    standing = client.get(f"/v1/subjects/{subject}").get_json()
    assert standing["active_restrictions"] == []
    assert len(standing["active_strikes"]) == 2  # strikes last 90 days, restrictions 7


def test_sql_and_entry_standing_agree_after_reversal(client, auth, app, reviewer):
    from audit_log.store import newest_strikes
    from service.clock import parse_rfc3339, rfc3339
    from service.domain.standing import strike_weight

    decisions = [moderate(client, auth, subject="agree")["decision"] for _ in range(2)]
    resp = file(client, decisions[0]["id"], headers=auth)
    resolve(client, resp.get_json()["id"], reviewer)
    subject = decisions[0]["subject"]
    view = client.get(f"/v1/subjects/{subject}").get_json()
    now = parse_rfc3339(view["as_of"])
    bodies = [e["entry"] for e in view["entries"]]
    key = (subject, "civility")
    with runtime_of(app).engine.connect() as conn:
        counted = newest_strikes(conn, [key], rfc3339(now), 6)[key]
    assert counted.complete
    assert counted.weight == strike_weight(bodies, now, "civility") == 2


# --- public view, listing, overdue ----------------------------------------------------------


def test_public_view_never_shows_the_statement(client, auth, reviewer, clock):
    _, appeal_id = _filed(client, auth)
    resp = client.get(f"/v1/appeals/{appeal_id}")
    assert resp.status_code == 200
    view = resp.get_json()
    assert view["status"] == "open" and view["outcome"] is None and not view["overdue"]
    assert "statement" not in view and "quoting" not in json.dumps(view)
    clock.advance(days=8)
    assert client.get(f"/v1/appeals/{appeal_id}").get_json()["overdue"] is True
    resolve(client, appeal_id, reviewer, rationale="Context shows a film quote.")
    view = client.get(f"/v1/appeals/{appeal_id}").get_json()
    assert view["status"] == "resolved" and view["outcome"] == "overturned"
    assert view["rationale"] == "Context shows a film quote." and view["action"] == "allow"
    assert client.get("/v1/appeals/apl_" + "0" * 26).status_code == 404
    assert client.get("/v1/appeals/whatever").status_code == 404


def test_reviewers_list_open_appeals_by_deadline(client, auth, reviewer, clock, database_url):
    ids = []
    for i in range(3):
        ids.append(_filed(client, auth, subject=f"lister-{i}")[1])
        clock.advance(hours=1)
    page = client.get("/v1/appeals?status=open&limit=2", headers=reviewer).get_json()
    assert [a["id"] for a in page["appeals"]] == ids[:2]
    assert page["appeals"][0]["statement"] == "I was quoting a film."
    rest = client.get(
        f"/v1/appeals?status=open&limit=2&cursor={page['next_cursor']}", headers=reviewer
    ).get_json()
    assert [a["id"] for a in rest["appeals"]] == ids[2:] and rest["next_cursor"] is None
    resolve(client, ids[0], reviewer, outcome="upheld")
    open_now = client.get("/v1/appeals", headers=reviewer).get_json()["appeals"]
    assert [a["id"] for a in open_now] == ids[1:]
    resolved = client.get("/v1/appeals?status=resolved", headers=reviewer).get_json()
    assert [a["id"] for a in resolved["appeals"]] == ids[:1]
    # Another app's reviewer sees none of them; a client key may not list at all.
    other = bearer(make_key(database_url, "another-app", "reviewer"))
    assert client.get("/v1/appeals", headers=other).get_json()["appeals"] == []
    assert client.get("/v1/appeals", headers=auth).status_code == 403
    assert (
        client.get("/v1/appeals", headers=reviewer, query_string={"status": "sideways"}).status_code
        == 400
    )
    assert (
        client.get("/v1/appeals", headers=reviewer, query_string={"cursor": "nonsense"}).status_code
        == 400
    )


def test_overdue_count_in_cli_and_transparency(
    client, auth, app, clock, database_url, instance_dir, monkeypatch
):
    from service.cli import main as cli

    # The CLI reads the real clock, so the late appeal is filed a month in the past.
    clock.advance(days=-30)
    _, late = _filed(client, auth, subject="late")
    clock.advance(days=30)
    _filed(client, auth, subject="fresh")
    report = client.get("/v1/transparency").get_json()
    assert report["appeals"]["overdue"] == 1 and report["appeals"]["overdue_ids"] == [late]
    assert report["appeals"]["open"] == 2

    monkeypatch.setenv("FAIRWITNESS_DATABASE_URL", database_url)
    monkeypatch.setenv("FAIRWITNESS_INSTANCE_DIR", str(instance_dir))
    result = CliRunner().invoke(cli.main, ["appeals", "overdue"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["1", late]


def test_append_only_guards_on_the_new_tables(client, auth, app, reviewer):
    from sqlalchemy.exc import DBAPIError

    _, appeal_id = _filed(client, auth)
    resolve(client, appeal_id, reviewer, outcome="upheld")
    engine = runtime_of(app).engine
    for table, column in (
        ("appeal_tokens", "deadline"),
        ("appeals", "decide_by"),
        ("appeal_resolutions", "outcome"),
    ):
        for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    from service.storage.db import appeals

    with engine.connect() as conn:
        assert conn.execute(select(appeals.c.appeal_id)).scalars().all() == [appeal_id]
