"""The commands of docs/verifying.md work as written, with the distribution's tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[2]
JQ = "/usr/bin/jq"


def _documented_commands(marker: str) -> list[str]:
    """The shell commands (``$`` lines, with their continuation lines) of the code block
    in docs/verifying.md that contains ``marker``."""
    blocks: list[list[str]] = []
    inside = False
    for line in (ROOT / "docs" / "verifying.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    block = next(b for b in blocks if any(marker in line for line in b))
    commands: list[str] = []
    for line in block:
        if line.startswith("$ "):
            commands.append(line[2:])
        elif commands and commands[-1].endswith("\\"):
            commands[-1] += "\n" + line
    return commands


def test_combining_todays_body_with_a_saved_receipt_verifies(client, auth, tmp_path: Path):
    if not Path(JQ).exists():
        # CI's machine has the distribution's jq; a developer's may not.
        assert os.environ.get("CI") != "true", f"{JQ} is missing"
        pytest.skip(f"{JQ} is not installed")
    moderated = client.post(
        "/v1/moderations", headers=auth, json={"text": "I will hurt you", "subject": "u-1"}
    )
    assert moderated.status_code == 201
    decision_id = moderated.get_json()["decision"]["id"]
    for i in range(3):  # the tree grows after the receipt was saved
        client.post("/v1/moderations", headers=auth, json={"text": f"hi {i}", "subject": "u"})
    current = client.get(f"/v1/decisions/{decision_id}")
    assert current.status_code == 200
    (tmp_path / "saved.json").write_text(moderated.get_data(as_text=True))
    (tmp_path / "current.json").write_text(current.get_data(as_text=True))
    (tmp_path / "fairwitness.key").write_text(client.get("/v1/log/key").get_data(as_text=True))

    combine, verify = _documented_commands("--slurpfile")
    assert combine.startswith("jq ") and verify.startswith("fairwitness verify ")
    bin_dir = str(Path(JQ).parent)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{bin_dir}"}
    assert shutil.which("jq", path=env["PATH"]) == JQ
    for command in (combine, verify):
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    combined = json.loads((tmp_path / "combined.json").read_text())
    assert combined["decision"]["id"] == decision_id
    assert combined["receipt"] == moderated.get_json()["receipt"]
    assert f"decision {decision_id} is entry" in done.stdout
