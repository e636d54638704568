"""What proofs and signed checkpoints in every receipt cost single-item moderation.

In one process, on two fresh SQLite instances, the same sequence of requests runs twice:
once as served, once with checkpoint signing and inclusion proofs replaced by no-ops.
The ratio is the throughput the verifiable receipt costs.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from service.http.state import runtime_of

REQUESTS = 1500


@contextmanager
def fresh_app():
    """A served app on a fresh SQLite instance, and the headers of a client key for it."""
    from service.clock import system_clock
    from service.http.app import create_app
    from service.storage.db import init_database, make_engine
    from service.storage.instance import init_instance
    from service.storage.keys import create_key

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'fw.db'}"
        init_database(url)
        init_instance(Path(tmp) / "instance")
        engine = make_engine(url)
        with engine.begin() as conn:
            _, key = create_key(conn, "bench", "client", system_clock())
        engine.dispose()
        app = create_app({"database_url": url, "instance_dir": Path(tmp) / "instance"})
        yield app, {"Authorization": f"Bearer {key}"}
        runtime_of(app).engine.dispose()


@contextmanager
def fresh_client():
    with fresh_app() as (app, headers):
        yield app.test_client(), headers


def _run(client, headers) -> float:
    texts = ["Thanks, that fixed it.", "I will hurt you", "You are an idiot", "See you at 5"]
    for i in range(100):  # warm up
        client.post(
            "/v1/moderations", json={"text": texts[i % 4], "subject": f"w{i}"}, headers=headers
        )
    start = time.perf_counter()
    for i in range(REQUESTS):
        resp = client.post(
            "/v1/moderations",
            headers=headers,
            json={"text": texts[i % 4] + f" {i}", "subject": f"s{i % 997}"},
        )
        assert resp.status_code == 201
    return REQUESTS / (time.perf_counter() - start)


def measure(rounds: int = 3) -> tuple[float, float]:
    """Median req/s with full receipts and with proofs and signing stubbed out."""
    import audit_log.store as store

    full, bare = [], []
    # The app still formats its JSON line per request (part of the cost), but the lines
    # go nowhere instead of thousands of them into the report.
    for _ in range(rounds):
        with (
            open(os.devnull, "w") as sink,
            contextlib.redirect_stderr(sink),
            fresh_client() as (client, headers),
        ):
            full.append(_run(client, headers))
        with (
            open(os.devnull, "w") as sink,
            contextlib.redirect_stderr(sink),
            fresh_client() as (client, headers),
            mock.patch.object(store, "sign_note", lambda checkpoint, signers: ""),
            mock.patch.object(
                store.AppendTransaction,
                "proofs",
                property(lambda tx: {r["idx"]: [] for r in tx._rows}),
            ),
        ):
            bare.append(_run(client, headers))
    return statistics.median(full), statistics.median(bare)


if __name__ == "__main__":
    with_receipts, without = measure()
    print(
        f"in-process single-item moderation: {with_receipts:.0f} req/s with proofs and "
        f"signed checkpoints, {without:.0f} req/s without "
        f"(drop {1 - with_receipts / without:.1%}, target <= 15%)"
    )
