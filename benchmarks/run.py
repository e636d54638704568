"""`make bench`: the service's speed figures, all measured in one run on this machine.

Parts (all by default; ``--only`` picks some, e.g. ``--only pg,soak`` or
``make bench BENCH=pg``):

- ``sqlite``: a bare Flask endpoint (the machine's baseline); the floor (score with the
  default policy's classifier in batches across requests, commit one row); single-item
  and batch-of-100 moderation on a fresh SQLite instance, each gunicorn with 2 workers of
  8 threads as ``fairwitness serve`` runs it; pure batched inference in 2 processes; and
  each worker's memory.
- ``pg``: the same two moderation loads on the scaled-out deployment: one PostgreSQL
  database (created for the run and dropped after it) and two gunicorn servers of 2 sync
  workers each, the connections split across both.
- ``soak``: that deployment at a steady rate (a fraction of the capacity ``pg`` measured)
  for 5 minutes; each worker's memory at start and end, and the error count.
- ``costs``: what each step of a moderation costs per decision (inference, language
  detection, rules, explanations, the append, the request and its answers), in CPU time
  in one process, for the batch of 100 (decision_costs.py).
- ``receipts``: what inclusion proofs and signed checkpoints cost, in one process.
- ``log``: proofs and a monitor's audit on a 1,000,000-entry log (bench_log.py).
- ``classifier``: how fast the text model loads and scores (bench_classifier.py).

The load comes from other processes on 127.0.0.1 with 16 connections (wrk when
installed). The servers, the floor and pure inference all use the default policy of
``FAIRWITNESS_POLICY_DIR`` (``policies/library`` when unset), so one variable measures
another classifier. Exits 1 when the soak saw an error or a worker grew by 10 % or more.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference import batched_inference_throughput
from load import LoadResult, drive, moderation_body, steady
from servers import ROOT, Served, fresh_instance, gunicorn, rss_kib

PARTS = ("sqlite", "pg", "soak", "costs", "receipts", "log", "classifier")
TEXTS = [
    "Thanks for the detailed answer, it helped me fix the build.",
    "I will hurt you if you post that again",
    "You are a complete idiot and everyone knows it",
    "Check out my channel for free gift cards http://spam.example",
    "The meeting moved to Thursday, see you there.",
]
SINGLE_BODIES = [moderation_body(t) for t in TEXTS]
BATCH_TEXTS = [TEXTS[i % len(TEXTS)] + f" #{i}" for i in range(100)]
BATCH_BODY = json.dumps(
    {"items": [{"text": text, "subject": f"bench-{i % 50}"} for i, text in enumerate(BATCH_TEXTS)]}
)
SOAK_BODIES = [moderation_body(t + " #@N@") for t in TEXTS]
RSS_GROWTH_LIMIT = 0.10


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default="",
        metavar="PARTS",
        help=f"comma- or space-separated parts to run, of: {', '.join(PARTS)}",
    )
    parser.add_argument(
        "--seconds",
        type=int,
        default=int(os.environ.get("BENCH_SECONDS", 20)),
        help="length of each throughput run (default 20)",
    )
    parser.add_argument(
        "--soak-seconds", type=int, default=300, help="length of the soak (default 300)"
    )
    parser.add_argument(
        "--soak-fraction",
        type=float,
        default=0.6,
        help="soak rate as a fraction of the measured capacity (default 0.6)",
    )
    parser.add_argument(
        "--soak-rate",
        type=float,
        default=None,
        help="soak rate in requests/s, instead of a fraction of capacity",
    )
    args = parser.parse_args()
    chosen = [p for p in args.only.replace(",", " ").split() if p]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    args.parts = [p for p in PARTS if p in chosen] if chosen else list(PARTS)
    return args


def _describe(name: str, result: LoadResult, per: str = "req/s") -> str:
    return (
        f"{name}: {result.requests_per_second:.0f} {per}, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, errors {result.errors} [{result.tool}]"
    )


def moderation_loads(urls: str | list[str], key: str, seconds: int) -> dict[str, LoadResult]:
    """Single-item moderation, then batches of 100, against ``urls``."""
    single = drive(urls, "POST", "/v1/moderations", SINGLE_BODIES, key, seconds=seconds)
    batch = drive(urls, "POST", "/v1/moderations", [BATCH_BODY], key, seconds=seconds)
    return {"single": single, "batch": batch}


WORKERS = 2
THREADS = 8
THREADED = ("--worker-class", "gthread", "--threads", str(THREADS))


def bench_sqlite(seconds: int, figures: dict) -> dict[str, LoadResult]:
    print(
        f"# SQLite: one server (gunicorn, {WORKERS} workers of {THREADS} threads, as "
        "`fairwitness serve` runs it)",
        flush=True,
    )
    with gunicorn("bare_app:app", {}, "/", cwd=ROOT / "benchmarks") as bare_server:
        bare = drive(bare_server.url, seconds=seconds)
    print(_describe("bare Flask endpoint", bare))
    floors: dict[str, LoadResult] = {}
    with tempfile.TemporaryDirectory() as tmp:
        floor_env = {"FLOOR_DATABASE": str(Path(tmp) / "floor.db")}
        with gunicorn(
            "floor_app:app", floor_env, "/", cwd=ROOT / "benchmarks", extra_args=THREADED
        ) as floor_server:
            for step in ("floor", "score", "append"):
                result = drive(
                    floor_server.url, "POST", f"/{step}", SINGLE_BODIES, None, seconds=seconds
                )
                floors[step] = result
                share = result.requests_per_second / bare.requests_per_second
                figures[f"floor_{step}_rps"] = round(result.requests_per_second)
                figures[f"floor_{step}_p99_ms"] = round(result.p99_ms, 2)
                name = "floor: score + commit one row" if step == "floor" else f"only {step}"
                print(f"{_describe(name, result)}; {share:.0%} of bare")
    with tempfile.TemporaryDirectory() as tmp:
        env, key = fresh_instance(Path(tmp) / "instance", f"sqlite:///{Path(tmp) / 'bench.db'}")
        with gunicorn(
            "service.http.app:create_app()", env, "/healthz", extra_args=THREADED
        ) as server:
            loads = moderation_loads(server.url, key, seconds)
            memory = {pid: rss_kib(pid) for pid in server.worker_pids()}
    pure = batched_inference_throughput(BATCH_TEXTS, WORKERS, seconds)
    single, batch = loads["single"], loads["batch"]
    floor = floors["floor"]
    share = single.requests_per_second / floor.requests_per_second
    tail = single.p99_ms / floor.p99_ms
    batch_items = batch.requests_per_second * 100
    batch_share = batch_items / pure
    figures.update(
        {
            "bare_flask_rps": round(bare.requests_per_second),
            "single_rps": round(single.requests_per_second),
            "single_p50_ms": round(single.p50_ms, 2),
            "single_p99_ms": round(single.p99_ms, 2),
            "single_vs_floor": round(share, 3),
            "single_p99_vs_floor_p99": round(tail, 3),
            "single_errors": single.errors,
            "batch100_items_per_second": round(batch_items),
            "pure_batched_inference_texts_per_second": round(pure),
            "batch_vs_pure_inference": round(batch_share, 3),
            "batch_errors": batch.errors,
            "worker_rss_mib": [round(kib / 1024, 1) for kib in memory.values()],
        }
    )
    print(
        f"{_describe('single-item moderation', single)}; {share:.0%} of the floor's req/s "
        f"(target >= 70%), p99 {tail:.2f}x the floor's (target <= 1.5x)"
    )
    print(
        f"batch of 100: {batch_items:.0f} items/s, p99 {batch.p99_ms:.1f} ms per batch, "
        f"errors {batch.errors}"
    )
    print(
        f"pure batched inference ({WORKERS} processes, batches of 100): {pure:.0f} texts/s; "
        f"batch moderation is {batch_share:.0%} of it (target >= 70%)"
    )
    print(
        "memory per worker after the loads: "
        + ", ".join(f"{kib / 1024:.0f} MiB" for kib in memory.values())
    )
    return loads


def bench_pg(urls: list[str], key: str, seconds: int, figures: dict) -> dict[str, LoadResult]:
    print(
        "\n# PostgreSQL: two servers (gunicorn, 2 workers of 8 threads each) on one database",
        flush=True,
    )
    loads = moderation_loads(urls, key, seconds)
    single, batch = loads["single"], loads["batch"]
    figures.update(
        {
            "pg_single_rps": round(single.requests_per_second),
            "pg_single_p50_ms": round(single.p50_ms, 2),
            "pg_single_p99_ms": round(single.p99_ms, 2),
            "pg_single_errors": single.errors,
            "pg_batch100_items_per_second": round(batch.requests_per_second * 100),
            "pg_batch_errors": batch.errors,
        }
    )
    print(_describe("single-item moderation", single))
    print(
        f"batch of 100: {batch.requests_per_second * 100:.0f} items/s, "
        f"p99 {batch.p99_ms:.1f} ms per batch, errors {batch.errors}"
    )
    return loads


def _memory(servers: list[Served]) -> dict[int, int]:
    return {pid: rss_kib(pid) for s in servers for pid in s.worker_pids()}


def soak(servers: list[Served], key: str, rate: float, seconds: int, figures: dict) -> bool:
    """A steady ``rate`` for ``seconds`` after a warm-up; True when it passed."""
    urls = [s.url for s in servers]
    print(
        f"\n# soak: {rate:.0f} req/s of single-item moderation for {seconds} s across "
        f"{len(urls)} servers (after a 15 s warm-up)",
        flush=True,
    )
    steady(urls, "/v1/moderations", SOAK_BODIES, key, rate, 15)
    before = _memory(servers)
    started = time.perf_counter()
    result = steady(urls, "/v1/moderations", SOAK_BODIES, key, rate, seconds)
    elapsed = time.perf_counter() - started
    after = _memory(servers)
    worst = 0.0
    for server in servers:
        for pid in server.worker_pids():
            start, end = before.get(pid, 0), after.get(pid, 0)
            growth = (end - start) / start if start else float("inf")
            worst = max(worst, growth)
            print(
                f"  {server.url} worker {pid}: RSS {start / 1024:.1f} MiB at start, "
                f"{end / 1024:.1f} MiB at end ({growth:+.1%})"
            )
    replaced = sorted(set(before) ^ set(after))
    passed = result.errors == 0 and worst < RSS_GROWTH_LIMIT and not replaced
    print(
        f"sent {result.sent} in {elapsed:.0f} s ({result.sent / elapsed:.0f} req/s), "
        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"{result.late} sent late (> 100 ms behind schedule), errors {result.errors}; "
        f"largest RSS growth {worst:+.1%} (limit {RSS_GROWTH_LIMIT:.0%})"
        + (f"; workers replaced: {replaced}" if replaced else "")
        + (" — PASS" if passed else " — FAIL")
    )
    figures.update(
        {
            "soak_rate": round(rate),
            "soak_seconds": seconds,
            "soak_sent": result.sent,
            "soak_errors": result.errors,
            "soak_p99_ms": round(result.p99_ms, 2),
            "soak_max_rss_growth": round(worst, 4),
            "soak_passed": passed,
        }
    )
    return passed


def bench_postgres(args: argparse.Namespace, figures: dict) -> tuple[dict | None, bool]:
    """The ``pg`` and ``soak`` parts, on one deployment; (pg loads, soak passed)."""
    from postgres import ADMIN_URL, bench_database, postgres_problem, two_servers

    problem = postgres_problem()
    if problem is not None:
        print(f"\n# PostgreSQL parts skipped: {ADMIN_URL} is not reachable ({problem})")
        return None, True
    loads = None
    passed = True
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database() as url,
        two_servers(url, Path(tmp)) as deployment,
    ):
        if "pg" in args.parts:
            loads = bench_pg(deployment.urls, deployment.key, args.seconds, figures)
        if "soak" in args.parts:
            rate = args.soak_rate
            if rate is None:
                capacity = (
                    loads["single"]
                    if loads
                    else drive(
                        deployment.urls,
                        "POST",
                        "/v1/moderations",
                        SINGLE_BODIES,
                        deployment.key,
                        seconds=10,
                    )
                ).requests_per_second
                rate = capacity * args.soak_fraction
                print(
                    f"\nsoak rate: {args.soak_fraction:.0%} of a measured capacity of "
                    f"{capacity:.0f} req/s"
                )
            passed = soak(deployment.servers, deployment.key, rate, args.soak_seconds, figures)
    return loads, passed


def side_by_side(sqlite: dict[str, LoadResult] | None, pg: dict[str, LoadResult] | None) -> None:
    columns = [
        (name, loads)
        for name, loads in (("SQLite, 1 server", sqlite), ("PostgreSQL, 2 servers", pg))
        if loads
    ]
    if not columns:
        return
    rows = [
        ("single-item req/s", lambda r: f"{r['single'].requests_per_second:,.0f}"),
        ("single-item p50 ms", lambda r: f"{r['single'].p50_ms:.1f}"),
        ("single-item p99 ms", lambda r: f"{r['single'].p99_ms:.1f}"),
        ("batch of 100, items/s", lambda r: f"{r['batch'].requests_per_second * 100:,.0f}"),
        ("batch p99 ms", lambda r: f"{r['batch'].p99_ms:.1f}"),
        ("errors", lambda r: str(r["single"].errors + r["batch"].errors)),
    ]
    print("\n# side by side (same run, same machine)")
    print(f"{'':24}" + "".join(f"{name:>24}" for name, _ in columns))
    for label, cell in rows:
        print(f"{label:24}" + "".join(f"{cell(loads):>24}" for _, loads in columns))


def main() -> None:
    args = _parse_args()
    figures: dict[str, object] = {}
    sqlite_loads = pg_loads = None
    soak_passed = True
    if "sqlite" in args.parts:
        sqlite_loads = bench_sqlite(args.seconds, figures)
    if "pg" in args.parts or "soak" in args.parts:
        pg_loads, soak_passed = bench_postgres(args, figures)
    if "costs" in args.parts:
        from decision_costs import measure as measure_costs
        from decision_costs import report

        print("\n# per decision, in one process (CPU time, batch of 100)", flush=True)
        figures.update(report(measure_costs(BATCH_TEXTS, BATCH_BODY)))
    if "receipts" in args.parts:
        from receipt_cost import measure

        with_receipts, without = measure()
        figures["inprocess_rps_with_receipts"] = round(with_receipts)
        figures["inprocess_rps_without_proofs_or_signing"] = round(without)
        print(
            f"\nin-process single-item moderation: {with_receipts:.0f} req/s with inclusion "
            f"proofs and signed checkpoints in every receipt, {without:.0f} req/s without "
            f"(drop {1 - with_receipts / without:.1%}, target <= 15%)"
        )
    for part, name, title in (
        ("log", "bench_log.py", "log: proofs and audit at scale"),
        ("classifier", "bench_classifier.py", "classifier"),
    ):
        if part in args.parts:
            print(f"\n# {title}", flush=True)
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / name)], check=True)
    side_by_side(sqlite_loads, pg_loads)
    print("\n" + json.dumps(figures, indent=2))
    if not soak_passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
