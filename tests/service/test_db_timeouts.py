"""Storage that fails in the awkward places: a commit whose answer is lost, and a host
that stalls while it holds the log's lock."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from service.http.state import runtime_of
from tests.conftest import LIBRARY, log_size

THREAT = "I will hurt you"
STALL_SECONDS = 4.0


def _unconfirmed_count(client) -> float:
    metrics = client.get("/metrics").get_data(as_text=True)
    return sum(
        s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name == "fairwitness_storage_unavailable_total"
        and s.labels.get("cause") == "commit_unconfirmed"
    )


def test_a_lost_commit_answer_is_503_naming_what_may_be_recorded(client, auth, app):
    """The database commits, then the connection drops before it says so: the client
    must hear that the outcome is unknown, and which entries to look up."""
    engine = runtime_of(app).engine
    lost: list[bool] = []

    @event.listens_for(engine, "commit")
    def _commit_then_drop(conn) -> None:
        if conn.get_execution_options().get("fairwitness_write") and not lost:
            lost.append(True)
            conn.connection.dbapi_connection.commit()
            raise OperationalError("COMMIT", {}, ConnectionError("connection lost"))

    before = log_size(app)
    refusals = _unconfirmed_count(client)
    resp = client.post("/v1/moderations", json={"text": THREAT, "subject": "u"}, headers=auth)
    assert resp.status_code == 503, resp.text
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["Retry-After"]
    problem = resp.get_json()
    assert problem["type"].endswith("/commit-unconfirmed")
    (decision_id,) = problem["entries"]
    # Here the commit did land, which is exactly why "nothing was recorded" would be false.
    assert log_size(app) == before + 1
    assert client.get(f"/v1/decisions/{decision_id}").status_code == 200
    assert _unconfirmed_count(client) == refusals + 1
    # The next request is served normally.
    assert (
        client.post(
            "/v1/moderations", json={"text": THREAT, "subject": "u"}, headers=auth
        ).status_code
        == 201
    )


@pytest.mark.postgres
def test_a_host_that_stalls_mid_append_loses_the_log_lock(postgres_url, instance_dir, monkeypatch):
    """Host A stops in the middle of an append (frozen, or cut off from the network)
    while holding the log head's row lock that every host's appends wait for. The
    database ends A's session after the timeout, so host B's appends go on; A's request,
    when it wakes, is a 503 that recorded nothing."""
    from service.domain import moderation as moderate_module
    from service.http.app import create_app
    from service.storage.db import init_database
    from tests.conftest import make_key

    init_database(postgres_url)
    settings = {
        "database_url": postgres_url,
        "instance_dir": instance_dir,
        "policy_dir": LIBRARY,
        "db_timeout_seconds": 1.0,
    }
    host_a, host_b = create_app(settings), create_app(settings)
    headers = {"Authorization": f"Bearer {make_key(postgres_url, 'forum-example', 'client')}"}
    build_body = moderate_module.decision_body

    first_call = threading.Event()

    def stall_on_host_a(*args, **kwargs):
        # Called inside the append transaction, after the head row is locked. Host A's
        # post comes first; it is appended on A's moderating thread, not the request's.
        if not first_call.is_set():
            first_call.set()
            time.sleep(STALL_SECONDS)
        return build_body(*args, **kwargs)

    monkeypatch.setattr(moderate_module, "decision_body", stall_on_host_a)
    answers = {}

    def post_on_a() -> None:
        answers["a"] = host_a.test_client().post(
            "/v1/moderations", json={"text": "stalled post", "subject": "a"}, headers=headers
        )

    stalled = threading.Thread(target=post_on_a, name="host-a")
    try:
        stalled.start()
        time.sleep(0.3)
        started = time.monotonic()
        while True:  # as a client does on 503 + Retry-After
            resp = host_b.test_client().post(
                "/v1/moderations", headers=headers, json={"text": THREAT, "subject": "b"}
            )
            if resp.status_code != 503 or time.monotonic() - started > STALL_SECONDS - 1:
                break
        # Well before A wakes up: the database, not A, gave the lock back.
        assert resp.status_code == 201, resp.text
        stalled.join(timeout=30)
        a = answers["a"]
        assert a.status_code == 503, a.get_data(as_text=True)
        assert a.get_json()["type"].endswith("/storage-unavailable")
        bodies = host_b.test_client().get("/v1/log/entries?kind=decision").get_json()
        assert [e["entry"]["subject"] for e in bodies["entries"]] == [
            resp.get_json()["decision"]["subject"]
        ]
    finally:
        stalled.join(timeout=30)
        for app in (host_a, host_b):
            runtime_of(app).engine.dispose()
