"""A PostgreSQL outage mid-stream: 503s within the timeout, then recovery without a restart.

A real gunicorn serves a database in the tests' own cluster (``tests/e2e/pg_cluster.py``;
the shared server on 5432 is never touched) while four clients post moderations. The
cluster is stopped twice, once cleanly (``--mode fast``) and once as a crash would
(``--mode immediate``), and started again. Meanwhile every answer must be a 201 or a
``503 application/problem+json`` given within the configured timeout, ``/readyz`` must
say not ready and ``/healthz`` stay 200. Afterwards the same gunicorn (same master pid,
no worker timeouts) serves again, and every decision acknowledged before, between or
after the outages is in the log, which audits clean.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from audit_log.checkpoint import Verifier
from audit_log.verify import verify_document
from service.storage.db import make_engine
from tests.conftest import IN_CI
from tests.e2e.pg_cluster import Cluster, ClusterUnavailable, dedicated_cluster, exclusive
from tests.e2e.servers import Gunicorn, fairwitness, new_instance
from tests.service.test_storage import assert_log_consistent

DB_TIMEOUT = 2.0
# What a busy two-core machine may add to the configured timeout before an answer counts
# as a hang: the worker's own scheduling, not the database.
SLACK = 2.0
CLIENTS = 4
OUTAGE_SECONDS = 3.0


@pytest.fixture
def outage_cluster() -> Iterator[tuple[Cluster, str]]:
    """The tests' own cluster, running, with a fresh database; stopped afterwards."""
    with exclusive():
        try:
            cluster = dedicated_cluster()
            cluster.start()
        except ClusterUnavailable as exc:
            if IN_CI:
                pytest.fail(f"the outage test cannot run in CI: {exc}", pytrace=False)
            pytest.skip(f"no PostgreSQL cluster of the tests' own: {exc}")
        try:
            with cluster.database() as url:
                yield cluster, url
        finally:
            cluster.stop()


@dataclass
class Answer:
    started: float
    seconds: float
    status: int  # 0: no HTTP answer at all
    content_type: str = ""
    body: dict | None = None
    error: str = ""


@dataclass
class Traffic:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[Answer] = field(default_factory=list)

    def acknowledged(self) -> list[dict]:
        with self.lock:
            return [a.body for a in self.answers if a.status == 201 and a.body]

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.started >= moment]


def _client(url: str, key: str, worker: int, stop: threading.Event, traffic: Traffic) -> None:
    n = 0
    with requests.Session() as session:
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                resp = session.post(
                    url + "/v1/moderations",
                    timeout=30,
                    headers={"Authorization": f"Bearer {key}"},
                    json={
                        "text": f"see you at the market #{worker}-{n}",
                        "subject": f"user-{worker}",
                    },
                )
            except requests.RequestException as exc:
                answer = Answer(
                    started, time.monotonic() - started, 0, error=f"{type(exc).__name__}: {exc}"
                )
            else:
                answer = Answer(
                    started,
                    time.monotonic() - started,
                    resp.status_code,
                    resp.headers.get("Content-Type", ""),
                    resp.json() if resp.content else None,
                )
                if resp.status_code == 503:
                    time.sleep(0.05)  # what a polite client does on Retry-After, shortened
            with traffic.lock:
                traffic.answers.append(answer)


