"""``fairwitness serve`` with several workers: /metrics sums every worker's counters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import free_port
from tests.e2e.servers import fairwitness, instance_env

BIN = Path(sys.executable).parent
POSTS = 12


def _counter(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.mark.slow
def test_metrics_add_up_over_gunicorn_workers(tmp_path: Path):
    env = instance_env(tmp_path / "instance", f"sqlite:///{tmp_path / 'fw.db'}")
    fairwitness(env, "init")
    key = subprocess.run(
        [str(BIN / "fairwitness"), "keys", "create", "--app", "forum", "--role", "client"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(BIN / "fairwitness"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.time() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        with requests.Session() as session:
            for i in range(POSTS):
                # A new connection each time, so the workers share the requests.
                resp = requests.post(
                    url + "/v1/moderations",
                    headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                    json={"text": f"I will hurt you {i}", "subject": f"u{i}"},
                    timeout=10,
                )
                assert resp.status_code == 201, resp.text
            scrapes = [
                session.get(url + "/metrics", headers={"Connection": "close"}, timeout=5).text
                for _ in range(6)
            ]
        for text in scrapes:
            # The multiprocess registry answered (the per-process default one has these).
            assert "python_gc_objects_collected_total" not in text
            assert (
                _counter(
                    text,
                    "fairwitness_http_requests_total",
                    method="POST",
                    route="/v1/moderations",
                    status="201",
                )
                == POSTS
            )
            assert (
                _counter(
                    text,
                    "fairwitness_decisions_total",
                    policy="civility",
                    action="remove",
                    rule="threat",
                )
                == POSTS
            )
            assert _counter(text, "fairwitness_log_append_seconds_count") >= POSTS
            assert _counter(text, "fairwitness_log_size") >= POSTS
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    lines = [line for line in err.decode().splitlines() if '"event": "request"' in line]
    assert len(lines) >= POSTS
    assert key.split("_", 2)[2] not in err.decode()
