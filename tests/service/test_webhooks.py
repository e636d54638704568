"""Webhooks against a real HTTP receiver on 127.0.0.1: signed, retried, visible."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from service.webhooks import (
    SIGNATURE_HEADER,
    backoff,
    deliver_due,
    make_sender,
    sign,
    verify_signature,
)
from tests.conftest import LIBRARY, log_size, make_key

# The receivers here listen on 127.0.0.1, which the default sender refuses.
LOCAL = make_sender(allow_private=True)

THREAT = "I will hurt you"


class Receiver:
    """An HTTP server that records every POST and fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0, redirect_to: str | None = None) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.received) < receiver.failures else 204
                if redirect_to is not None:
                    status = 307
                receiver.received.append((dict(self.headers), body, status))
                self.send_response(status)
                if redirect_to is not None:
                    self.send_header("Location", redirect_to)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def start(failures: int = 0, redirect_to: str | None = None) -> Receiver:
        made.append(Receiver(failures, redirect_to))
        return made[-1]

    yield start
    for r in made:
        r.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def register(client, auth, url) -> dict:
    resp = client.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def resolved_appeal(client, auth, reviewer, outcome="overturned") -> tuple[dict, dict]:
    result = client.post(
        "/v1/moderations", json={"text": THREAT, "subject": "hooked"}, headers=auth
    ).get_json()
    appeal = client.post(
        "/v1/appeals",
        json={
            "decision_id": result["decision"]["id"],
            "statement": "context",
            "token": result["appeal"]["token"],
        },
    ).get_json()
    resp = client.post(
        f"/v1/appeals/{appeal['id']}/resolution",
        json={"outcome": outcome, "rationale": "Not a threat."},
        headers=reviewer,
    )
    assert resp.status_code == 201, resp.get_json()
    return result["decision"], resp.get_json()


def join(app) -> None:
    app.extensions["fairwitness.webhooks"].join()


def test_signature_round_trip():
    header = sign("whsec_x", 1_700_000_000, b'{"a":1}')
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature("whsec_x", header, b'{"a":1}', now=1_700_000_100)
    assert not verify_signature("whsec_x", header, b'{"a":2}', now=1_700_000_100)
    assert not verify_signature("whsec_y", header, b'{"a":1}', now=1_700_000_100)
    assert not verify_signature("whsec_x", header, b'{"a":1}', now=1_700_001_000)
    assert not verify_signature("whsec_x", "garbage", b'{"a":1}', now=1_700_000_000)


def test_resolution_event_arrives_signed(client, auth, app, database_url, receiver, clock):
    hook = receiver()
    registered = register(client, auth, hook.url)
    assert registered["secret"].startswith("whsec_")
    reviewer = bearer(make_key(database_url, "forum-example", "reviewer"))
    decision, resolution = resolved_appeal(client, auth, reviewer)
    join(app)
    assert len(hook.received) == 1
    headers, body, _ = hook.received[0]
    assert verify_signature(
        registered["secret"], headers[SIGNATURE_HEADER], body, now=int(clock.now.timestamp())
    )
    event = json.loads(body)
    assert event["type"] == "appeal.resolved" and event["id"].startswith("evt_")
    assert event["data"] == {
        "appeal_id": resolution["resolution"]["ref"],
        "decision_id": decision["id"],
        "outcome": "overturned",
        "original_action": "remove",
        "action": "allow",
        "resolution_id": resolution["resolution"]["id"],
        "reversal_id": resolution["reversal"]["id"],
        "log_index": resolution["receipt"]["index"],
    }
    deliveries = client.get("/v1/webhooks/deliveries", headers=auth).get_json()["deliveries"]
    assert [(d["status"], d["attempts"], d["last_status"]) for d in deliveries] == [
        ("delivered", 1, 204)
    ]