def _metric(body: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def _wait_for_201(traffic: Traffic, after: float, timeout: float) -> float:
    """Seconds until a request sent after ``after`` was acknowledged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = [a for a in traffic.since(after) if a.status == 201]
        if ok:
            return ok[0].started + ok[0].seconds - after
        time.sleep(0.05)
    pytest.fail(f"no request succeeded within {timeout} s of the database's return")


def _outage(cluster: Cluster, server: Gunicorn, traffic: Traffic, mode: str) -> dict:
    """Stop the cluster under load, probe the server, start it again; return timings."""
    with requests.Session() as probe:
        stopping_at = time.monotonic()
        cluster.stop(mode)  # returns once the server is down
        stopped_at = time.monotonic()
        time.sleep(0.5)  # let the clients run into it
        ready = probe.get(server.url + "/readyz", timeout=30)
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"] is False
        assert probe.get(server.url + "/healthz", timeout=30).status_code == 200
        metrics = probe.get(server.url + "/metrics", timeout=30)
        assert metrics.status_code == 200
        assert _metric(metrics.text, "fairwitness_database_up") == 0
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopping_at)))
        during = traffic.since(stopped_at)
        assert during and all(a.status == 503 for a in during), {a.status for a in during}
        returned_at = time.monotonic()
        cluster.start()
        recovered = _wait_for_201(traffic, returned_at, timeout=20)
        assert probe.get(server.url + "/readyz", timeout=30).status_code == 200
    return {"mode": mode, "refused": len(during), "recovered_after_s": round(recovered, 2)}


@pytest.mark.slow
def test_postgres_outage_gives_503_and_recovers_without_restart(outage_cluster, tmp_path: Path):
    cluster, url = outage_cluster
    # The poller reads /readyz and the log anonymously, past the public per-address
    # budget; the limits have tests of their own.
    env, key = new_instance(
        tmp_path / "instance", url, db_timeout_seconds=str(DB_TIMEOUT), rate_limit_storage="off"
    )
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    server.start()
    assert server.proc is not None
    master = server.proc.pid
    traffic = Traffic()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(server.url, key, w, stop, traffic), daemon=True)
        for w in range(CLIENTS)
    ]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        outages = [_outage(cluster, server, traffic, mode) for mode in ("fast", "immediate")]
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a client hung"
        print(outages)

        answers = traffic.answers
        unanswered = [a.error for a in answers if a.status == 0]
        assert not unanswered, unanswered[:5]
        assert {a.status for a in answers} == {201, 503}
        refused = [a for a in answers if a.status == 503]
        for answer in refused:
            assert answer.content_type == "application/problem+json"
            assert answer.body is not None
            assert answer.body["status"] == 503
            kind = answer.body["type"].rsplit("/", 1)[-1]
            assert kind in {"storage-unavailable", "commit-unconfirmed"}, answer.body
            if kind == "commit-unconfirmed":
                # The connection died during COMMIT: the answer names what to look up.
                assert answer.body["entries"], answer.body
        slowest = max(a.seconds for a in refused)
        assert slowest <= DB_TIMEOUT + SLACK, f"a 503 took {slowest:.2f} s"

        # The same processes served throughout: recovery needed no restart.
        assert server.alive and server.proc is not None and server.proc.pid == master
        assert "WORKER TIMEOUT" not in server.output()
        assert "unhandled error" not in server.output()
        metrics = requests.get(server.url + "/metrics", timeout=30).text
        assert _metric(metrics, "fairwitness_database_up") == 1
        assert _metric(metrics, "fairwitness_http_requests_total", status="503") > 0
        assert _metric(metrics, "fairwitness_storage_unavailable_total", cause="unreachable") > 0
        # Each worker logs an outage when it starts and when it ends, not per request.
        log = server.output()
        assert 0 < log.count('"event": "storage_unavailable"') <= 2 * len(outages) * 2
        assert log.count('"event": "storage_recovered"') >= len(outages)

        acknowledged = traffic.acknowledged()
        verifiers = [
            Verifier.from_key(line)
            for line in requests.get(server.url + "/v1/log/key", timeout=30).text.splitlines()
        ]
        with requests.Session() as session:
            for doc in acknowledged:
                resp = session.get(f"{server.url}/v1/decisions/{doc['decision']['id']}", timeout=30)
                assert resp.status_code == 200, resp.text
                assert resp.json()["entry"] == doc["decision"]
                verify_document(resp.json(), verifiers)
            # An unconfirmed commit either landed whole or not at all; either way the
            # public lookup answers definitively once storage is back.
            for answer in refused:
                assert answer.body is not None
                for entry_id in answer.body.get("entries", []):
                    resp = session.get(f"{server.url}/v1/decisions/{entry_id}", timeout=30)
                    assert resp.status_code in (200, 404), resp.text
                    if resp.status_code == 200:
                        verify_document(resp.json(), verifiers)
        assert_log_consistent(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            decisions = {
                r[0]
                for r in conn.execute(
                    text("SELECT entry_id FROM log_entries WHERE kind = 'decision'")
                )
            }
            content = {r[0] for r in conn.execute(text("SELECT decision_id FROM decision_content"))}
        engine.dispose()
        # A refused request may still have committed (the answer to COMMIT can be what
        # was lost), but never half of one, and never an acknowledged one missing.
        assert {d["decision"]["id"] for d in acknowledged} <= decisions
        assert content == decisions
        summary = fairwitness(env, "log", "audit", "--url", server.url)
        assert summary.startswith("ok: "), summary
        print(
            f"{len(acknowledged)} acknowledged, {len(refused)} refused "
            f"(slowest refusal {slowest:.2f} s); {summary}"
        )
    finally:
        stop.set()
        server.stop()
