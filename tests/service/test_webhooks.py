"""Webhooks against a real HTTP receiver on 127.0.0.1: signed, retried, visible."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from service.delivery.webhooks import (
    SIGNATURE_HEADER,
    backoff,
    deliver_due,
    make_sender,
    sign,
    verify_signature,
)
from service.http.state import runtime_of, webhook_dispatcher
from tests.conftest import LIBRARY, log_size, make_key

# The receivers here listen on 127.0.0.1, which the default sender refuses.
LOCAL = make_sender(allow_private=True)

THREAT = "I will hurt you"


class Receiver:
    """An HTTP server that records every POST and fails the first ``failures`` of them."""

    def __init__(
        self,
        failures: int = 0,
        redirect_to: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.received) < receiver.failures else 204
                if redirect_to is not None:
                    status = 307
                receiver.received.append((dict(self.headers), body, status))
                receiver.paths.append(self.path)
                self.send_response(status)
                if redirect_to is not None:
                    self.send_header("Location", redirect_to)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_port
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def start(
        failures: int = 0, redirect_to: str | None = None, tls: ssl.SSLContext | None = None
    ) -> Receiver:
        made.append(Receiver(failures, redirect_to, tls))
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
    webhook_dispatcher(app).join()


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
    engine = runtime_of(app).engine

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
    from service.delivery.webhooks import MAX_ATTEMPTS

    hook = receiver(failures=100)
    register(client, auth, hook.url)
    resolved_appeal(client, auth, bearer(make_key(database_url, "forum-example", "reviewer")))
    join(app)
    engine = runtime_of(app).engine
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
    from service.cli import main as cli

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
        "http://example.org:0/",
        "x" * 2049,
        # Hosts urlsplit cannot read: an unclosed or invalid [IPv6] literal.
        "http://[::1",
        "http://[::1]x/",
        "http://[v1.fe]/",
        "http://[fe80::1%25eth0]/",
        "http://exämple.org/",
        "http://example.org/ä",
    ],
)
def test_bad_urls_are_422(client, auth, app, url):
    before = log_size(app)
    resp = client.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 422, resp.get_json()
    assert resp.content_type == "application/problem+json"
    assert resp.get_json()["errors"][0]["pointer"] == "#/url"
    assert client.get("/v1/webhooks", headers=auth).get_json() == {"webhooks": []}
    assert log_size(app) == before


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f000001", "0177.0.0.1", "017700000001", "127.1", "0x7f.1", "127.0.0.1."],
)
def test_ipv4_addresses_in_other_spellings_are_refused(client, auth, host):
    """Resolvers read all of these as 127.0.0.1. Even where private endpoints are allowed
    (this app allows them), a host that two parsers could read differently is refused."""
    resp = client.post("/v1/webhooks", json={"url": f"http://{host}:8080/hook"}, headers=auth)
    assert resp.status_code == 422, resp.get_json()
    assert resp.content_type == "application/problem+json"
    assert "four decimal numbers" in resp.get_json()["errors"][0]["detail"]
    assert client.get("/v1/webhooks", headers=auth).get_json() == {"webhooks": []}


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
    deliver_due(runtime_of(app).engine, clock, LOCAL)
    assert len(hook.received) == tries
    register(client, auth, "http://127.0.0.1:9/x")  # the tenth place is free again


# --- only public endpoints, by default ---------------------------------------------------


@pytest.fixture
def public_only_app(database_url, instance_dir, clock):
    from service.http.app import create_app

    application = create_app(
        {"database_url": database_url, "instance_dir": instance_dir, "policy_dir": LIBRARY},
        clock=clock,
    )
    yield application
    runtime_of(application).engine.dispose()


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
        "http://LOCALHOST./hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://192.0.0.8/hook",
        "http://224.0.0.1/hook",
        "http://[ff0e::1]/hook",
        "http://[fc00::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fec0::1]/hook",
        # IPv6 forms that carry a private IPv4 address, where the packets end up.
        "http://[::ffff:7f00:1]/hook",  # IPv4-mapped, in hex
        "http://[::ffff:10.0.0.1]/hook",
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[::ffff:0:7f00:1]/hook",  # IPv4-translated
        "http://[64:ff9b::7f00:1]/hook",  # NAT64
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 to the metadata service
        "http://[64:ff9b:1::808:808]/hook",  # local-use NAT64
        "http://[2002:7f00:1::]/hook",  # 6to4
        "http://[2002:a9fe:a9fe::1]/hook",
        "http://[2001:0:a00:1::80ff:fffe]/hook",  # Teredo: server 10.0.0.1, client 127.0.0.1
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

    from service.storage.db import webhooks

    with runtime_of(public_only_app).engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(webhooks)).scalar_one() == 0
    assert log_size(public_only_app) == before


def test_redirects_are_not_followed(receiver):
    target = receiver()
    redirector = receiver(redirect_to=target.url)
    status, error = LOCAL(redirector.url, b"{}", {"Content-Type": "application/json"})
    assert status == 307 and error is None
    assert target.received == []


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/fairwitness?app=1",
        "http://8.8.8.8/hook",
        "http://[2606:4700::1111]:8443/hook",
        "http://[64:ff9b::808:808]/hook",  # NAT64 to a public address
        "http://[2002:808:808::1]/hook",  # 6to4 from a public address
    ],
)
def test_public_endpoints_are_registered(public_only_app, database_url, url):
    key = bearer(make_key(database_url, "forum-example", "client"))
    client = public_only_app.test_client()
    assert register(client, key, url)["url"] == url


@pytest.fixture
def listener():
    """A port on 127.0.0.1 that listens and never accepts: a connection opened to it
    waits in the accept queue, where ``connections_to`` finds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections_to(listener: socket.socket) -> int:
    opened = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return opened
        conn.close()
        opened += 1


