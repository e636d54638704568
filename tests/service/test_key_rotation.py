"""Signing-key rotation as an operator runs it, on SQLite and PostgreSQL.

The operator prepares a key and rotates with the ``fairwitness`` command while a server
(the app, built before the rotation) keeps running. Checkpoints before the rotation are
signed by the old key, during the overlap by both, after it by the new key alone;
receipts verify with the right keys through ``fairwitness verify``; a monitor that
pinned the old key audits clean across the rotation; a server that lacks the new key
refuses to append until the key file is copied to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from audit_log.checkpoint import Verifier, open_note, parse_note
from service.http.app import create_app
from service.http.state import runtime_of
from tests.conftest import LIBRARY, log_size

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))
THREAT = "I will hurt you"


def cli(database_url: str, instance_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
    env.update(FAIRWITNESS_DATABASE_URL=database_url, FAIRWITNESS_INSTANCE_DIR=str(instance_dir))
    return subprocess.run(
        [FAIRWITNESS, *args], env=env, capture_output=True, text=True, timeout=120
    )


def moderate(client, auth, subject: str = "ada") -> dict:
    resp = client.post("/v1/moderations", headers=auth, json={"text": THREAT, "subject": subject})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def signer_ids(note: str) -> list[str]:
    return [s.key_id.hex() for s in parse_note(note).signatures]


def key_id(vkey: str) -> str:
    return vkey.split("+")[1]


def verify(doc: dict, keys: list[str], tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    (tmp_path / f"{name}.key").write_text("".join(k + "\n" for k in keys))
    return subprocess.run(
        [
            FAIRWITNESS,
            "verify",
            str(tmp_path / f"{name}.json"),
            "--key",
            str(tmp_path / f"{name}.key"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def served(app) -> Iterator[str]:
    """The app behind a real HTTP server on 127.0.0.1, for ``fairwitness log audit``."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_rotation_with_overlap_then_new_key_alone(
    app, client, auth, database_url, instance_dir, clock, served, tmp_path
):
    old_key = client.get("/v1/log/key").get_data(as_text=True).strip()
    before = moderate(client, auth)
    state = tmp_path / "monitor.json"
    (tmp_path / "old.key").write_text(old_key + "\n")
    first = subprocess.run(
        [
            FAIRWITNESS,
            "log",
            "audit",
            "--url",
            served,
            "--key",
            str(tmp_path / "old.key"),
            "--state",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr

    # The operator prepares the key (a file to copy to every host), then rotates.
    prepared = cli(database_url, instance_dir, "log", "rotate-key", "--prepare")
    assert prepared.returncode == 0, prepared.stderr
    new_key = prepared.stdout.strip()
    assert (instance_dir / "signing-keys" / f"{key_id(new_key)}.pem").exists()
    assert client.get("/v1/log/key").get_data(as_text=True) == old_key + "\n"
    rotated = cli(database_url, instance_dir, "log", "rotate-key", "--overlap", "P7D")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == new_key
    assert "signs beside it until" in rotated.stderr
    events = [json.loads(line) for line in rotated.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "signing_key_rotated" for e in events)
    assert "PRIVATE KEY" not in rotated.stderr + rotated.stdout + prepared.stderr
    assert '"event": "signing_key_prepared"' in prepared.stderr

    # The rotation is itself a public log entry.
    entries = client.get("/v1/log/entries?kind=key_rotation").get_json()["entries"]
    assert len(entries) == 1
    rotation = entries[0]["entry"]
    assert rotation["key"] == new_key and rotation["previous_key"] == old_key

    # The running server picks the rotation up on its next append: both keys sign.
    during = moderate(client, auth)
    assert signer_ids(during["receipt"]["checkpoint"]) == [key_id(new_key), key_id(old_key)]
    listing = client.get("/v1/log/key")
    assert listing.mimetype == "text/plain"
    assert listing.get_data(as_text=True) == f"{new_key}\n{old_key}\n"
    keys = client.get("/v1/log/key", headers={"Accept": "application/json"}).get_json()
    assert [(k["verifier_key"], k["status"]) for k in keys["keys"]] == [
        (new_key, "current"),
        (old_key, "retiring"),
    ]
    assert keys["keys"][0]["valid_from"] == rotation["time"]
    assert keys["keys"][1]["signs_until"] == rotation["previous_signs_until"]
    assert keys["keys"][1]["valid_from"] is None
    assert keys["keys"][0]["log_index"] == entries[0]["index"]

    # A receipt from the overlap verifies with either key alone.
    for keyset in ([old_key], [new_key]):
        done = verify(during, keyset, tmp_path, "during")
        assert done.returncode == 0, done.stderr
    assert verify(before, [old_key], tmp_path, "before").returncode == 0
    assert verify(before, [new_key], tmp_path, "before-new").returncode == 1

    # After the overlap the old key no longer signs.
    clock.advance(days=8)
    after = moderate(client, auth, subject="bo")
    assert signer_ids(after["receipt"]["checkpoint"]) == [key_id(new_key)]
    assert verify(after, [new_key], tmp_path, "after").returncode == 0
    failed = verify(after, [old_key], tmp_path, "after-old")
    assert failed.returncode == 1 and "checkpoint_signature" in failed.stderr
    statuses = client.get("/v1/log/key", headers={"Accept": "application/json"}).get_json()
    assert [k["status"] for k in statuses["keys"]] == ["current", "retired"]

    # Old checkpoints still verify with the old key: each stored note is unchanged.
    for size in (1, before["receipt"]["tree_size"]):
        note = client.get(f"/v1/log/checkpoints?after={size - 1}&limit=1").get_json()
        open_note(note["checkpoints"][0]["note"], [Verifier.from_key(old_key)])

    # A monitor that pinned the old key learns the new one from the log and passes.
    again = subprocess.run(
        [FAIRWITNESS, "log", "audit", "--url", served, "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(state.read_text())["verifier_keys"] == [old_key, new_key]
    # The JSON key list serves as a key file too.
    (tmp_path / "list.json").write_text(json.dumps(keys))
    done = subprocess.run(
        [
            FAIRWITNESS,
            "verify",
            str(tmp_path / "during.json"),
            "--key",
            str(tmp_path / "list.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # With the key list, a checkpoint signed only by keys retired before the entry fails.
    retired = {
        "origin": keys["origin"],
        "keys": [{**keys["keys"][1], "signs_until": before["decision"]["time"]}],
    }
    (tmp_path / "retired.json").write_text(json.dumps(retired))
    done = subprocess.run(
        [
            FAIRWITNESS,
            "verify",
            str(tmp_path / "during.json"),
            "--key",
            str(tmp_path / "retired.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "checkpoint_signature: the checkpoint is signed only by keys retired" in done.stderr


def test_a_second_rotation_and_a_zero_overlap(client, auth, database_url, instance_dir):
    moderate(client, auth)
    first = cli(database_url, instance_dir, "log", "rotate-key", "--overlap", "PT0S")
    assert first.returncode == 0, first.stderr
    second = cli(database_url, instance_dir, "log", "rotate-key")
    assert second.returncode == 0, second.stderr
    keys = [first.stdout.strip(), second.stdout.strip()]
    # With no overlap the old key signed only the rotation's own checkpoint.
    note = moderate(client, auth)["receipt"]["checkpoint"]
    assert signer_ids(note) == [key_id(keys[1]), key_id(keys[0])]
    listing = client.get("/v1/log/key").get_data(as_text=True).splitlines()
    assert listing[:2] == [keys[1], keys[0]] and len(listing) == 3
    bad = cli(database_url, instance_dir, "log", "rotate-key", "--overlap", "soon")
    assert bad.returncode == 2 and "--overlap" in bad.stderr


def test_a_server_without_the_new_key_refuses_to_append(
    app, client, auth, database_url, instance_dir, clock, tmp_path
):
    # A second host: the same database and instance, but no copy of the new key yet.
    other_dir = tmp_path / "other-host"
    shutil.copytree(instance_dir, other_dir)
    other = create_app(
        {"database_url": database_url, "instance_dir": other_dir, "policy_dir": LIBRARY},
        clock=clock,
    )
    try:
        other_client = other.test_client()
        moderate(other_client, auth)
        rotated = cli(database_url, instance_dir, "log", "rotate-key")
        assert rotated.returncode == 0, rotated.stderr
        size = log_size(app)
        resp = other_client.post(
            "/v1/moderations", headers=auth, json={"text": THREAT, "subject": "ada"}
        )
        assert resp.status_code == 503
        assert resp.mimetype == "application/problem+json"
        assert resp.get_json()["type"].endswith("/signing-key-missing")
        assert log_size(app) == size
        ready = other_client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["checks"]["signing_keys"] is False
        assert client.get("/readyz").get_json()["checks"]["signing_keys"] is True

        # Copying the key file in is enough: no restart.
        name = f"{key_id(rotated.stdout.strip())}.pem"
        (other_dir / "signing-keys").mkdir()
        shutil.copy(instance_dir / "signing-keys" / name, other_dir / "signing-keys" / name)
        note = moderate(other_client, auth)["receipt"]["checkpoint"]
        assert key_id(rotated.stdout.strip()) in signer_ids(note)
        assert other_client.get("/readyz").status_code == 200
    finally:
        runtime_of(other).engine.dispose()
