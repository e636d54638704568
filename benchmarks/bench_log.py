"""The log at a million entries: proof latency, and a full monitor audit over HTTP.

    .venv/bin/python benchmarks/bench_log.py [--entries N] [--dir DIR]

1. Builds an N-entry SQLite log (default 1,000,000) of decision-shaped bodies with
   direct batched appends: the same tables, canonical bodies, leaf hashes,
   ``merkle.append_batch`` subtree hashes and one signed checkpoint per batch that
   ``Log.append`` writes, minus the per-entry receipts a bulk load does not need.
2. Times inclusion and consistency proofs for random indexes through the store
   functions ``GET /v1/log/proof/*`` calls (head, proof, root on one connection) and
   counts the stored hashes each reads. Target: inclusion median < 5 ms.
3. Serves the log with gunicorn and times ``fairwitness log audit`` over all of it, as
   a monitor would run it. Target: < 60 s for 1,000,000 entries.

With ``--dir`` the database is kept and reused by later runs of the same size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servers import gunicorn  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

from audit_log import merkle, store  # noqa: E402
from audit_log.canonical import canonical  # noqa: E402
from audit_log.checkpoint import Checkpoint, sign_note  # noqa: E402
from audit_log.store import (  # noqa: E402
    head,
    log_checkpoints,
    log_entries,
    log_entry_rules,
    log_hashes,
    log_head,
    prove_consistency,
    prove_inclusion,
    read_hashes,
)
from service.clock import rfc3339  # noqa: E402
from service.domain.ids import new_id  # noqa: E402
from service.storage.db import init_database, make_engine  # noqa: E402
from service.storage.instance import init_instance, load_instance, signer_for  # noqa: E402

BIN = Path(sys.executable).parent
ORIGIN = "fairwitness.example/log"
TEXT_THREAT = "Your post was removed because it reads as a threat of violence."


def decision(i: int, moment: datetime) -> dict:
    """A body shaped like the service's decisions (about 900 bytes canonical)."""
    threat = i % 7 == 0
    return {
        "kind": "decision",
        "id": new_id("dec", moment),
        "time": rfc3339(moment),
        "app": f"forum-{i % 3}",
        "subject": f"sub_{(i * 7919) % 100_003:032x}",
        "content": f"sha256:{(i * 2654435761) % 2**256:064x}",
        "policy": {"id": "civility", "version": "sha256:" + "c" * 64},
        "classifier": {"name": "lexicon", "version": "sha256:" + "d" * 64},
        "scores": {
            "lexicon:insults": 0.0,
            "lexicon:profanity": 0.0,
            "lexicon:slurs": 0.0,
            "lexicon:threats": 1.0 if threat else 0.0,
        },
        "rules": [
            {
                "id": "threat",
                "action": "remove",
                "labels": ["lexicon:threats"],
                "notice": TEXT_THREAT,
                "spans": [[2, 6]],
            }
        ]
        if threat
        else [],
        "action": "remove" if threat else "allow",
        "content_action": "remove" if threat else None,
        "automated": True,
        "notice": TEXT_THREAT if threat else None,
        "excerpt": None,
        "strike": {"weight": 2, "expires_at": rfc3339(moment + timedelta(days=90))}
        if threat
        else None,
        "escalation": None,
    }


