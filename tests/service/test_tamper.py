"""Rewriting the stored log behind the service's back is caught by the public tools.

A real HTTP server on 127.0.0.1 serves a SQLite instance; an operator with write access
to the database file drops the append-only triggers and rewrites the log. The monitor
(``fairwitness log audit``) and the receipt checker (``fairwitness verify``), run as
processes that see only the public API and saved files, must name what was done.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from service.http.state import runtime_of
from service.storage.db import init_database
from service.storage.instance import init_instance
from tests.conftest import LIBRARY, make_key

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))
APPEND_ONLY = ("log_entries", "log_entry_rules", "log_hashes", "log_checkpoints")


class LiveLog:
    """A Fair Witness instance on a SQLite file, served over HTTP from a thread."""

    def __init__(self, root: Path, instance_dir: Path | None = None) -> None:
        from service.http.app import create_app

        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.db = root / "fairwitness.db"
        self.url_db = f"sqlite:///{self.db}"
        self.instance = instance_dir or root / "instance"
        init_instance(self.instance)
        init_database(self.url_db)
        self.app = create_app(
            {"database_url": self.url_db, "instance_dir": self.instance, "policy_dir": LIBRARY}
        )
        self.key = make_key(self.url_db, "forum-example", "client")
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        runtime_of(self.app).engine.dispose()

    def moderate(self, text: str, subject: str = "someone") -> dict:
        resp = requests.post(
            f"{self.url}/v1/moderations",
            json={"text": text, "subject": subject},
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=30)

    def tamper(self, *statements: str, params: tuple = ()) -> None:
        """Rewrite the database file directly, as someone with disk access could."""
        con = sqlite3.connect(self.db)
        try:
            for table in APPEND_ONLY:
                for verb in ("update", "delete"):
                    con.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
            for statement in statements:
                con.execute(statement, params if "?" in statement else ())
            con.commit()
        finally:
            con.close()


def fairwitness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
    return subprocess.run(
        [FAIRWITNESS, *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def audit(live: LiveLog, *extra: str) -> subprocess.CompletedProcess:
    return fairwitness("log", "audit", "--url", live.url, *extra)


def verify(doc: dict, key_file: Path, tmp: Path, name: str = "doc.json"):
    path = tmp / name
    path.write_text(json.dumps(doc))
    return fairwitness("verify", str(path), "--key", str(key_file))


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveLog]:
    server = LiveLog(tmp_path / "log")
    yield server
    server.close()


@pytest.fixture
def history(live: LiveLog, tmp_path: Path) -> dict:
    """Twelve moderations (each its own append and checkpoint), the key, a clean audit."""
    docs = [
        live.moderate(
            "I will hurt you" if i % 4 == 1 else f"a friendly post {i}", subject=f"user-{i % 3}"
        )
        for i in range(12)
    ]
    key_file = tmp_path / "log.key"
    key_file.write_text(live.get("/v1/log/key").text)
    state = tmp_path / "state.json"
    first = audit(live, "--state", str(state), "--key", str(key_file))
    assert first.returncode == 0, first.stderr
    return {"docs": docs, "key": key_file, "state": state}


def test_a_clean_log_audits_clean_again_and_again(live, tmp_path):
    docs = [live.moderate(f"hello {i}") for i in range(5)]
    state = tmp_path / "monitor" / "state.json"
    first = audit(live, "--state", str(state))
    assert first.returncode == 0, first.stderr
    assert "warning: trusting the key" in first.stderr  # trust on first use, said aloud
    size = docs[-1]["receipt"]["tree_size"]
    assert first.stdout.startswith(
        f"ok: log fairwitness.example/log at {live.url}: {size} "
        f"entries and {size} checkpoints verified"
    )
    saved = json.loads(state.read_text())
    assert saved["size"] == size
    assert saved["verifier_keys"] == [live.get("/v1/log/key").text.strip()]
    for i in range(3):
        live.moderate(f"more {i}")
    again = audit(live, "--state", str(state))
    assert again.returncode == 0, again.stderr
    assert "warning" not in again.stderr  # the key is pinned by the state now
    assert f"consistent with the previous run at size {size}" in again.stdout
    assert json.loads(state.read_text())["size"] == size + 3


def test_a_pinned_key_of_another_log_fails_every_checkpoint(live, tmp_path):
    live.moderate("hello")
    other = LiveLog(tmp_path / "other")
    try:
        key = tmp_path / "other.key"
        key.write_text(other.get("/v1/log/key").text)
    finally:
        other.close()
    done = audit(live, "--key", str(key))
    assert done.returncode == 1
    # The log's own checkpoints verify with the keys it serves, but none is signed by
    # the pinned key: the very first one fails.
    assert (
        "audit failed: checkpoint_signature: checkpoint 1 (newest entry at " in done.stderr
        and "carries no signature by a trusted key valid then" in done.stderr
    )


def test_a_changed_byte_in_a_body(live, history, tmp_path):
    doc = history["docs"][5]
    index, decision_id = doc["receipt"]["index"], doc["decision"]["id"]
    live.tamper(
        'UPDATE log_entries SET body = replace(body, \'"notice":"Your\', '
        '\'"notice":"Yous\') WHERE idx = ?',
        params=(index,),
    )

    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"audit failed: leaf_hash: entry {index} ({decision_id}): body does not match its "
        f"leaf hash" + done.stderr.strip().split("leaf hash", 1)[1]
    )
    # The receipt saved before still verifies: what was signed stays provable...
    assert verify(doc, history["key"], tmp_path).returncode == 0
    # ...while what the server shows now fails, whether read whole or with the old receipt.
    view = live.get(f"/v1/decisions/{decision_id}").json()
    served = verify(view, history["key"], tmp_path, "view.json")
    assert served.returncode == 1 and "leaf_hash" in served.stderr
    mixed = verify(
        {"decision": view["entry"], "receipt": doc["receipt"]},
        history["key"],
        tmp_path,
        "mixed.json",
    )
    assert mixed.returncode == 1
    assert mixed.stderr.startswith("verification failed: leaf_hash: ")


def test_a_changed_body_with_a_matching_leaf_hash(live, history, tmp_path):
    """A careful rewriter recomputes the leaf hash: the signed checkpoints still differ."""
    import hashlib

    doc = history["docs"][6]
    index, decision_id = doc["receipt"]["index"], doc["decision"]["id"]
    con = sqlite3.connect(live.db)
    body = con.execute("SELECT body FROM log_entries WHERE idx = ?", (index,)).fetchone()[0]
    con.close()
    forged = body.replace('"action":"', '"action":"x', 1)
    leaf = hashlib.sha256(b"\x00" + forged.encode()).digest()
    live.tamper(
        "UPDATE log_entries SET body = ?, leaf_hash = ? WHERE idx = ?", params=(forged, leaf, index)
    )

    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 1
    assert (
        f"checkpoint_root: checkpoint {index + 1} root differs from the recomputed tree"
        in done.stderr
    )
    assert (
        f"entry {index} ({decision_id}) is the only entry since the last matching tree"
        in done.stderr
    )
    mixed = verify(
        {"decision": json.loads(forged), "receipt": doc["receipt"]}, history["key"], tmp_path
    )
    assert mixed.returncode == 1 and "leaf_hash" in mixed.stderr
    view = live.get(f"/v1/decisions/{decision_id}").json()
    served = verify(view, history["key"], tmp_path, "view.json")
    assert served.returncode == 1 and "inclusion_proof" in served.stderr


def test_the_last_entry_deleted(live, history, tmp_path):
    last = history["docs"][-1]
    index = last["receipt"]["index"]
    live.tamper("DELETE FROM log_entry_rules WHERE idx = ?", params=(index,))
    live.tamper("DELETE FROM log_entries WHERE idx = ?", params=(index,))
    done = audit(live, "--key", str(history["key"]))
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"audit failed: missing_entry: missing entry {index}: the latest checkpoint covers "
        f"{index + 1} entries, the log served {index}"
    )


def test_the_last_entry_rewritten_away(live, history, tmp_path):
    """Entry, hashes, checkpoint and head all rolled back: only a saved state shows it."""
    from audit_log import merkle

    last = history["docs"][-1]
    index = last["receipt"]["index"]
    first_hash = merkle.stored_hash_count(index)
    con = sqlite3.connect(live.db)
    old_root = con.execute("SELECT root FROM log_checkpoints WHERE size = ?", (index,)).fetchone()[
        0
    ]
    con.close()
    live.tamper(
        f"DELETE FROM log_entry_rules WHERE idx = {index}",
        f"DELETE FROM log_entries WHERE idx = {index}",
        f"DELETE FROM log_hashes WHERE idx >= {first_hash}",
        f"DELETE FROM log_checkpoints WHERE size > {index}",
        "UPDATE log_head SET size = ?, root = ? WHERE id = 1",
        params=(index, old_root),
    )

    assert audit(live, "--key", str(history["key"])).returncode == 0  # tidy, shorter log
    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"audit failed: fork: the log's latest checkpoint is for size {index}, but a previous "
        f"run saw size {index + 1}: the tree shrank"
    )
    assert live.get(f"/v1/decisions/{last['decision']['id']}").status_code == 404
    # The author's receipt still proves the server signed a tree holding the decision.
    kept = verify(last, history["key"], tmp_path)
    assert kept.returncode == 0 and f"in the tree of size {index + 1}" in kept.stdout


def test_two_bodies_swapped(live, history, tmp_path):
    a, b = history["docs"][3], history["docs"][8]
    ia, ib = a["receipt"]["index"], b["receipt"]["index"]
    live.tamper(
        f"CREATE TEMP TABLE swap AS SELECT idx, body FROM log_entries WHERE idx IN ({ia}, {ib})",
        f"UPDATE log_entries SET body = (SELECT body FROM swap WHERE idx = {ib}) WHERE idx = {ia}",
        f"UPDATE log_entries SET body = (SELECT body FROM swap WHERE idx = {ia}) WHERE idx = {ib}",
    )
    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"audit failed: leaf_hash: entry {ia} ({b['decision']['id']}): body does not match "
        f"its leaf hash"
    )
    view = live.get(f"/v1/decisions/{a['decision']['id']}").json()
    assert view["entry"]["id"] == b["decision"]["id"]
    served = verify(view, history["key"], tmp_path)
    assert served.returncode == 1 and "leaf_hash" in served.stderr
    mixed = verify(
        {"decision": view["entry"], "receipt": a["receipt"]}, history["key"], tmp_path, "mixed.json"
    )
    assert mixed.returncode == 1 and "leaf_hash" in mixed.stderr


def test_a_forked_log_under_the_same_key(live, history, tmp_path):
    """A second log signed by the same key is served to a monitor that saw the first."""
    old_size = history["docs"][-1]["receipt"]["tree_size"]
    fork = LiveLog(tmp_path / "fork", instance_dir=live.instance)
    try:
        fork_docs = [fork.moderate(f"another history {i}") for i in range(old_size + 3)]
        assert fork.get("/v1/log/key").text == history["key"].read_text()
        fresh = audit(fork, "--key", str(history["key"]))
        assert fresh.returncode == 0, fresh.stderr  # on its own, the fork is a fine log

        done = audit(fork, "--state", str(history["state"]))
        assert done.returncode == 1
        expected_old = json.loads(history["state"].read_text())["root"]
        assert f"audit failed: fork: at size {old_size} the log's root is " in done.stderr
        assert f"but a previous run saw {expected_old}" in done.stderr
        # Receipts from both histories verify under the one key: together they are the
        # evidence that the log showed two different trees.
        old = verify(history["docs"][-1], history["key"], tmp_path, "old.json")
        new = verify(fork_docs[-1], history["key"], tmp_path, "new.json")
        assert old.returncode == 0 and new.returncode == 0
    finally:
        fork.close()


def test_a_corrupted_stored_hash(live, history, tmp_path):
    """The entries are intact but an interior hash the proofs use is not."""
    from audit_log import merkle

    old_size = history["docs"][-1]["receipt"]["tree_size"]
    later = [live.moderate(f"later post {i}") for i in range(3)]
    new_size = later[-1]["receipt"]["tree_size"]
    target = merkle.tree_proof_indexes(new_size, old_size)[0]
    live.tamper("UPDATE log_hashes SET hash = ? WHERE idx = ?", params=(b"\x07" * 32, target))

    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"audit failed: consistency_proof: the server's consistency proof from size "
        f"{old_size} to {new_size} does not verify: "
    )
    # Receipts served from now on carry proofs built from the corrupt hash.
    broken = []
    for doc in history["docs"] + later:
        view = live.get(f"/v1/decisions/{doc['decision']['id']}").json()
        done = verify(view, history["key"], tmp_path, "view.json")
        if done.returncode:
            assert "inclusion_proof" in done.stderr
            broken.append(doc["receipt"]["index"])
    assert broken, "no served receipt used the corrupted hash"


def test_unreachable_server_exits_2(tmp_path):
    done = fairwitness("log", "audit", "--url", "http://127.0.0.1:9", "--timeout", "3")
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot fetch http://127.0.0.1:9/v1/log/")


def test_a_deleted_historical_checkpoint(live, history, tmp_path):
    """A signed checkpoint a previous run verified is deleted from the log's history:
    the entries and every remaining checkpoint still verify, but the saved state
    remembers how many checkpoints it was listed and a hash chain over them."""
    doomed = history["docs"][4]["receipt"]["tree_size"]
    live.tamper("DELETE FROM log_checkpoints WHERE size = ?", params=(doomed,))
    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 1
    size = history["docs"][-1]["receipt"]["tree_size"]
    assert done.stderr.startswith(
        f"audit failed: checkpoints: the log lists {size - 1} signed checkpoints up to size "
        f"{size}, but a previous run verified {size}: checkpoints it relied on were deleted"
    )


def test_a_state_saved_before_checkpoints_were_counted_still_audits(live, history, tmp_path):
    state = json.loads(history["state"].read_text())
    assert state["checkpoints"] == history["docs"][-1]["receipt"]["tree_size"]
    for field in ("checkpoints", "checkpoints_digest"):
        del state[field]
    history["state"].write_text(json.dumps(state))
    live.moderate("one more friendly post")
    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 0, done.stderr
    assert json.loads(history["state"].read_text())["checkpoints"] == state["size"] + 1


def test_the_newest_checkpoints_deleted(live, history, tmp_path):
    size = history["docs"][-1]["receipt"]["tree_size"]
    live.tamper("DELETE FROM log_checkpoints WHERE size > ?", params=(size - 2,))
    done = audit(live, "--state", str(history["state"]))
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"audit failed: fork: the log's latest checkpoint is for size {size - 2}, but a "
        f"previous run saw size {size}: the tree shrank"
    )
