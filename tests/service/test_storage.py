"""The log's storage guarantees: append-only, serialised appends, failure without a trace."""

from __future__ import annotations

import hashlib
import multiprocessing
import queue
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from audit_log import merkle
from audit_log.store import head
from service.http.state import runtime_of
from service.storage.db import make_engine
from tests.conftest import LIBRARY, log_size

THREAT = "I will hurt you"


@pytest.mark.parametrize(
    "table", ["log_entries", "log_hashes", "log_entry_rules", "policy_versions"]
)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_triggers_refuse_rewriting_the_log(client, auth, app, table, statement):
    assert (
        client.post(
            "/v1/moderations", json={"text": THREAT, "subject": "u"}, headers=auth
        ).status_code
        == 201
    )
    column = {
        "log_entries": "body",
        "log_hashes": "hash",
        "log_entry_rules": "rule",
        "policy_versions": "source",
    }[table]
    engine = runtime_of(app).engine
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement.format(t=table, c=column)))
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0


def test_every_row_and_hash_matches_the_stored_root(client, auth, database_url):
    for i in range(37):
        client.post(
            "/v1/moderations", json={"text": f"post number {i}", "subject": "u"}, headers=auth
        )
    assert_log_consistent(database_url, expected_decisions=37)


def assert_log_consistent(url: str, expected_decisions: int | None = None) -> None:
    """Indexes 0..n-1 without gap or duplicate, leaf hashes match bodies, root matches."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT idx, kind, body, leaf_hash FROM log_entries ORDER BY idx")
        ).all()
        size, root = head(conn)
        hashes = conn.execute(text("SELECT idx, hash FROM log_hashes")).all()
        stored: dict[int, bytes] = dict(hashes)
    engine.dispose()
    assert [r.idx for r in rows] == list(range(size))
    for r in rows:
        assert bytes(r.leaf_hash) == hashlib.sha256(b"\x00" + r.body.encode()).digest()
    if expected_decisions is not None:
        assert sum(r.kind == "decision" for r in rows) == expected_decisions
    memory: dict[int, bytes] = {}
    new, recomputed = merkle.append_batch(
        0, [bytes(r.leaf_hash) for r in rows], lambda idxs: [memory[i] for i in idxs]
    )
    assert recomputed == root
    assert {i: h for i, h in new} == {i: bytes(h) for i, h in stored.items()}


def _append_worker(url: str, instance_dir: str, key: str, worker: int, count: int, q) -> None:
    from service.http.app import create_app

    app = create_app({"database_url": url, "instance_dir": instance_dir, "policy_dir": LIBRARY})
    client = app.test_client()
    statuses = []
    for i in range(count):
        resp = client.post(
            "/v1/moderations",
            headers={"Authorization": f"Bearer {key}"},
            json={"text": f"worker {worker} says hello {i}", "subject": f"w{worker}"},
        )
        statuses.append(resp.status_code)
    q.put(statuses)


@pytest.mark.slow
def test_four_processes_append_without_gap_or_duplicate(database_url, instance_dir, client_key):
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(
            target=_append_worker, args=(database_url, str(instance_dir), client_key, w, 500, q)
        )
        for w in range(4)
    ]
    for p in procs:
        p.start()
    statuses = []
    while len(statuses) < len(procs):
        try:
            statuses.append(q.get(timeout=1))
        except queue.Empty:
            crashed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not crashed, f"a writer process died: {crashed}"
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(s == 201 for batch in statuses for s in batch), {
        s for batch in statuses for s in batch
    }
    assert_log_consistent(database_url, expected_decisions=2000)


def test_storage_down_is_503_and_appends_nothing(tmp_path, instance_dir, sqlite_url):
    from service.http.app import create_app
    from tests.conftest import make_key

    app = create_app(
        {
            "database_url": sqlite_url,
            "instance_dir": instance_dir,
            "policy_dir": LIBRARY,
            "db_timeout_seconds": 0.2,
        }
    )
    key = make_key(sqlite_url, "forum-example", "client")
    before = log_size(app)
    # Another writer holds the database lock past the timeout.
    blocker = make_engine(sqlite_url)
    conn = blocker.connect().execution_options(fairwitness_write=True)
    tx = conn.begin()
    conn.execute(text("UPDATE log_head SET size = size WHERE id = 1"))
    try:
        resp = app.test_client().post(
            "/v1/moderations",
            json={"text": THREAT, "subject": "u"},
            headers={"Authorization": f"Bearer {key}"},
        )
    finally:
        tx.rollback()
        conn.close()
        blocker.dispose()
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["Retry-After"]
    assert log_size(app) == before


def test_failure_mid_append_leaves_no_trace(client, auth, app, monkeypatch):
    """An error after the entry rows are staged rolls back entries, hashes and content."""
    from service.domain import moderation as moderate_module

    before = log_size(app)

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(moderate_module, "new_token", explode)
    resp = client.post("/v1/moderations", json={"text": THREAT, "subject": "u"}, headers=auth)
    assert resp.status_code == 500
    assert resp.mimetype == "application/problem+json"
    assert "fire" not in resp.get_data(as_text=True)
    assert log_size(app) == before
    engine = runtime_of(app).engine
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM log_entries")).scalar_one() == before
        assert conn.execute(text("SELECT count(*) FROM decision_content")).scalar_one() == 0


def test_threads_in_one_process_share_the_log(client, auth, app, database_url):
    errors = []

    def post(n: int) -> None:
        c = app.test_client()
        for i in range(10):
            r = c.post("/v1/moderations", json={"text": f"t{n} {i}", "subject": "x"}, headers=auth)
            if r.status_code != 201:
                errors.append(r.status_code)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_log_consistent(database_url, expected_decisions=40)


def test_a_statement_the_database_refuses_for_its_shape_is_a_500_not_an_outage(
    client, auth, app, monkeypatch
):
    """A query too big for the database (more compound terms than SQLite allows, more
    parameters than PostgreSQL's protocol carries) is a bug in the service: it answers
    500 and counts no outage, instead of telling clients to retry a request that will
    fail the same way forever."""
    from service.domain import moderation as moderate_module
    from service.metrics import STORAGE_UNAVAILABLE

    def oversized(conn, keys, now, limit):
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(" UNION ALL ".join(["SELECT 1"] * 600))
        else:
            many = 70_000
            marks = ",".join(["%s"] * many)
            conn.exec_driver_sql(f"SELECT 1 WHERE 1 IN ({marks})", tuple(range(many)))
        raise AssertionError("the database accepted the oversized statement")

    def outages() -> float:
        return sum(s.value for m in STORAGE_UNAVAILABLE.collect() for s in m.samples)

    monkeypatch.setattr(moderate_module, "newest_strikes", oversized)
    before, refused = log_size(app), outages()
    resp = client.post("/v1/moderations", json={"text": THREAT, "subject": "u"}, headers=auth)
    assert resp.status_code == 500, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith("internal-error")
    assert "Retry-After" not in resp.headers
    assert outages() == refused
    assert log_size(app) == before


def test_a_page_during_a_storage_outage_is_an_html_503_counted_as_an_outage(
    client, app, monkeypatch
):
    """The web pages answer a storage outage as every route does: a 503 with
    ``Retry-After``, counted in the storage-unavailable metric and the outage log, but
    as a page a person can read."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from service.metrics import STORAGE_UNAVAILABLE

    def timeouts() -> float:
        return STORAGE_UNAVAILABLE.labels(cause="timeout")._value.get()

    def no_connection():
        raise PoolTimeout("no connection came free within the timeout")

    refused = timeouts()
    monkeypatch.setattr(runtime_of(app).engine, "connect", no_connection)
    resp = client.get("/")
    assert resp.status_code == 503
    assert resp.mimetype == "text/html"
    assert resp.headers["Retry-After"] == "1"
    assert "storage is unavailable right now" in resp.get_data(as_text=True)
    assert timeouts() == refused + 1