@pytest.mark.parametrize(
    ("url", "reached_where_private_allowed"),
    [
        ("http://127.0.0.1:{port}/hook", True),
        ("https://127.0.0.1:{port}/hook", True),
        ("http://localhost:{port}/hook", True),  # a name: the address it resolves to is checked
        ("https://localhost:{port}/hook", True),
        ("http://[::ffff:127.0.0.1]:{port}/hook", True),
        # Spellings resolvers read as 127.0.0.1 are refused even where private is allowed.
        ("http://2130706433:{port}/hook", False),
        ("http://0x7f000001:{port}/hook", False),
        ("http://127.1:{port}/hook", False),
    ],
)
def test_a_refused_address_is_never_connected_to(listener, url, reached_where_private_allowed):
    """Refused before any TCP connection (or TLS hello), so the answer cannot tell an
    open port from a closed one."""
    port = listener.getsockname()[1]
    headers = {"Content-Type": "application/json"}
    assert make_sender()(url.format(port=port), b"{}", headers) == (None, "refused by policy")
    assert connections_to(listener) == 0
    # A closed port gets the very same answer.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    assert make_sender()(url.format(port=closed_port), b"{}", headers) == (
        None,
        "refused by policy",
    )
    # The listener does see the connections a sender opens: where private endpoints are
    # allowed, the plainly spelled URLs reach it (and time out, as it never answers).
    allowing = make_sender(allow_private=True, timeout=0.5)
    outcome = allowing(url.format(port=port), b"{}", headers)
    if reached_where_private_allowed:
        assert outcome == (None, "timed out")
        assert connections_to(listener) == 1
    else:
        assert outcome == (None, "refused by policy")
        assert connections_to(listener) == 0


