"""The README's quick-start curl example works as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_readme_curl_example(tmp_path: Path):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    curl = next(b for b in blocks if b.lstrip().startswith("curl"))
    assert "make run" in readme and "make test" in readme

    env = {**os.environ, "FAIRWITNESS_INSTANCE_DIR": "instance"}
    for name in ("FAIRWITNESS_DATABASE_URL", "FAIRWITNESS_POLICY_DIR"):
        env.pop(name, None)
    init = subprocess.run(
        [str(BIN / "fairwitness"), "init", "--demo-key"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / "instance" / "demo-client.key").read_text().strip() in init.stderr
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "fairwitness"), "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        command = curl.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        out = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    body = json.loads(out.stdout)
    assert body["decision"]["action"] == "remove"
    assert [r["id"] for r in body["decision"]["rules"]] == ["threat"]
    assert body["receipt"]["tree_size"] >= 1
