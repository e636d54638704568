"""Escalation is decided from, and checkable against, the hashed entry bodies alone.

Someone with write access to the database rewrites the index columns beside the bodies
(as the triggers' owner can): the next decision is still made from the bodies, the
server refuses to start on rows it knows are rewritten, ``fairwitness log check`` names
them, and ``fairwitness log audit``, which sees only the public API, catches a decision
whose counted strikes do not add up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from audit_log.store import IndexCorrupt
from service.http.state import runtime_of
from tests.conftest import LIBRARY

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))
THREAT = "I will hurt you"


def moderate(client, auth, subject: str, text_: str = THREAT) -> dict:
    resp = client.post("/v1/moderations", json={"text": text_, "subject": subject}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def rewrite(app, statement: str, **params) -> None:
    """Change stored rows behind the service's back, as the database's owner can."""
    engine = runtime_of(app).engine
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for verb in ("update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS log_entries_no_{verb}")
        else:
            conn.exec_driver_sql("ALTER TABLE log_entries DISABLE TRIGGER USER")
        conn.execute(text(statement), params)


def log_check(database_url: str, instance_dir: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
    return subprocess.run(
        [FAIRWITNESS, "log", "check"],
        env={
            **clean,
            "FAIRWITNESS_DATABASE_URL": database_url,
            "FAIRWITNESS_INSTANCE_DIR": str(instance_dir),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def restart(database_url: str, instance_dir: Path):
    from service.http.app import create_app

    return create_app(
        {"database_url": database_url, "instance_dir": instance_dir, "policy_dir": LIBRARY}
    )


def test_a_decision_names_the_strikes_it_counted(client, auth, app, database_url, instance_dir):
    first, second, third = (moderate(client, auth, "repeat") for _ in range(3))
    assert first["decision"]["counted_strikes"] == {"strikes": [], "complete": True}
    assert first["decision"]["escalation"] is None
    assert second["decision"]["counted_strikes"] == {
        "strikes": [{"index": first["receipt"]["index"], "weight": 2}],
        "complete": True,
    }
    assert second["decision"]["escalation"]["active_strikes"] == 4
    assert [s["index"] for s in third["decision"]["counted_strikes"]["strikes"]] == [
        first["receipt"]["index"],
        second["receipt"]["index"],
    ]
    allowed = moderate(client, auth, "repeat", "Have a lovely day, neighbour")["decision"]
    assert allowed["strike"] is None and allowed["counted_strikes"] is None
    # The answer is the hashed body: the evidence is what the leaf hash covers.
    stored = client.get(f"/v1/decisions/{third['decision']['id']}").get_json()["entry"]
    assert stored["counted_strikes"] == third["decision"]["counted_strikes"]
    done = log_check(database_url, instance_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
    assert "4 decisions' strike counts replay from the bodies" in done.stdout


def test_a_rewritten_strike_weight_decides_nothing_and_is_named(
    client, auth, app, database_url, instance_dir
):
    first = moderate(client, auth, "victim")
    index = first["receipt"]["index"]
    rewrite(app, "UPDATE log_entries SET strike_weight = 50 WHERE idx = :i", i=index)

    # The next threat counts the body's weight (2), not the column's (50): 4 active
    # strikes restrict the account; they do not reach suspension at 6.
    second = moderate(client, auth, "victim")["decision"]
    assert second["action"] == "restrict_account"
    assert second["escalation"]["active_strikes"] == 4
    assert second["counted_strikes"]["strikes"] == [{"index": index, "weight": 2}]

    done = log_check(database_url, instance_dir)
    assert done.returncode == 1
    assert f"mismatch: index: entry {index} ({first['decision']['id']}): strike_weight" in (
        done.stderr
    )
    with pytest.raises(IndexCorrupt, match=rf"entry {index} \(dec_\w+\): strike_weight"):
        restart(database_url, instance_dir)


def test_a_body_rewritten_after_it_was_counted_is_read_again(client, auth, app):
    first = moderate(client, auth, "reread")
    index = first["receipt"]["index"]
    assert moderate(client, auth, "reread")["decision"]["counted_strikes"]["strikes"] == [
        {"index": index, "weight": 2}
    ]
    # The body itself now states another weight; the next count reads it, not the body
    # it parsed before.
    rewrite(
        app,
        "UPDATE log_entries SET body = REPLACE(body, :old, :new) WHERE idx = :i",
        old='"weight":2',
        new='"weight":1',
        i=index,
    )
    third = moderate(client, auth, "reread")["decision"]
    assert {"index": index, "weight": 1} in third["counted_strikes"]["strikes"]


def test_a_rewritten_subject_fools_no_page_and_is_named(
    client, auth, app, database_url, instance_dir
):
    mine = moderate(client, auth, "author")["decision"]
    other = moderate(client, auth, "bystander", "Have a lovely day, neighbour")["decision"]
    index = client.get(f"/v1/decisions/{mine['id']}").get_json()["receipt"]["index"]
    # The strike is moved onto someone else's page.
    rewrite(app, "UPDATE log_entries SET subject = :s WHERE idx = :i", s=other["subject"], i=index)
    page = client.get(f"/v1/subjects/{other['subject']}").get_json()
    assert [e["entry"]["id"] for e in page["entries"]] == [other["id"]]
    assert page["active_strikes"] == []

    done = log_check(database_url, instance_dir)
    assert done.returncode == 1
    assert f"entry {index} ({mine['id']}): subject" in done.stderr
    with pytest.raises(IndexCorrupt, match=f"entry {index}"):
        restart(database_url, instance_dir)


def test_log_check_names_a_rewritten_rule_row_and_exits_2_without_a_database(
    client, auth, app, database_url, instance_dir, tmp_path
):
    decision = moderate(client, auth, "ruled")
    index = decision["receipt"]["index"]
    engine = runtime_of(app).engine
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS log_entry_rules_no_update")
        else:
            conn.exec_driver_sql("ALTER TABLE log_entry_rules DISABLE TRIGGER USER")
        conn.execute(text("UPDATE log_entry_rules SET rule = 'spam' WHERE idx = :i"), {"i": index})
    done = log_check(database_url, instance_dir)
    assert done.returncode == 1
    assert f"entry {index} ({decision['decision']['id']}): rules" in done.stderr

    missing = log_check(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}", instance_dir)
    assert missing.returncode == 2
    assert "cannot read the log" in missing.stderr


# --- the public monitor --------------------------------------------------------------


def _forge(root: Path, build) -> None:
    """Write a log whose entries are whatever ``build(append)`` appends, through the store
    API and signed with the instance's key, as a dishonest server would."""
    from audit_log.store import Log
    from service.clock import rfc3339, system_clock
    from service.storage.db import init_database, make_engine
    from service.storage.instance import init_instance, load_instance, signers_for

    root.mkdir(parents=True)
    url = f"sqlite:///{root / 'fairwitness.db'}"
    init_instance(root / "instance")
    init_database(url)
    engine = make_engine(url)
    log = Log(
        engine,
        "fairwitness.example/log",
        signers_for(load_instance(root / "instance"), "fairwitness.example/log"),
    )

    def append(body: dict) -> int:
        with log.append() as tx:
            appended = tx.add({**body, "time": tx.stamp(rfc3339(system_clock()))})
        return appended.index

    build(append)
    engine.dispose()


