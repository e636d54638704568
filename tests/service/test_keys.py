"""API key life cycle as an operator runs it: ``fairwitness keys`` in a real process, and
the HTTP API refusing revoked and expired keys from the very next request."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from service.http.state import runtime_of
from tests.conftest import LIBRARY, Clock
from tests.service.test_cli import run

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

MODERATION = {"text": "Have a lovely day", "subject": "user-1"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {
        "FAIRWITNESS_INSTANCE_DIR": str(tmp_path / "inst"),
        "FAIRWITNESS_DATABASE_URL": f"sqlite:///{tmp_path / 'fw.db'}",
        "FAIRWITNESS_POLICY_DIR": str(LIBRARY),
    }
    assert run(["init"], env).returncode == 0
    return env


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(env, clock):
    from service.http.app import create_app

    app = create_app(
        {
            "database_url": env["FAIRWITNESS_DATABASE_URL"],
            "instance_dir": Path(env["FAIRWITNESS_INSTANCE_DIR"]),
            "policy_dir": LIBRARY,
        },
        clock=clock,
    )
    yield app.test_client()
    runtime_of(app).engine.dispose()


def _create(env, *extra: str) -> tuple[str, str]:
    made = run(["keys", "create", "--app", "forum", "--role", "client", *extra], env)
    assert made.returncode == 0, made.stderr
    plaintext = made.stdout.strip()
    return f"key_{plaintext.split('_')[1]}", plaintext


def _log_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def _moderate(api, plaintext: str):
    return api.post(
        "/v1/moderations", json=MODERATION, headers={"Authorization": f"Bearer {plaintext}"}
    )


def test_list_shows_every_key_without_secrets(env):
    client_id, client_secret = _create(env)
    made = run(
        ["keys", "create", "--app", "mods", "--role", "reviewer", "--expires-in", "P30D"], env
    )
    reviewer_secret = made.stdout.strip()
    reviewer_id = f"key_{reviewer_secret.split('_')[1]}"

    table = run(["keys", "list"], env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "KEY_ID",
        "APP",
        "ROLE",
        "STATUS",
        "CREATED",
        "EXPIRES",
        "REVOKED",
        "LIMIT",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[client_id][1:4] == ["forum", "client", "active"]
    assert rows[client_id][5:] == ["-", "-", "-"]
    assert rows[reviewer_id][1:4] == ["mods", "reviewer", "active"]
    assert rows[reviewer_id][5] != "-"

    listed = run(["keys", "list", "--json"], env)
    docs = {d["key_id"]: d for d in json.loads(listed.stdout)}
    assert set(docs) == {client_id, reviewer_id}
    assert docs[reviewer_id]["expires_at"] > docs[reviewer_id]["created_at"]
    for output in (table.stdout + table.stderr, listed.stdout + listed.stderr):
        for secret in (client_secret, reviewer_secret):
            assert secret.split("_", 2)[2] not in output


def test_revoked_key_is_refused_at_once(env, api):
    key_id, plaintext = _create(env)
    assert _moderate(api, plaintext).status_code == 201

    revoked = run(["keys", "revoke", key_id], env)
    assert revoked.returncode == 0, revoked.stderr
    refused = _moderate(api, plaintext)
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")

    listed = {d["key_id"]: d for d in json.loads(run(["keys", "list", "--json"], env).stdout)}
    assert listed[key_id]["status"] == "revoked" and listed[key_id]["revoked_at"]
    # Revoking again keeps the first revocation time.
    again = run(["keys", "revoke", key_id.removeprefix("key_")], env)
    assert again.returncode == 0
    relisted = {d["key_id"]: d for d in json.loads(run(["keys", "list", "--json"], env).stdout)}
    assert relisted[key_id]["revoked_at"] == listed[key_id]["revoked_at"]


def test_revoking_an_unknown_key_fails(env):
    for key_id in ("key_0123456789ab", "not-a-key"):
        done = run(["keys", "revoke", key_id], env)
        assert done.returncode == 1
        assert done.stdout == ""


def test_expired_key_is_refused(env, api, clock):
    _, plaintext = _create(env, "--expires-in", "P30D")
    assert _moderate(api, plaintext).status_code == 201
    clock.advance(days=29)
    assert _moderate(api, plaintext).status_code == 201
    clock.advance(days=2)
    assert _moderate(api, plaintext).status_code == 401


@pytest.mark.parametrize("duration", ["30 days", "P0D", "-P1D", "P1.5D"])
def test_create_refuses_a_bad_duration(env, duration):
    made = run(
        ["keys", "create", "--app", "forum", "--role", "client", "--expires-in", duration], env
    )
    assert made.returncode == 2
    assert made.stdout == ""
    assert "--expires-in" in made.stderr


def test_every_key_action_is_logged_by_id_only(env, api, caplog):
    made = run(["keys", "create", "--app", "forum", "--role", "client", "--expires-in", "P1D"], env)
    plaintext = made.stdout.strip()
    key_id = f"key_{plaintext.split('_')[1]}"
    created = [d for d in _log_lines(made.stderr) if d.get("event") == "key_created"]
    assert created and created[0]["key_id"] == key_id and created[0]["logger"] == "fairwitness.keys"
    assert created[0]["role"] == "client" and created[0]["expires_at"]

    revoked = run(["keys", "revoke", key_id], env)
    events = [d for d in _log_lines(revoked.stderr) if d.get("event") == "key_revoked"]
    assert events and events[0]["key_id"] == key_id

    with caplog.at_level(logging.INFO, logger="fairwitness.keys"):
        assert _moderate(api, plaintext).status_code == 401
    refusals = [r for r in caplog.records if getattr(r, "event", None) == "key_refused"]
    assert refusals and refusals[0].key_id == key_id and refusals[0].reason == "revoked"

    secret = plaintext.split("_", 2)[2]
    for output in (made.stderr, revoked.stderr, caplog.text):
        assert secret not in output