def build(url: str, signer, entries: int, batch: int) -> float:
    """Append ``entries`` decisions in transactions of ``batch``; return seconds taken."""
    engine = make_engine(url, sqlite_synchronous="OFF")
    start_time = time.perf_counter()
    moment = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with engine.connect() as conn:
        size, _ = head(conn)
    while size < entries:
        count = min(batch, entries - size)
        rows, rules, leaves = [], [], []
        for i in range(size, size + count):
            body = decision(i, moment + timedelta(seconds=i))
            data = canonical(body)
            leaf = merkle.record_hash(data)
            leaves.append(leaf)
            rows.append(
                {
                    "idx": i,
                    "entry_id": body["id"],
                    "kind": "decision",
                    "time": body["time"],
                    "app": body["app"],
                    "subject": body["subject"],
                    "policy_id": "civility",
                    "action": body["action"],
                    "ref": None,
                    "body": data.decode("utf-8"),
                    "leaf_hash": leaf,
                }
            )
            rules.extend({"idx": i, "rule": r["id"]} for r in body["rules"])
        with engine.connect() as conn:
            conn = conn.execution_options(fairwitness_write=True)
            with conn.begin():
                new_hashes, root = merkle.append_batch(
                    size, leaves, lambda idxs, c=conn: read_hashes(c, idxs)
                )
                conn.execute(insert(log_entries), rows)
                if rules:
                    conn.execute(insert(log_entry_rules), rules)
                conn.execute(insert(log_hashes), [{"idx": i, "hash": h} for i, h in new_hashes])
                size += count
                conn.execute(
                    update(log_head).where(log_head.c.id == 1).values(size=size, root=root)
                )
                note = sign_note(Checkpoint(ORIGIN, size, root), [signer])
                conn.execute(
                    insert(log_checkpoints).values(
                        size=size, root=root, note=note, created_at=rows[-1]["time"]
                    )
                )
        if size % 100_000 < batch:
            print(
                f"  built {size:,} entries ({time.perf_counter() - start_time:.0f} s)", flush=True
            )
    engine.dispose()
    return time.perf_counter() - start_time


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def time_proofs(url: str, samples: int) -> dict:
    """Proofs as the HTTP handlers compute them, on one pooled connection per request."""
    engine = make_engine(url)
    queries: list[int] = []
    real_read = store.read_hashes

    # Hashes read per proof, counted where every proof reads them (the statement runs on
    # the driver cursor, out of SQLAlchemy's sight).
    def counting(conn, indexes):
        queries.append(len(set(indexes)))
        return real_read(conn, indexes)

    store.read_hashes = counting

    rng = random.Random(1)
    with engine.connect() as conn:
        n, _ = head(conn)
    inclusion, consistency, rows_inc, rows_con = [], [], [], []
    for _ in range(samples):
        index = rng.randrange(n)
        queries.clear()
        t0 = time.perf_counter()
        with engine.connect() as conn:
            size, _ = head(conn)
            prove_inclusion(conn, index, size)
            merkle.tree_hash(size, lambda idxs, c=conn: read_hashes(c, idxs))
        inclusion.append(time.perf_counter() - t0)
        rows_inc.append(queries[0])
        old = rng.randrange(1, n)
        queries.clear()
        t0 = time.perf_counter()
        with engine.connect() as conn:
            size, _ = head(conn)
            prove_consistency(conn, old, size)
        consistency.append(time.perf_counter() - t0)
        rows_con.append(queries[0] if queries else 0)
    store.read_hashes = real_read
    engine.dispose()
    return {
        "size": n,
        "inclusion_median_ms": statistics.median(inclusion) * 1000,
        "inclusion_p99_ms": percentile(inclusion, 0.99) * 1000,
        "inclusion_max_hashes_read": max(rows_inc),
        "consistency_median_ms": statistics.median(consistency) * 1000,
        "consistency_p99_ms": percentile(consistency, 0.99) * 1000,
        "consistency_max_hashes_read": max(rows_con),
        "bound_2log2n_plus_2": 2 * math.log2(n) + 2,
    }


def http_proofs(base: str, n: int, samples: int) -> dict:
    rng = random.Random(2)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        with urllib.request.urlopen(
            f"{base}/v1/log/proof/inclusion?index={rng.randrange(n)}", timeout=10
        ) as r:
            json.loads(r.read())
        times.append(time.perf_counter() - t0)
    return {
        "http_inclusion_median_ms": statistics.median(times) * 1000,
        "http_inclusion_p99_ms": percentile(times, 0.99) * 1000,
    }


