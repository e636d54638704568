"""The log at scale: proofs read O(log n) stored hashes; exports stream in bounded memory."""

from __future__ import annotations

import math
import random
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event

from audit_log import merkle, store
from audit_log.store import Log, head, prove_consistency, prove_inclusion
from service.clock import rfc3339
from service.domain.ids import new_id
from service.http.state import runtime_of
from service.storage.db import init_database, make_engine
from service.storage.instance import init_instance, load_instance, signer_for
from tests.conftest import LIBRARY

pytestmark = pytest.mark.slow

ENTRIES = 100_000
BATCH = 10_000
ORIGIN = "fairwitness.example/log"


def decision(i: int, moment: datetime) -> dict:
    """A body shaped like the service's decisions; apps alternate with the index."""
    threat = i % 7 == 0
    return {
        "kind": "decision",
        "id": new_id("dec", moment),
        "time": rfc3339(moment),
        "app": "forum-a" if i % 2 == 0 else "forum-b",
        "subject": f"sub_{i % 5000:032x}",
        "content": f"sha256:{i:064x}",
        "policy": {"id": "civility", "version": "sha256:" + "c" * 64},
        "classifier": {"name": "lexicon", "version": "sha256:" + "d" * 64},
        "scores": {"lexicon:threats": 1.0 if threat else 0.0, "lexicon:insults": 0.0},
        "rules": [
            {
                "id": "threat",
                "action": "remove",
                "labels": ["lexicon:threats"],
                "notice": "Your post was removed because it reads as a threat.",
                "spans": [[0, 4]],
            }
        ]
        if threat
        else [],
        "action": "remove" if threat else "allow",
        "content_action": None,
        "automated": True,
        "notice": None,
        "excerpt": None,
        "strike": None,
        "escalation": None,
    }


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> dict:
    """A 100,000-entry SQLite log appended in batches of 10,000 through ``Log.append``."""
    root = tmp_path_factory.mktemp("big-log")
    url = f"sqlite:///{root / 'fairwitness.db'}"
    instance = root / "instance"
    init_instance(instance)
    init_database(url)
    engine = make_engine(url, sqlite_synchronous="OFF")
    log = Log(engine, ORIGIN, (signer_for(load_instance(instance), ORIGIN),))
    moment = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    for start in range(0, ENTRIES, BATCH):
        with log.append() as tx:
            for i in range(start, start + BATCH):
                body = decision(i, moment)
                tx.add(body)
    engine.dispose()
    return {"url": url, "instance": instance}


class HashReads:
    """Counts the statements SQLite runs on ``log_hashes``, whichever layer sent them
    (the proof path hands compiled SQL straight to the driver), and the values each
    one's IN list carries."""

    def __init__(self, engine) -> None:
        self.queries: list[int] = []
        event.listen(engine, "connect", self._trace)

    def _trace(self, dbapi_conn, _record) -> None:
        dbapi_conn.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        if "log_hashes" in sql and sql.lstrip().upper().startswith("SELECT"):
            in_list = sql[sql.index(" IN (") + 5 : sql.index(")", sql.index(" IN ("))]
            self.queries.append(in_list.count(",") + 1)


