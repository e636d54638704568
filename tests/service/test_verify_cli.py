"""``fairwitness verify`` as a stranger runs it: a saved response, a key file, nothing else.

The command runs in a fresh process with every FAIRWITNESS_* variable unset, in an empty
working directory, with sockets disabled: it must need no instance, database or network.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))

# Imported first by the child interpreter (via PYTHONPATH): any socket use fails loudly.
NO_NETWORK = """
import socket

def _refuse(*args, **kwargs):
    raise RuntimeError("fairwitness verify tried to use the network")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


@pytest.fixture
def offline(tmp_path: Path):
    """Run ``fairwitness verify`` offline; returns a runner."""
    site = tmp_path / "offline-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    workdir = tmp_path / "stranger"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
    env["PYTHONPATH"] = str(site)

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [FAIRWITNESS, "verify", *args],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "tried to use the network" not in done.stderr
        assert list(workdir.iterdir()) == [], "verify wrote files"
        return done

    return run


@pytest.fixture
def saved(client, auth, tmp_path: Path) -> dict:
    """A few real moderations; the third response and the log's key saved to files."""
    docs = []
    for i in range(5):
        resp = client.post(
            "/v1/moderations",
            headers=auth,
            json={"text": "I will hurt you" if i == 2 else f"hello {i}", "subject": f"user-{i}"},
        )
        assert resp.status_code == 201
        docs.append(resp.get_json())
    key = client.get("/v1/log/key").get_data(as_text=True)
    key_file = tmp_path / "fairwitness.key"
    key_file.write_text(key)
    view = client.get(f"/v1/decisions/{docs[2]['decision']['id']}").get_json()
    return {"doc": docs[2], "view": view, "key": key_file, "dir": tmp_path}


def write(saved: dict, name: str, doc) -> Path:
    path = saved["dir"] / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_a_saved_moderation_verifies(offline, saved):
    doc = saved["doc"]
    done = offline(str(write(saved, "response.json", doc)), "--key", str(saved["key"]))
    assert done.returncode == 0, done.stderr
    receipt = doc["receipt"]
    key_name = saved["key"].read_text().split("+")[0]
    assert done.stdout.strip().startswith(
        f"decision {doc['decision']['id']} is entry {receipt['index']} of the log "
        f"fairwitness.example/log, in the tree of size {receipt['tree_size']} signed by "
        f"{key_name}+"
    )


def test_a_saved_decision_view_verifies(offline, saved):
    view = saved["view"]
    assert view["receipt"]["tree_size"] > saved["doc"]["receipt"]["tree_size"]
    done = offline(str(write(saved, "view.json", view)), "--key", str(saved["key"]))
    assert done.returncode == 0, done.stderr
    assert f"is entry {view['receipt']['index']} " in done.stdout


def _flip_hex(value: str) -> str:
    return ("1" if value[0] == "0" else "0") + value[1:]


def _alter_index(d):
    d["receipt"]["index"] = d["receipt"]["index"] - 1


def _alter_leaf(d):
    d["receipt"]["leaf_hash"] = _flip_hex(d["receipt"]["leaf_hash"])


def _alter_size(d):
    d["receipt"]["tree_size"] += 1


def _alter_proof(d):
    d["receipt"]["inclusion_proof"][0] = _flip_hex(d["receipt"]["inclusion_proof"][0])


def _alter_checkpoint_root(d):
    origin, size, root, *rest = d["receipt"]["checkpoint"].split("\n")
    raw = bytearray(base64.b64decode(root))
    raw[0] ^= 1
    d["receipt"]["checkpoint"] = "\n".join(
        [origin, size, base64.b64encode(bytes(raw)).decode(), *rest]
    )


def _alter_checkpoint_size(d):
    lines = d["receipt"]["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    d["receipt"]["checkpoint"] = "\n".join(lines)


def _alter_body_byte(d):
    notice = d["decision"]["notice"]
    d["decision"]["notice"] = chr(ord(notice[0]) ^ 1) + notice[1:]


def _alter_action(d):
    d["decision"]["action"] = "allow"


@pytest.mark.parametrize(
    ("alter", "check"),
    [
        (_alter_index, "inclusion_proof"),
        (_alter_leaf, "leaf_hash"),
        (_alter_size, "tree_size"),
        (_alter_proof, "inclusion_proof"),
        (_alter_checkpoint_root, "checkpoint_signature"),
        (_alter_checkpoint_size, "checkpoint_signature"),
        (_alter_body_byte, "leaf_hash"),
        (_alter_action, "leaf_hash"),
    ],
)
def test_any_alteration_fails_naming_the_check(offline, saved, alter, check):
    doc = copy.deepcopy(saved["doc"])
    alter(doc)
    done = offline(str(write(saved, "altered.json", doc)), "--key", str(saved["key"]))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    message = done.stderr.strip()
    assert message.startswith(f"verification failed: {check}: "), message
    assert f"in tree size {doc['receipt']['tree_size']}" in message


def test_another_logs_key_is_refused(offline, saved, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit_log.checkpoint import Signer

    stranger = tmp_path / "stranger.key"
    stranger.write_text(
        Signer("fairwitness.example/log", Ed25519PrivateKey.generate()).verifier_key() + "\n"
    )
    done = offline(str(write(saved, "response.json", saved["doc"])), "--key", str(stranger))
    assert done.returncode == 1
    assert "checkpoint_signature" in done.stderr and "no valid signature" in done.stderr


@pytest.mark.parametrize(
    "content",
    [
        "this is not json at all",
        "",
        "[1, 2, 3]",
        '{"decision": {"id": "dec_x"}}',
        '{"receipt": {}}',
    ],
)
def test_unreadable_input_exits_2(offline, saved, content):
    done = offline(str(write(saved, "garbage.json", content)), "--key", str(saved["key"]))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ")


def test_garbage_bytes_and_missing_files_exit_2(offline, saved):
    path = saved["dir"] / "binary.json"
    path.write_bytes(os.urandom(256))
    assert offline(str(path), "--key", str(saved["key"])).returncode == 2
    response = write(saved, "response.json", saved["doc"])
    assert offline(str(saved["dir"] / "nope.json"), "--key", str(saved["key"])).returncode == 2
    assert offline(str(response), "--key", str(saved["dir"] / "nope.key")).returncode == 2
    bad_key = write(saved, "bad.key", "not a key\n")
    done = offline(str(response), "--key", str(bad_key))
    assert done.returncode == 2 and "line 1" in done.stderr


def test_malformed_receipt_field_is_a_failed_check(offline, saved):
    doc = copy.deepcopy(saved["doc"])
    doc["receipt"]["index"] = "three"
    done = offline(str(write(saved, "odd.json", doc)), "--key", str(saved["key"]))
    assert done.returncode == 1
    assert "receipt: index must be a non-negative integer" in done.stderr


def test_log_key_prints_the_served_key_for_the_key_file(
    client, instance_dir, database_url, tmp_path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
    printed = subprocess.run(
        [FAIRWITNESS, "log", "key"],
        env={
            **env,
            "FAIRWITNESS_INSTANCE_DIR": str(instance_dir),
            "FAIRWITNESS_DATABASE_URL": database_url,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == client.get("/v1/log/key").get_data(as_text=True)
    missing = subprocess.run(
        [FAIRWITNESS, "log", "key"],
        env={**env, "FAIRWITNESS_INSTANCE_DIR": str(tmp_path / "nowhere")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1
    assert "fairwitness init" in missing.stderr and missing.stdout == ""
