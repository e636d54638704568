"""Erasure on request: text and salt go, the decision and the log stay verifiable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from service.domain.idempotency import ERASED
from service.http.state import runtime_of
from service.storage.db import (
    appeal_statements,
    decision_content,
    idempotency_keys,
    init_database,
    make_engine,
)
from service.storage.instance import init_instance
from tests.conftest import LIBRARY, make_key
from tests.openapi_contract import assert_conforms

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))
SECRET_TEXT = "my neighbour Ada Quill at 12 Elm Street is an idiot"


def fairwitness(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
    return subprocess.run(
        [FAIRWITNESS, *args], env={**clean, **env}, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dict]:
    """A SQLite instance served over HTTP, and the environment its admin CLI runs with."""
    from service.http.app import create_app

    db = tmp_path / "fairwitness.db"
    url = f"sqlite:///{db}"
    inst = tmp_path / "instance"
    init_instance(inst)
    init_database(url)
    app = create_app({"database_url": url, "instance_dir": inst, "policy_dir": LIBRARY})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {
        "base": f"http://127.0.0.1:{server.server_port}",
        "url": url,
        "key": make_key(url, "forum-example", "client"),
        "env": {
            "FAIRWITNESS_DATABASE_URL": url,
            "FAIRWITNESS_INSTANCE_DIR": str(inst),
            "FAIRWITNESS_POLICY_DIR": str(LIBRARY),
        },
    }
    server.shutdown()
    thread.join(timeout=10)
    runtime_of(app).engine.dispose()


def moderate(instance: dict, text: str, subject: str = "ada") -> dict:
    resp = requests.post(
        f"{instance['base']}/v1/moderations",
        json={"text": text, "subject": subject},
        headers={"Authorization": f"Bearer {instance['key']}"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def content_row(instance: dict, decision_id: str):
    engine = make_engine(instance["url"])
    try:
        with engine.connect() as conn:
            return conn.execute(
                select(decision_content).where(decision_content.c.decision_id == decision_id)
            ).one()
    finally:
        engine.dispose()


def export(instance: dict) -> str:
    resp = requests.get(
        f"{instance['base']}/v1/log/entries", headers={"Accept": "application/x-ndjson"}, timeout=30
    )
    assert resp.status_code == 200
    return resp.text


def test_erase_removes_text_and_salt_and_logs_it(instance, tmp_path):
    doc = moderate(instance, SECRET_TEXT)
    moderate(instance, "something else entirely", subject="bob")
    decision_id = doc["decision"]["id"]
    before = content_row(instance, decision_id)
    assert before.text == SECRET_TEXT and before.salt == bytes.fromhex(
        doc["receipt"]["content_salt"]
    )

    erased = fairwitness("content", "erase", decision_id, env=instance["env"])
    assert erased.returncode == 0, erased.stderr
    erasure_id = erased.stdout.strip()
    assert erasure_id.startswith("era_")

    after = content_row(instance, decision_id)
    assert after.text is None and after.salt is None and after.erased_at

    view = requests.get(f"{instance['base']}/v1/decisions/{decision_id}", timeout=30).json()
    assert view["entry"] == doc["decision"]  # the decision entry itself is untouched
    related = [r["entry"] for r in view["related"]]
    assert [r["kind"] for r in related] == ["erasure"]
    erasure = related[0]
    assert erasure["id"] == erasure_id and erasure["ref"] == decision_id
    assert erasure["subject"] == doc["decision"]["subject"]
    assert erasure["app"] == "forum-example" and erasure["reason"] == "erasure request"
    assert erasure["time"] == after.erased_at
    assert set(erasure) == {"kind", "id", "time", "app", "subject", "ref", "reason"}

    # The public log never held the words, before or after.
    public = export(instance)
    for word in ("Ada", "Quill", "Elm Street", "idiot"):
        assert word not in public

    # The log still audits clean, the erasure entry included.
    state = tmp_path / "state.json"
    audited = fairwitness("log", "audit", "--url", instance["base"], "--state", str(state), env={})
    assert audited.returncode == 0, audited.stderr
    assert json.loads(state.read_text())["size"] == view["receipt"]["tree_size"]

    # The decision's receipt still verifies offline; the salt no longer links to any text.
    key = tmp_path / "log.key"
    key.write_text(requests.get(f"{instance['base']}/v1/log/key", timeout=30).text)
    saved = tmp_path / "decision.json"
    saved.write_text(json.dumps(doc))
    assert fairwitness("verify", str(saved), "--key", str(key), env={}).returncode == 0


def test_erase_also_erases_the_statements_of_appeals_against_the_decision(instance):
    # Both are acted on, so both come with an appeal token.
    doc = moderate(instance, "you are an idiot, Ada Quill of 12 Elm Street")
    other = moderate(instance, "I will hurt you, Ada Quill", subject="carol")
    statement = "I only quoted what Ada Quill of Elm Street said to me."
    filed = []
    for d in (doc, other):
        resp = requests.post(
            f"{instance['base']}/v1/appeals",
            json={
                "decision_id": d["decision"]["id"],
                "statement": statement,
                "token": d["appeal"]["token"],
            },
            timeout=30,
        )
        assert resp.status_code == 201, resp.text
        filed.append(resp.json()["id"])
    reviewer = make_key(instance["url"], "forum-example", "reviewer")

    def statements() -> dict[str, str | None]:
        resp = requests.get(
            f"{instance['base']}/v1/appeals?status=all",
            headers={"Authorization": f"Bearer {reviewer}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        return {a["id"]: a["statement"] for a in resp.json()["appeals"]}

    assert statements() == {filed[0]: statement, filed[1]: statement}
    erased = fairwitness("content", "erase", doc["decision"]["id"], env=instance["env"])
    assert erased.returncode == 0, erased.stderr
    # Only the erased decision's appeal loses its statement; the appeal itself stays.
    assert statements() == {filed[0]: None, filed[1]: statement}
    engine = make_engine(instance["url"])
    with engine.connect() as conn:
        row = conn.execute(
            select(appeal_statements).where(appeal_statements.c.appeal_id == filed[0])
        ).one()
    engine.dispose()
    assert row.statement is None
    assert row.erased_at == content_row(instance, doc["decision"]["id"]).erased_at


def test_a_second_erase_is_refused_and_appends_nothing(instance):
    decision_id = moderate(instance, SECRET_TEXT)["decision"]["id"]
    assert fairwitness("content", "erase", decision_id, env=instance["env"]).returncode == 0
    size = export(instance).count("\n")
    again = fairwitness("content", "erase", decision_id, env=instance["env"])
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.startswith(
        f"refused: the content of decision {decision_id} was already erased at "
    )
    assert export(instance).count("\n") == size


def test_unknown_decision_is_refused(instance):
    moderate(instance, "hello")
    size = export(instance).count("\n")
    for unknown in ("dec_00000000000000000000000000", "not-an-id"):
        done = fairwitness("content", "erase", unknown, env=instance["env"])
        assert done.returncode == 1
        assert done.stderr.strip() == f"refused: no decision {unknown} has content on this instance"
    assert export(instance).count("\n") == size


def test_erase_use_case_is_one_transaction(database_url, instance_dir, clock, monkeypatch):
    """If appending the entry fails, the content is not erased either (both backends)."""
    from service.domain.erasure import ErasureError, erase_content
    from service.http.app import create_app

    app = create_app(
        {"database_url": database_url, "instance_dir": instance_dir, "policy_dir": LIBRARY},
        clock=clock,
    )
    key = make_key(database_url, "forum-example", "client")
    resp = app.test_client().post(
        "/v1/moderations",
        json={"text": SECRET_TEXT, "subject": "a"},
        headers={"Authorization": f"Bearer {key}"},
    )
    decision_id = resp.get_json()["decision"]["id"]
    runtime = runtime_of(app)

    from audit_log import store

    def broken_add(self, body, rules=()):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(store.AppendTransaction, "add", broken_add)
        with pytest.raises(RuntimeError, match="disk full"):
            erase_content(decision_id, log=runtime.log, clock=clock)
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(decision_content).where(decision_content.c.decision_id == decision_id)
        ).one()
    assert row.text == SECRET_TEXT and row.erased_at is None

    erased = erase_content(decision_id, log=runtime.log, clock=clock)
    assert erased.body["ref"] == decision_id and erased.tree_size == erased.appended.index + 1
    with pytest.raises(ErasureError, match="already erased"):
        erase_content(decision_id, log=runtime.log, clock=clock)
    runtime.engine.dispose()


@pytest.fixture
def full_excerpt_app(database_url: str, tmp_path: Path) -> Iterator[dict]:
    """An instance on each backend whose policy publishes the whole text."""
    import shutil

    from service.http.app import create_app

    policy_dir = tmp_path / "policies"
    shutil.copytree(LIBRARY, policy_dir)
    civility = policy_dir / "civility.yaml"
    civility.write_text(
        civility.read_text().replace("\npublic_excerpt: none\n", "\npublic_excerpt: full\n")
    )
    inst = tmp_path / "instance"
    init_instance(inst)
    app = create_app({"database_url": database_url, "instance_dir": inst, "policy_dir": policy_dir})
    yield {
        "client": app.test_client(),
        "app": app,
        "url": database_url,
        "key": make_key(database_url, "forum-example", "client"),
        "env": {
            "FAIRWITNESS_DATABASE_URL": database_url,
            "FAIRWITNESS_INSTANCE_DIR": str(inst),
            "FAIRWITNESS_POLICY_DIR": str(policy_dir),
        },
    }
    runtime_of(app).engine.dispose()


def test_erase_removes_the_public_excerpt_and_content_ref_and_the_entry_still_verifies(
    full_excerpt_app, tmp_path
):
    client = full_excerpt_app["client"]
    resp = client.post(
        "/v1/moderations",
        json={"text": SECRET_TEXT, "subject": "ada", "content_ref": "post-ada-quill-17"},
        headers={"Authorization": f"Bearer {full_excerpt_app['key']}"},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert_conforms("/v1/moderations", "POST", resp)
    decision = resp.get_json()["decision"]
    # The hashed body holds a commitment, never the words.
    assert set(decision["excerpt"]) == {"commitment"}
    assert "Quill" not in json.dumps(decision)
    shown = client.get(f"/v1/decisions/{decision['id']}")
    assert_conforms("/v1/decisions/{decision_id}", "GET", shown)
    view = shown.get_json()
    assert view["excerpt"]["text"] == SECRET_TEXT and view["excerpt"]["erased_at"] is None
    assert "Ada Quill" in client.get(f"/decisions/{decision['id']}").get_data(as_text=True)

    erased = fairwitness("content", "erase", decision["id"], env=full_excerpt_app["env"])
    assert erased.returncode == 0, erased.stderr

    row = content_row({"url": full_excerpt_app["url"]}, decision["id"])
    assert (row.text, row.salt, row.content_ref, row.excerpt, row.excerpt_salt) == (None,) * 5
    shown = client.get(f"/v1/decisions/{decision['id']}")
    assert_conforms("/v1/decisions/{decision_id}", "GET", shown)
    after = shown.get_json()
    assert after["entry"] == view["entry"]
    assert after["excerpt"] == {"text": None, "salt": None, "erased_at": row.erased_at}
    page = client.get(f"/decisions/{decision['id']}").get_data(as_text=True)
    assert "Quill" not in page and "erased on request" in page
    key = tmp_path / "log.key"
    key.write_text(client.get("/v1/log/key").get_data(as_text=True))
    for name, doc in (("before.json", view), ("after.json", after)):
        (tmp_path / name).write_text(json.dumps(doc))
        checked = fairwitness("verify", str(tmp_path / name), "--key", str(key), env={})
        assert checked.returncode == 0, checked.stderr


def test_an_entry_logged_with_its_excerpt_inline_still_renders_and_verifies(
    full_excerpt_app, tmp_path
):
    """Entries from before excerpts were kept beside the log hold the excerpt string."""
    from service.clock import rfc3339, system_clock
    from service.domain.ids import new_id

    client = full_excerpt_app["client"]
    resp = client.post(
        "/v1/moderations",
        json={"text": "you are an idiot", "subject": "ada"},
        headers={"Authorization": f"Bearer {full_excerpt_app['key']}"},
    )
    assert resp.status_code == 201
    log = runtime_of(full_excerpt_app["app"]).log
    with log.append() as tx:
        now = system_clock()
        legacy = {
            **resp.get_json()["decision"],
            "id": new_id("dec", now),
            "time": tx.stamp(rfc3339(now)),
            "excerpt": "you are an idiot (logged inline)",
        }
        tx.add(legacy)
    view = client.get(f"/v1/decisions/{legacy['id']}")
    assert view.status_code == 200
    assert_conforms("/v1/decisions/{decision_id}", "GET", view)
    assert view.get_json()["entry"]["excerpt"] == legacy["excerpt"]
    assert view.get_json()["excerpt"] is None
    assert "(logged inline)" in client.get(f"/decisions/{legacy['id']}").get_data(as_text=True)
    key = tmp_path / "log.key"
    key.write_text(client.get("/v1/log/key").get_data(as_text=True))
    (tmp_path / "legacy.json").write_text(json.dumps(view.get_json()))
    checked = fairwitness("verify", str(tmp_path / "legacy.json"), "--key", str(key), env={})
    assert checked.returncode == 0, checked.stderr


def test_erase_forgets_the_idempotency_hash_of_the_request_and_a_retry_still_replays(instance):
    body = {"text": SECRET_TEXT, "subject": "ada"}
    headers = {"Authorization": f"Bearer {instance['key']}", "Idempotency-Key": "post-77"}
    url = f"{instance['base']}/v1/moderations"
    first = requests.post(url, json=body, headers=headers, timeout=30)
    assert first.status_code == 201, first.text
    decision_id = first.json()["decision"]["id"]
    other = requests.post(
        url,
        json={"text": "another post", "subject": "bob"},
        headers={**headers, "Idempotency-Key": "post-78"},
        timeout=30,
    )
    assert other.status_code == 201

    def recorded_hashes() -> dict[str, bytes]:
        engine = make_engine(instance["url"])
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(idempotency_keys.c.idem_key, idempotency_keys.c.request_hash)
                ).all()
        finally:
            engine.dispose()
        return {row.idem_key: bytes(row.request_hash) for row in rows}

    before = recorded_hashes()
    erased = fairwitness("content", "erase", decision_id, env=instance["env"])
    assert erased.returncode == 0, erased.stderr
    after = recorded_hashes()
    # The hash of the erased request could confirm a guess at its text: it is gone. The
    # other request's key is untouched.
    assert before["post-77"] != ERASED and after["post-77"] == ERASED
    assert after["post-78"] == before["post-78"]

    size = len(export(instance).splitlines())
    retry = requests.post(url, json=body, headers=headers, timeout=30)
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["decision"] == first.json()["decision"]
    assert retry.json()["receipt"]["content_salt"] is None  # erased with the text
    assert len(export(instance).splitlines()) == size