def page_times(base: str, samples: int = 20) -> dict:
    """Latency of the public /log page under common filters, over loopback."""
    subject = f"sub_{(7 * 7919) % 100_003:032x}"
    urls = {
        "newest": "/log",
        "kind": "/log?kind=decision",
        "action": "/log?action=remove",
        "rule": "/log?rule=threat",
        "app+action": "/log?app=forum-1&action=remove",
        "subject": f"/log?subject={subject}",
        "since/until": "/log?since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z",
    }
    out = {}
    for name, path in urls.items():
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            with urllib.request.urlopen(base + path, timeout=30) as r:
                r.read()
            times.append(time.perf_counter() - t0)
        out[name] = (statistics.median(times) * 1000, percentile(times, 0.99) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--batch",
        type=int,
        default=10_000,
        help="entries per append transaction (one checkpoint each)",
    )
    parser.add_argument("--samples", type=int, default=2000, help="proofs to time")
    parser.add_argument("--dir", type=Path, help="keep the instance here and reuse it")
    parser.add_argument(
        "--gunicorn-timeout",
        type=int,
        default=600,
        help="gunicorn worker timeout; the default 30 s cuts long exports",
    )
    parser.add_argument("--no-audit", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        instance = work / "instance"
        url = f"sqlite:///{(work / f'log-{args.entries}.db').resolve()}"
        init_instance(instance)
        init_database(url)
        signer = signer_for(load_instance(instance), ORIGIN)
        figures: dict[str, object] = {"entries": args.entries}

        print(f"# building a {args.entries:,}-entry log in batches of {args.batch:,}")
        seconds = build(url, signer, args.entries, args.batch)
        figures["build_seconds"] = round(seconds, 1)
        print(f"built in {seconds:.1f} s")

        proofs = time_proofs(url, args.samples)
        figures.update({k: round(v, 3) if isinstance(v, float) else v for k, v in proofs.items()})
        print(
            f"inclusion proof (head + proof + root, store functions): median "
            f"{proofs['inclusion_median_ms']:.2f} ms, p99 {proofs['inclusion_p99_ms']:.2f} ms "
            f"(target median < 5 ms); at most {proofs['inclusion_max_hashes_read']} hashes "
            f"in one query (bound {proofs['bound_2log2n_plus_2']:.0f})"
        )
        print(
            f"consistency proof: median {proofs['consistency_median_ms']:.2f} ms, p99 "
            f"{proofs['consistency_p99_ms']:.2f} ms; at most "
            f"{proofs['consistency_max_hashes_read']} hashes in one query"
        )
        if args.no_audit:
            print(json.dumps(figures, indent=2))
            return

        env = {
            **os.environ,
            "FAIRWITNESS_INSTANCE_DIR": str(instance),
            "FAIRWITNESS_DATABASE_URL": url,
            "FAIRWITNESS_LOG_ORIGIN": ORIGIN,
        }
        with gunicorn(
            "service.http.app:create_app()",
            env,
            "/v1/log/key",
            extra_args=("--timeout", str(args.gunicorn_timeout)),
        ) as server:
            base = server.url
            with urllib.request.urlopen(f"{base}/v1/log/checkpoint") as resp:
                size = int(resp.read().decode().splitlines()[1])
            figures.update({k: round(v, 3) for k, v in http_proofs(base, size, 200).items()})
            print(
                f"inclusion proof over HTTP (gunicorn, new connection each): median "
                f"{figures['http_inclusion_median_ms']} ms, p99 "
                f"{figures['http_inclusion_p99_ms']} ms"
            )
            for name, (median, p99) in page_times(base).items():
                figures[f"log_page_{name}_median_ms"] = round(median, 1)
                print(
                    f"/log page, filter {name}: median {median:.1f} ms, p99 {p99:.1f} ms "
                    f"(target < 200 ms)"
                )
            key = work / "log.key"
            with urllib.request.urlopen(f"{base}/v1/log/key") as resp:
                key.write_bytes(resp.read())
            state = work / "monitor-state.json"
            state.unlink(missing_ok=True)
            clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
            print(f"# fairwitness log audit --url {base} over {size:,} entries")
            t0 = time.perf_counter()
            done = subprocess.run(
                [
                    str(BIN / "fairwitness"),
                    "log",
                    "audit",
                    "--url",
                    base,
                    "--key",
                    str(key),
                    "--state",
                    str(state),
                ],
                env=clean,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - t0
        print(done.stdout.strip() or done.stderr.strip())
        figures["audit_seconds"] = round(seconds, 1)
        figures["audit_exit"] = done.returncode
        figures["audit_entries_per_second"] = round(size / seconds)
        print(
            f"audit of {size:,} entries: {seconds:.1f} s, {size / seconds:,.0f} entries/s, "
            f"exit {done.returncode} (target < 60 s for 1,000,000)"
        )
        print(json.dumps(figures, indent=2))
        if done.returncode != 0:
            sys.exit(1)


if __name__ == "__main__":
    main()