def test_failing_receiver_gets_the_event_on_the_third_attempt(
    client, auth, app, database_url, receiver, clock
):
    hook = receiver(failures=2)
    register(client, auth, hook.url)
    reviewer = bearer(make_key(database_url, "forum-example", "reviewer"))
    resolved_appeal(client, auth, reviewer)
    join(app)  # the background attempt after the request: fails
    engine = app.extensions["fairwitness"].engine

    def state():
        (d,) = client.get("/v1/webhooks/deliveries", headers=auth).get_json()["deliveries"]
        return d["status"], d["attempts"], d["last_status"], d["next_attempt_at"]

    status, attempts, last, _ = state()
    assert (status, attempts, last) == ("pending", 1, 500)
    # Not due yet: nothing is sent.
    assert deliver_due(engine, clock, LOCAL) == {"delivered": 0, "pending": 0, "failed": 0}
    clock.advance(seconds=int(backoff(1).total_seconds()))
    assert deliver_due(engine, clock, LOCAL)["pending"] == 1
    assert state()[:3] == ("pending", 2, 500)
    clock.advance(seconds=int(backoff(2).total_seconds()))
    assert deliver_due(engine, clock, LOCAL)["delivered"] == 1
    assert state()[:3] == ("delivered", 3, 204)
    assert [s for _, _, s in hook.received] == [500, 500, 204]
    # The same event every time (receivers deduplicate on its id).
    assert len({json.loads(b)["id"] for _, b, _ in hook.received}) == 1
    clock.advance(days=1)
    assert deliver_due(engine, clock, LOCAL) == {"delivered": 0, "pending": 0, "failed": 0}


def test_gives_up_after_the_last_attempt(client, auth, app, database_url, receiver, clock):
    from service.webhooks import MAX_ATTEMPTS

    hook = receiver(failures=100)
    register(client, auth, hook.url)
    resolved_appeal(client, auth, bearer(make_key(database_url, "forum-example", "reviewer")))
    join(app)
    engine = app.extensions["fairwitness"].engine
    for _ in range(MAX_ATTEMPTS - 1):
        clock.advance(hours=7)
        deliver_due(engine, clock, LOCAL)
    (d,) = client.get("/v1/webhooks/deliveries?status=failed", headers=auth).get_json()[
        "deliveries"
    ]
    assert d["attempts"] == MAX_ATTEMPTS and d["next_attempt_at"] is None
    assert len(hook.received) == MAX_ATTEMPTS


def test_cli_delivers_what_the_thread_could_not(
    client, auth, app, database_url, receiver, clock, instance_dir, monkeypatch
):
    from service import cli

    hook = receiver(failures=1)
    register(client, auth, hook.url)
    # The CLI reads the real clock: resolve an hour in the past so the retry is due now.
    clock.advance(hours=-1)
    resolved_appeal(client, auth, bearer(make_key(database_url, "forum-example", "reviewer")))
    join(app)
    monkeypatch.setenv("FAIRWITNESS_DATABASE_URL", database_url)
    monkeypatch.setenv("FAIRWITNESS_INSTANCE_DIR", str(instance_dir))
    monkeypatch.setenv("FAIRWITNESS_WEBHOOK_ALLOW_PRIVATE", "true")
    result = CliRunner().invoke(cli.main, ["webhooks", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered=1" in result.stderr
    assert [s for _, _, s in hook.received] == [500, 204]


def test_events_go_only_to_the_deciding_apps_webhooks(client, auth, app, database_url, receiver):
    mine, theirs = receiver(), receiver()
    register(client, auth, mine.url)
    register(client, bearer(make_key(database_url, "another-app", "client")), theirs.url)
    resolved_appeal(
        client, auth, bearer(make_key(database_url, "forum-example", "reviewer")), outcome="upheld"
    )
    join(app)
    assert len(mine.received) == 1 and theirs.received == []
    assert json.loads(mine.received[0][1])["data"]["reversal_id"] is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "not a url",
        "http://",
        "/relative",
        "http://user:pw@example.org/",
        "https://example.org/#frag",
        "http://example.org:99999/",
        "x" * 2049,
    ],
)
def test_bad_urls_are_422(client, auth, app, url):
    before = log_size(app)
    resp = client.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["errors"][0]["pointer"] == "#/url"
    assert log_size(app) == before


def test_registration_needs_a_client_key_and_is_capped(client, auth, database_url):
    reviewer = bearer(make_key(database_url, "forum-example", "reviewer"))
    assert client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/"}).status_code == 401
    assert (
        client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/"}, headers=reviewer
        ).status_code
        == 403
    )
    for i in range(10):
        register(client, auth, f"http://127.0.0.1:9/{i}")
    resp = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=auth)
    assert resp.status_code == 409
    assert client.get("/v1/webhooks/deliveries", headers=reviewer).status_code == 403
    assert client.get("/v1/webhooks/deliveries?status=lost", headers=auth).status_code == 400