def _decision(n: int, weight: int, counted: list[tuple[int, int]], escalation=None) -> dict:
    return {
        "kind": "decision",
        "id": f"dec_{n:026d}",
        "app": "forum-example",
        "subject": "sub_" + "c" * 32,
        "policy": {"id": "civility", "version": "sha256:" + "0" * 64},
        "rules": [{"id": "threat", "action": "remove", "notice": "n", "labels": [], "spans": []}],
        "action": "remove" if escalation is None else escalation["action"],
        "strike": {"weight": weight, "expires_at": "2099-01-01T00:00:00.000000Z"},
        "escalation": escalation,
        "counted_strikes": {
            "strikes": [{"index": i, "weight": w} for i, w in counted],
            "complete": True,
        },
    }


def test_log_audit_fails_on_an_escalation_whose_strikes_do_not_add_up(tmp_path):
    from tests.service.test_tamper import LiveLog, audit

    def build(append):
        first = append(_decision(1, 1, []))
        # Suspends on a single strike of weight 1, claiming it weighed 5.
        append(
            _decision(
                2,
                1,
                [(first, 5)],
                {
                    "active_strikes": 6,
                    "threshold": 6,
                    "action": "suspend_account",
                    "ends_at": "2099-01-01T00:00:00.000000Z",
                },
            )
        )

    _forge(tmp_path / "log", build)
    live = LiveLog(tmp_path / "log")
    try:
        done = audit(live)
    finally:
        live.close()
    assert done.returncode == 1
    assert "audit failed: escalation: entry 1 (dec_" in done.stderr
    assert "counts entry 0 with weight 5, but that entry's strike weighs 1" in done.stderr


def test_log_audit_catches_a_strike_hidden_from_the_ladder_by_a_rewritten_column(tmp_path):
    """The server is fooled for one decision (the rewritten row no longer matches the
    author), but that decision says in its hashed body which strikes it counted, so the
    public monitor replaying the bodies names the one it left out."""
    from tests.service.test_tamper import LiveLog, audit

    live = LiveLog(tmp_path / "log")
    try:
        hidden = live.moderate(THREAT, subject="dodger")
        live.tamper(
            "UPDATE log_entries SET subject = 'sub_' || printf('%032d', 0) WHERE idx = ?",
            params=(hidden["receipt"]["index"],),
        )
        dodged = live.moderate(THREAT, subject="dodger")["decision"]
        assert dodged["escalation"] is None  # what the rewritten column bought
        done = audit(live)
    finally:
        live.close()
    assert done.returncode == 1
    assert "audit failed: escalation: entry " in done.stderr
    assert f"({dodged['id']}) says it counted every live strike" in done.stderr
    assert f"leaves out entries {hidden['receipt']['index']}" in done.stderr