def test_proofs_read_log_n_hashes_in_one_query(big_log, monkeypatch):
    engine = make_engine(big_log["url"])
    reads = HashReads(engine)
    asked: list[int] = []
    real_read = store.read_hashes

    def counting(conn, indexes):
        asked.append(len(set(indexes)))
        return real_read(conn, indexes)

    # prove_inclusion and prove_consistency look read_hashes up at call time.
    monkeypatch.setattr(store, "read_hashes", counting)
    rng = random.Random(6962)
    with engine.connect() as conn:
        n, root = head(conn)
        assert n == ENTRIES
        bound = 2 * math.log2(n) + 2
        for index in [0, 1, n // 2, n - 2, n - 1, *rng.sample(range(n), 20)]:
            reads.queries.clear()
            asked.clear()
            proof = prove_inclusion(conn, index, n)
            assert len(reads.queries) == 1, f"inclusion of {index}: {reads.queries}"
            # The IN list is padded to a power of two by repeating its last index.
            assert asked[0] <= bound and asked[0] <= reads.queries[0] < 2 * asked[0]
            leaf = conn.exec_driver_sql(
                f"SELECT leaf_hash FROM log_entries WHERE idx = {index}"
            ).scalar_one()
            merkle.check_record(proof, n, root, index, bytes(leaf))
        for old in [1, 2, 3, 4096, 65537, n - 1, *rng.sample(range(1, n), 20)]:
            reads.queries.clear()
            asked.clear()
            proof = prove_consistency(conn, old, n)
            assert len(reads.queries) == 1, f"consistency from {old}: {reads.queries}"
            assert asked[0] <= bound and asked[0] <= reads.queries[0] < 2 * asked[0]
            old_root = merkle.tree_hash(old, lambda idxs: real_read(conn, idxs))
            merkle.check_tree(proof, n, root, old, old_root)
    engine.dispose()


@pytest.fixture(scope="module")
def big_app(big_log):
    from service.http.app import create_app

    app = create_app(
        {"database_url": big_log["url"], "instance_dir": big_log["instance"], "policy_dir": LIBRARY}
    )
    yield app
    runtime_of(app).engine.dispose()


def _consume(app, accept: str) -> tuple[int, int, int]:
    """Stream the forum-a export chunk by chunk; return (bytes, entries, peak bytes).

    Checks on the fly that the entries are exactly indexes 0, 2, 4, ... in order.
    """
    client = app.test_client()
    csv = accept == "text/csv"
    tracemalloc.start()
    tracemalloc.reset_peak()
    total = entries = 0
    carry = b""
    resp = client.get("/v1/log/entries?app=forum-a", headers={"Accept": accept}, buffered=False)
    assert resp.status_code == 200 and resp.mimetype == accept
    header_seen = not csv
    try:
        for chunk in resp.iter_encoded():
            total += len(chunk)
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            for line in lines:
                if not header_seen:
                    assert line.startswith(b"index,id,kind")
                    header_seen = True
                    continue
                if csv:
                    index = int(line[: line.index(b",")])
                else:
                    assert line.startswith(b'{"index":')
                    index = int(line[9 : line.index(b",")])
                assert index == 2 * entries, f"entry {index} arrived as number {entries}"
                entries += 1
    finally:
        resp.close()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert carry.strip() == b""
    return total, entries, peak


@pytest.mark.parametrize("accept", ["application/x-ndjson", "text/csv"])
def test_exports_stream_in_bounded_memory(big_app, accept):
    total, entries, peak = _consume(big_app, accept)
    assert entries == ENTRIES // 2
    assert total > 30_000_000, f"the export is only {total} bytes"
    assert peak < total / 4, f"peak {peak} bytes while streaming {total} bytes"
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    print(
        f"\n{accept}: {entries} entries, {total / 2**20:.1f} MiB streamed, "
        f"peak traced memory {peak / 2**20:.2f} MiB"
    )


def test_a_monitor_of_the_big_log_sees_it_clean(big_log, big_app):
    """The auditor core over the whole stored log, entry by entry, as the monitor runs it."""
    from audit_log.audit import LogAuditor, loads
    from audit_log.store import latest_checkpoint, log_checkpoints, log_entries

    runtime = runtime_of(big_app)
    auditor = LogAuditor([s.verifier() for s in runtime.log.signers])
    with runtime.engine.connect() as conn:
        size, note = latest_checkpoint(conn)
        for (cp_note,) in conn.execute(
            log_checkpoints.select()
            .with_only_columns(log_checkpoints.c.note)
            .order_by(log_checkpoints.c.size)
        ):
            auditor.check_checkpoint(cp_note)
        rows = conn.execute(
            log_entries.select()
            .with_only_columns(log_entries.c.idx, log_entries.c.leaf_hash, log_entries.c.body)
            .order_by(log_entries.c.idx)
        ).yield_per(5000)
        for idx, leaf, body in rows:
            auditor.feed(idx, bytes(leaf), loads(body))
    state = auditor.finish(note)
    assert state.size == size == ENTRIES + 1
    assert auditor.checkpoints_checked == ENTRIES // BATCH + 1
    assert len(auditor._frontier) == bin(size).count("1")
    assert Path(big_log["url"].removeprefix("sqlite:///")).exists()