def test_webhooks_are_listed_without_secrets_and_removed(client, auth, database_url):
    first = register(client, auth, "http://127.0.0.1:9/first")
    second = register(client, auth, "http://127.0.0.1:9/second")
    listed = client.get("/v1/webhooks", headers=auth)
    assert listed.status_code == 200
    # Oldest first; the test clock stands still, so both have the same time.
    assert sorted(listed.get_json()["webhooks"], key=lambda h: h["id"]) == sorted(
        ({k: hook[k] for k in ("id", "url", "created_at")} for hook in (first, second)),
        key=lambda h: h["id"],
    )
    assert "whsec_" not in listed.get_data(as_text=True)

    other_app = bearer(make_key(database_url, "other-app", "client"))
    reviewer = bearer(make_key(database_url, "forum-example", "reviewer"))
    assert client.get("/v1/webhooks", headers=other_app).get_json() == {"webhooks": []}
    assert client.get("/v1/webhooks", headers=reviewer).status_code == 403
    assert client.delete(f"/v1/webhooks/{first['id']}").status_code == 401
    # Another app's webhook is as unknown as a missing one, and stays.
    refused = client.delete(f"/v1/webhooks/{first['id']}", headers=other_app)
    assert refused.status_code == 404
    assert refused.content_type == "application/problem+json"

    assert client.delete(f"/v1/webhooks/{first['id']}", headers=auth).status_code == 204
    assert [h["id"] for h in client.get("/v1/webhooks", headers=auth).get_json()["webhooks"]] == [
        second["id"]
    ]
    assert client.delete(f"/v1/webhooks/{first['id']}", headers=auth).status_code == 404


def test_a_removed_webhook_frees_its_place_and_gets_no_more_events(
    client, auth, app, database_url, receiver, clock
):
    hook = receiver(failures=100)
    removed = register(client, auth, hook.url)
    for i in range(9):
        register(client, auth, f"http://127.0.0.1:9/{i}")
    reviewer = bearer(make_key(database_url, "forum-example", "reviewer"))
    resolved_appeal(client, auth, reviewer)
    join(app)
    tries = len(hook.received)
    assert tries == 1
    assert (
        client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=auth).status_code
        == 409
    )

    assert client.delete(f"/v1/webhooks/{removed['id']}", headers=auth).status_code == 204
    deliveries = client.get("/v1/webhooks/deliveries", headers=auth).get_json()["deliveries"]
    mine = [d for d in deliveries if d["webhook_id"] == removed["id"]]
    assert [(d["status"], d["last_error"], d["next_attempt_at"]) for d in mine] == [
        ("failed", "webhook removed", None)
    ]
    clock.advance(hours=24)
    deliver_due(app.extensions["fairwitness"].engine, clock, LOCAL)
    assert len(hook.received) == tries
    register(client, auth, "http://127.0.0.1:9/x")  # the tenth place is free again


# --- only public endpoints, by default ---------------------------------------------------


@pytest.fixture
def public_only_app(database_url, instance_dir, clock):
    from service import create_app

    application = create_app(
        {"database_url": database_url, "instance_dir": instance_dir, "policy_dir": LIBRARY},
        clock=clock,
    )
    yield application
    application.extensions["fairwitness"].engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://metadata.localhost/",
    ],
)
def test_private_endpoints_are_refused_at_registration(public_only_app, database_url, url):
    key = bearer(make_key(database_url, "forum-example", "client"))
    client = public_only_app.test_client()
    before = log_size(public_only_app)
    resp = client.post("/v1/webhooks", json={"url": url}, headers=key)
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["errors"][0]
    assert error["pointer"] == "#/url" and "not a public address" in error["detail"]
    # Nothing was stored: no webhook row, and the log did not move.
    from sqlalchemy import func, select

    from service.db import webhooks

    with public_only_app.extensions["fairwitness"].engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(webhooks)).scalar_one() == 0
    assert log_size(public_only_app) == before


def test_a_name_that_resolves_to_a_private_address_gets_nothing(receiver):
    """The check is made on the connected address, so a public-looking name that leads
    to 127.0.0.1 (or rebinds to it) receives no request."""
    hook = receiver()
    named = hook.url.replace("127.0.0.1", "localhost")  # a name, resolving to loopback
    status, error = make_sender()(named, b"{}", {"Content-Type": "application/json"})
    assert status is None and "not a public address" in error
    assert hook.received == []


def test_redirects_are_not_followed(receiver):
    target = receiver()
    redirector = receiver(redirect_to=target.url)
    status, error = LOCAL(redirector.url, b"{}", {"Content-Type": "application/json"})
    assert status == 307 and error is None
    assert target.received == []