def test_a_stored_private_endpoint_gets_no_connection(app, public_only_app, database_url, listener):
    """A deployment that allowed private endpoints registered one; once it no longer
    allows them, events for it are refused without a connection."""
    key = bearer(make_key(database_url, "forum-example", "client"))
    register(app.test_client(), key, f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
    client = public_only_app.test_client()
    resolved_appeal(client, key, bearer(make_key(database_url, "forum-example", "reviewer")))
    join(public_only_app)
    (delivery,) = client.get("/v1/webhooks/deliveries", headers=key).get_json()["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == (
        "pending",
        1,
        None,
    )
    assert delivery["last_error"] == "refused by policy"
    assert connections_to(listener) == 0


def test_failures_are_told_as_categories_only(receiver):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    headers = {"Content-Type": "application/json"}
    # No errno, no address, no exception text: a fixed category.
    assert LOCAL(f"http://127.0.0.1:{port}/", b"{}", headers) == (None, "delivery failed")
    assert LOCAL("http://no-such-host.invalid/", b"{}", headers) == (None, "delivery failed")
    hook = receiver()
    assert LOCAL(hook.url + "?a=1&b=2", b"{}", headers) == (204, None)
    assert hook.paths == ["/hook?a=1&b=2"]
    assert hook.received[0][0]["Host"] == f"127.0.0.1:{hook.port}"


def test_a_receiver_that_answers_slowly_is_cut_off():
    """One byte every 50 ms never trips a per-read timeout; the whole attempt is
    bounded all the same."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(400):  # 20 s at most, so a broken cut-off fails, not hangs
                if stop.wait(0.05):
                    return
                try:
                    conn.sendall(b"X")
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
        sender = make_sender(allow_private=True, timeout=1.0)
        assert sender(url, b"{}", {"Content-Type": "application/json"}) == (None, "timed out")
    finally:
        stop.set()
        thread.join()
        server.close()


def test_a_name_whose_dns_never_answers_is_cut_off(monkeypatch):
    """The system resolver has no caller's timeout: a lookup that hangs must not hold the
    deliverer past the attempt's limit."""
    from service.delivery import egress

    released = threading.Event()
    asked = []

    def hanging_lookup(host, *args, **kwargs):
        asked.append(host)
        released.wait(20)  # a broken cut-off fails the test, it does not hang the run
        raise socket.gaierror("no answer")

    monkeypatch.setattr(egress.socket, "getaddrinfo", hanging_lookup)
    sender = make_sender(allow_private=True, timeout=0.5)
    try:
        answer = sender("http://slow-dns.example/hook", b"{}", {})
        assert answer == (None, "timed out")
        assert not released.is_set() and asked == ["slow-dns.example"]
    finally:
        released.set()


@pytest.fixture
def local_ca(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A certificate authority trusted through SSL_CERT_FILE, as an operator's private CA
    would be, and a server context whose certificate names only "localhost"."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(subject, issuer, key, signer, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(hours=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(
        "Test CA",
        "Test CA",
        ca_key,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(
        "localhost",
        "Test CA",
        leaf_key,
        ca_key,
        [
            (x509.SubjectAlternativeName([x509.DNSName("localhost")]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ],
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    return server


def test_tls_speaks_to_the_name_at_the_checked_address(receiver, local_ca):
    names: list[str | None] = []
    local_ca.sni_callback = lambda _sock, name, _ctx: names.append(name)
    hook = receiver(tls=local_ca)
    headers = {"Content-Type": "application/json"}
    url = f"https://localhost:{hook.port}/hook"
    assert LOCAL(url, b"{}", headers) == (204, None)
    assert names[-1] == "localhost"
    assert hook.received[0][0]["Host"] == f"localhost:{hook.port}"
    # The certificate is checked against the URL's host: it does not name 127.0.0.1.
    assert LOCAL(hook.url, b"{}", headers) == (None, "delivery failed")
    assert len(hook.received) == 1


# --- the delivery thread waits for the database like appends do ---------------------------


def test_delivery_waits_for_the_write_lock_and_logs_no_sql(
    sqlite_url, instance_dir, clock, receiver, capsys, caplog
):
    """The thread a request starts after committing an event waits for the write lock
    (as appends do) instead of failing at once with "database is locked"."""
    from service.http.app import create_app

    app = create_app(
        {
            "database_url": sqlite_url,
            "instance_dir": instance_dir,
            "policy_dir": LIBRARY,
            "webhook_allow_private": True,
        },
        clock=clock,
    )
    client = app.test_client()
    auth = bearer(make_key(sqlite_url, "forum-example", "client"))
    hook = receiver(failures=1)
    register(client, auth, hook.url)
    resolved_appeal(client, auth, bearer(make_key(sqlite_url, "forum-example", "reviewer")))
    join(app)  # the first attempt fails: HTTP 500, retried after the backoff
    clock.advance(seconds=int(backoff(1).total_seconds()))

    # Another process holds SQLite's write lock while the retry is due.
    holder = write_lock(sqlite_url)
    release = threading.Timer(1.0, holder.execute, ("ROLLBACK",))
    release.start()
    try:
        webhook_dispatcher(app).kick()
        join(app)
    finally:
        release.join()
        holder.close()
    (delivery,) = client.get("/v1/webhooks/deliveries", headers=auth).get_json()["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    assert [s for _, _, s in hook.received] == [500, 204]
    logged = capsys.readouterr().err + caplog.text
    for sql in ("SELECT", "UPDATE", "webhook_deliveries", "whsec_", "appeal.resolved"):
        assert sql not in logged
    runtime_of(app).engine.dispose()


@pytest.fixture
def pending_retry(sqlite_url, instance_dir, clock, receiver, monkeypatch):
    """A SQLite instance whose one delivery failed once and is due again now (the CLI
    reads the real clock), and the environment `fairwitness` runs with."""
    from service.http.app import create_app

    app = create_app(
        {
            "database_url": sqlite_url,
            "instance_dir": instance_dir,
            "policy_dir": LIBRARY,
            "webhook_allow_private": True,
        },
        clock=clock,
    )
    client = app.test_client()
    auth = bearer(make_key(sqlite_url, "forum-example", "client"))
    hook = receiver(failures=1)
    register(client, auth, hook.url)
    clock.advance(hours=-1)
    resolved_appeal(client, auth, bearer(make_key(sqlite_url, "forum-example", "reviewer")))
    join(app)
    monkeypatch.setenv("FAIRWITNESS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("FAIRWITNESS_INSTANCE_DIR", str(instance_dir))
    monkeypatch.setenv("FAIRWITNESS_WEBHOOK_ALLOW_PRIVATE", "true")
    yield client, auth, hook
    runtime_of(app).engine.dispose()


def write_lock(sqlite_url: str):
    """Another process's hold on SQLite's write lock, as a connection in BEGIN IMMEDIATE."""
    import sqlite3

    from sqlalchemy import make_url

    database = make_url(sqlite_url).database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_cli_delivery_waits_for_the_write_lock(pending_retry, sqlite_url):
    from service.cli import main as cli

    client, auth, hook = pending_retry
    holder = write_lock(sqlite_url)
    release = threading.Timer(1.0, holder.execute, ("ROLLBACK",))
    release.start()
    try:
        result = CliRunner().invoke(cli.main, ["webhooks", "deliver", "--once"])
    finally:
        release.join()
        holder.close()
    assert result.exit_code == 0, result.output
    assert "delivered=1" in result.stderr
    assert [s for _, _, s in hook.received] == [500, 204]
    (delivery,) = client.get("/v1/webhooks/deliveries", headers=auth).get_json()["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)


def test_cli_delivery_past_the_lock_timeout_logs_only_allowed_fields(
    pending_retry, sqlite_url, monkeypatch
):
    from service.cli import main as cli

    client, auth, hook = pending_retry
    monkeypatch.setenv("FAIRWITNESS_DB_TIMEOUT_SECONDS", "0.2")
    holder = write_lock(sqlite_url)
    try:
        result = CliRunner().invoke(cli.main, ["webhooks", "deliver", "--once"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["event"], line["reason"]) for line in lines] == [
        ("webhook_delivery_postponed", "timeout")
    ]
    assert set(lines[0]) <= {"time", "level", "logger", "message", "event", "reason"}
    for leaked in ("SELECT", "UPDATE", "webhook_deliveries", "dlv_", "pending", "Traceback"):
        assert leaked not in result.stderr
    # The event waits in the outbox, still due.
    (delivery,) = client.get("/v1/webhooks/deliveries", headers=auth).get_json()["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert len(hook.received) == 1
