"""`make bench`: the service's speed figures, all measured in one run on this machine.

Each server is gunicorn with the default configuration (2 sync workers) on a fresh
SQLite instance; the load comes from another process on 127.0.0.1 with 16 connections.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from load import drive, moderation_body

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
TEXTS = [
    "Thanks for the detailed answer, it helped me fix the build.",
    "I will hurt you if you post that again",
    "You are a complete idiot and everyone knows it",
    "Check out my channel for free gift cards http://spam.example",
    "The meeting moved to Thursday, see you there.",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def gunicorn(app: str, env: dict[str, str], cwd: Path, health: str):
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
            app,
        ],
        env={**os.environ, **env},
        cwd=cwd,
        # The service writes a JSON line per request; measured, but not printed.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}{health}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fresh_instance(tmp: Path) -> tuple[dict[str, str], str]:
    env = {
        "FAIRWITNESS_INSTANCE_DIR": str(tmp / "instance"),
        "FAIRWITNESS_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
    }
    full = {**os.environ, **env}
    subprocess.run([str(BIN / "fairwitness"), "init"], env=full, check=True, capture_output=True)
    key = subprocess.run(
        [str(BIN / "fairwitness"), "keys", "create", "--app", "bench", "--role", "client"],
        env=full,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return env, key


def main() -> None:
    figures: dict[str, object] = {}
    with gunicorn("bare_app:app", {}, ROOT / "benchmarks", "/") as url:
        bare = drive(url, seconds=SECONDS)
    figures["bare_flask_rps"] = round(bare.requests_per_second)
    print(
        f"bare Flask endpoint: {bare.requests_per_second:.0f} req/s "
        f"(p50 {bare.p50_ms:.1f} ms, p99 {bare.p99_ms:.1f} ms) [{bare.tool}]"
    )

    with tempfile.TemporaryDirectory() as tmp:
        env, key = fresh_instance(Path(tmp))
        with gunicorn("service:create_app()", env, ROOT, "/healthz") as url:
            single = drive(
                url,
                "POST",
                "/v1/moderations",
                [moderation_body(t) for t in TEXTS],
                key,
                seconds=SECONDS,
            )
            batch_body = json.dumps(
                {
                    "items": [
                        {"text": TEXTS[i % len(TEXTS)] + f" #{i}", "subject": f"bench-{i % 50}"}
                        for i in range(100)
                    ]
                }
            )
            batch = drive(url, "POST", "/v1/moderations", [batch_body], key, seconds=SECONDS)
    ratio = single.requests_per_second / bare.requests_per_second
    figures.update(
        {
            "single_rps": round(single.requests_per_second),
            "single_p50_ms": round(single.p50_ms, 2),
            "single_p99_ms": round(single.p99_ms, 2),
            "single_vs_bare": round(ratio, 3),
            "single_errors": single.errors,
            "batch100_items_per_second": round(batch.requests_per_second * 100),
            "batch_errors": batch.errors,
        }
    )
    print(
        f"single-item moderation: {single.requests_per_second:.0f} req/s "
        f"= {ratio:.0%} of bare (target >= 40%), p50 {single.p50_ms:.1f} ms, "
        f"p99 {single.p99_ms:.1f} ms (target < 30 ms), errors {single.errors}"
    )
    print(
        f"batch of 100: {batch.requests_per_second * 100:.0f} items/s (target >= 10,000), "
        f"p99 {batch.p99_ms:.1f} ms per batch, errors {batch.errors}"
    )

    from receipt_cost import measure

    with_receipts, without = measure()
    figures["inprocess_rps_with_receipts"] = round(with_receipts)
    figures["inprocess_rps_without_proofs_or_signing"] = round(without)
    print(
        f"in-process single-item moderation: {with_receipts:.0f} req/s with inclusion proofs "
        f"and signed checkpoints in every receipt, {without:.0f} req/s without "
        f"(drop {1 - with_receipts / without:.1%}, target <= 15%)"
    )

    for name, title in (
        ("bench_log.py", "log: proofs and audit at scale"),
        ("bench_classifier.py", "classifier"),
    ):
        script = ROOT / "benchmarks" / name
        if script.exists():
            print(f"\n# {title}", flush=True)
            subprocess.run([sys.executable, str(script)], check=True)
    print("\n" + json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
