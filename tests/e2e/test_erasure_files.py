"""Erasure leaves no copy the service controls: a real gunicorn serves an instance whose
policy publishes full excerpts, an operator runs ``fairwitness content erase``, and no
file of the instance directory (database, write-ahead log, shared memory, append lock,
server log, keys) holds a byte of what was erased, while every file stays private and
the log still verifies."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import requests

from tests.conftest import LIBRARY
from tests.e2e.servers import BIN, Gunicorn, fairwitness, new_instance

# Words no policy, template or lexicon holds, one per thing erasure must remove.
TEXT_MARK = "Quetzalpangolin"
STATEMENT_MARK = "Axolotlmarmoset"
REF_MARK = "post-Okapinarwhal"
# Posted too but never erased: proves the search below would find a marker on disk.
KEPT_MARK = "Capybarafennec"


def _full_excerpt_policies(tmp_path: Path) -> Path:
    policy_dir = tmp_path / "policies"
    shutil.copytree(LIBRARY, policy_dir)
    civility = policy_dir / "civility.yaml"
    source = civility.read_text()
    assert "\npublic_excerpt: none\n" in source
    civility.write_text(source.replace("\npublic_excerpt: none\n", "\npublic_excerpt: full\n"))
    return policy_dir


def _files_holding(directory: Path, marker: str) -> list[str]:
    return sorted(
        str(path.relative_to(directory))
        for path in directory.rglob("*")
        if path.is_file() and marker.encode() in path.read_bytes()
    )


def _open_modes(directory: Path) -> dict[str, str]:
    """Every path under ``directory`` (itself included) that the group or others may use."""
    paths = [directory, *directory.rglob("*")]
    return {
        str(path): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in paths
        if stat.S_IMODE(path.lstat().st_mode) & 0o077
    }


def test_erasure_leaves_no_copy_in_the_instance_directory(tmp_path):
    instance_dir = tmp_path / "instance"
    database_url = f"sqlite:///{instance_dir / 'fairwitness.db'}"
    env, key = new_instance(
        instance_dir, database_url, policy_dir=str(_full_excerpt_policies(tmp_path))
    )
    server = Gunicorn(env, log_path=instance_dir / "gunicorn.log")
    base = server.start(timeout=180)
    auth = {"Authorization": f"Bearer {key}"}
    try:
        posted = {}
        for subject, mark, ref in (("ada", TEXT_MARK, REF_MARK), ("bob", KEPT_MARK, "post-1")):
            text = f"I will find you and hurt you, {mark}"
            resp = requests.post(
                f"{base}/v1/moderations",
                json={"text": text, "subject": subject, "content_ref": ref},
                headers=auth,
                timeout=30,
            )
            assert resp.status_code == 201, resp.text
            posted[mark] = (text, resp.json())
        text, answer = posted[TEXT_MARK]
        decision_id = answer["decision"]["id"]
        # The hashed body commits to the excerpt; the text is served beside it.
        assert set(answer["decision"]["excerpt"]) == {"commitment"}
        assert TEXT_MARK not in json.dumps(answer["decision"])
        appeal = requests.post(
            f"{base}/v1/appeals",
            json={
                "decision_id": decision_id,
                "token": answer["appeal"]["token"],
                "statement": f"I was quoting {STATEMENT_MARK}, not threatening anyone.",
            },
            timeout=30,
        )
        assert appeal.status_code == 201, appeal.text

        view = requests.get(f"{base}/v1/decisions/{decision_id}", timeout=30).json()
        assert view["excerpt"]["text"] == text
        assert view["excerpt"]["erased_at"] is None
        assert text in requests.get(f"{base}/decisions/{decision_id}", timeout=30).text
        key_file = tmp_path / "log.key"
        key_file.write_text(requests.get(f"{base}/v1/log/key", timeout=30).text)
        before = tmp_path / "before.json"
        before.write_text(json.dumps(view))
        fairwitness(env, "verify", str(before), "--key", str(key_file))
        # A published excerpt that differs from the committed one fails verification.
        forged = tmp_path / "forged.json"
        forged.write_text(
            json.dumps({**view, "excerpt": {**view["excerpt"], "text": "I love you"}})
        )
        refused = subprocess.run(
            [str(BIN / "fairwitness"), "verify", str(forged), "--key", str(key_file)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 1
        assert "verification failed: excerpt:" in refused.stderr

        # While the server runs, every marker is somewhere on disk: the search works.
        for mark in (TEXT_MARK, STATEMENT_MARK, REF_MARK, KEPT_MARK):
            assert _files_holding(instance_dir, mark), mark

        fairwitness(env, "content", "erase", decision_id)

        # With the server still running (its workers hold the database open), no file
        # of the instance holds anything that was erased.
        for mark in (TEXT_MARK, STATEMENT_MARK, REF_MARK):
            assert _files_holding(instance_dir, mark) == [], mark
        assert _files_holding(instance_dir, KEPT_MARK)
        assert _open_modes(instance_dir) == {}

        after = requests.get(f"{base}/v1/decisions/{decision_id}", timeout=30).json()
        assert after["entry"] == view["entry"]
        assert after["excerpt"]["text"] is None
        assert after["excerpt"]["salt"] is None
        assert after["excerpt"]["erased_at"] is not None
        page = requests.get(f"{base}/decisions/{decision_id}", timeout=30).text
        assert TEXT_MARK not in page
        assert "erased on request" in page
        # The log, the saved view and the new one still verify.
        fairwitness(env, "log", "audit", "--url", base, "--key", str(key_file))
        fairwitness(env, "verify", str(before), "--key", str(key_file))
        (tmp_path / "after.json").write_text(json.dumps(after))
        fairwitness(env, "verify", str(tmp_path / "after.json"), "--key", str(key_file))
    finally:
        server.stop()
    for mark in (TEXT_MARK, STATEMENT_MARK, REF_MARK):
        assert _files_holding(instance_dir, mark) == [], mark
    assert _open_modes(instance_dir) == {}


def test_existing_instance_files_open_to_others_are_made_private_at_start(tmp_path):
    """An instance made before files were private (or copied with loose modes) is
    tightened by ``init`` and by the server at start."""
    instance_dir = tmp_path / "instance"
    database_url = f"sqlite:///{instance_dir / 'fairwitness.db'}"
    env, _ = new_instance(instance_dir, database_url)
    loose = [instance_dir, *instance_dir.rglob("*")]
    for path in loose:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert _open_modes(instance_dir)
    server = Gunicorn(env, log_path=tmp_path / "gunicorn.log")
    server.start(timeout=180)
    try:
        assert _open_modes(instance_dir) == {}
        assert "private (it was mode 644)" in server.output()
    finally:
        server.stop()
    for path in loose:
        path.chmod(0o755 if path.is_dir() else 0o644)
    fairwitness(env, "init")
    assert _open_modes(instance_dir) == {}
