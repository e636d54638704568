"""The ``fairwitness`` command as a user runs it: a real process, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.http.state import runtime_of
from tests.conftest import LIBRARY

# Runs the fairwitness command in processes of its own.
pytestmark = pytest.mark.subprocess

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))


def run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FAIRWITNESS, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "FAIRWITNESS_INSTANCE_DIR": str(tmp_path / "inst"),
        "FAIRWITNESS_DATABASE_URL": f"sqlite:///{tmp_path / 'fw.db'}",
        "FAIRWITNESS_POLICY_DIR": str(LIBRARY),
    }


def test_init_creates_instance_and_prints_demo_key_once(env, tmp_path):
    first = run(["init", "--demo-key"], env)
    assert first.returncode == 0, first.stderr
    inst = tmp_path / "inst"
    assert (inst / "signing-key.pem").exists() and (inst / "pseudonym-secret").exists()
    assert oct((inst / "signing-key.pem").stat().st_mode & 0o777) == "0o600"
    key = (inst / "demo-client.key").read_text().strip()
    assert key in first.stderr and first.stdout == ""
    again = run(["init", "--demo-key"], env)
    assert again.returncode == 0
    assert key not in again.stderr and "Demo client key" not in again.stderr
    assert (inst / "signing-key.pem").read_bytes()  # never rewritten, still there


def test_keys_create_prints_only_the_key_on_stdout(env):
    assert run(["init"], env).returncode == 0
    made = run(["keys", "create", "--app", "forum", "--role", "reviewer"], env)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fw_")
    assert "reviewer" in made.stderr and lines[0] not in made.stderr

    from service.http.app import create_app

    app = create_app(
        {
            "database_url": env["FAIRWITNESS_DATABASE_URL"],
            "instance_dir": Path(env["FAIRWITNESS_INSTANCE_DIR"]),
            "policy_dir": LIBRARY,
        }
    )
    resp = app.test_client().post(
        "/v1/moderations",
        json={"text": "hi", "subject": "u"},
        headers={"Authorization": f"Bearer {lines[0]}"},
    )
    assert resp.status_code == 403  # a reviewer key is real, but not a client key
    runtime_of(app).engine.dispose()


def test_keys_create_refuses_a_bad_role(env):
    assert run(["init"], env).returncode == 0
    made = run(["keys", "create", "--app", "forum", "--role", "god"], env)
    assert made.returncode != 0
    assert made.stdout == ""


def test_policy_test_passes_on_the_library():
    done = run(["policy", "test", str(LIBRARY)], {})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "examples pass" in done.stdout


def _copy_library(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(LIBRARY, target)
    return target


def test_policy_test_names_the_broken_rule_and_example(tmp_path):
    target = _copy_library(tmp_path)
    path = target / "civility.yaml"
    doc = yaml.safe_load(path.read_text())
    rule = next(r for r in doc["rules"] if r["id"] == "threat")
    rule["examples"]["match"].append("what a pleasant afternoon")
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    done = run(["policy", "test", str(target)], {})
    assert done.returncode == 1
    assert "threat" in done.stdout and "what a pleasant afternoon" in done.stdout


def test_malformed_policy_stops_start_up_with_one_clear_line(tmp_path, env):
    target = _copy_library(tmp_path)
    path = target / "civility.yaml"
    source = path.read_text()
    # Break one threshold-like field of the threat rule in place, keeping the line numbers.
    lines = source.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("action: remove"))
    lines[at] = lines[at].replace("action: remove", "action: obliterate")
    path.write_text("\n".join(lines) + "\n")
    env = {**env, "FAIRWITNESS_POLICY_DIR": str(target)}

    served = run(["serve", "--bind", "127.0.0.1:0"], env)
    assert served.returncode == 2
    message = served.stderr.strip().splitlines()
    assert len(message) == 1, served.stderr
    assert "civility.yaml" in message[0] and "action" in message[0]
    assert f"line {at + 1}" in message[0]

    from policies.load import PolicyError
    from service.http.app import create_app

    run(["init"], {**env, "FAIRWITNESS_POLICY_DIR": str(LIBRARY)})
    with pytest.raises(PolicyError) as caught:
        create_app(
            {
                "database_url": env["FAIRWITNESS_DATABASE_URL"],
                "instance_dir": Path(env["FAIRWITNESS_INSTANCE_DIR"]),
                "policy_dir": target,
            }
        )
    assert caught.value.line == at + 1
    assert caught.value.field.endswith("action")


def test_policy_test_refuses_a_pattern_that_needs_backtracking(tmp_path, env):
    target = _copy_library(tmp_path)
    path = target / "civility.yaml"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "- lexicon: threats")
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    # The shape that backtracked on long runs of spaces: a lookahead inside a repeat.
    lines.insert(at + 1, indent + r"- regex: '\bi\s+will\s+(?:(?!never\b)\w+\s+){0,4}?hurt'")
    path.write_text("\n".join(lines) + "\n")
    done = run(["policy", "test", str(target)], {})
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"civility.yaml: rule 'threat': field 'when.any[1].regex' (line {at + 2}): "
        "uses a negative lookahead ((?!…): policy patterns run on a linear-time engine (RE2) "
        "that has no lookarounds or backreferences; say it with the policy's all/any/not "
        "conditions instead (see docs/policy-language.md)"
    )
    served = run(["serve", "--bind", "127.0.0.1:0"], {**env, "FAIRWITNESS_POLICY_DIR": str(target)})
    assert served.returncode == 2
    assert "negative lookahead" in served.stderr
