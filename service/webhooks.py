"""Webhooks: registration, signed events, and at-least-once delivery from an outbox.

An event is written as one outbox row per registered webhook, in the same transaction
as the log entries it reports, so an event exists exactly when its cause committed.
Delivery only moves a row's state forward (pending → delivered, or failed after the
last attempt); a crash between sending and recording means the event is sent again,
never lost. Receivers deduplicate on the event ``id``.

Signature (like Stripe's): ``Fairwitness-Signature: t=<unix seconds>,v1=<hex>`` where
``<hex>`` = HMAC-SHA256(secret, ``"<t>." + raw body``). Receivers recompute it over the
raw bytes and reject timestamps far from their own clock.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, func, insert, select, update

from service.clock import Clock, rfc3339
from service.db import webhook_deliveries, webhooks
from service.ids import new_id

SIGNATURE_HEADER = "Fairwitness-Signature"
MAX_WEBHOOKS_PER_APP = 10
MAX_URL_LENGTH = 2048
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
# How long a claimed row is left alone by other deliverers before it counts as due again
# (the deliverer that claimed it died mid-request, say).
LEASE = timedelta(minutes=2)
TIMEOUT_SECONDS = 10.0

log = logging.getLogger(__name__)


class WebhookError(ValueError):
    """A registration the service refuses; ``conflict`` when the app has too many."""

    def __init__(self, detail: str, conflict: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.conflict = conflict


# --- registration ----------------------------------------------------------------------


def check_url(url: str, allow_private: bool = False) -> None:
    """Refuse what cannot be a webhook endpoint: not http(s), no host, credentials, a
    fragment, too long, or (unless ``allow_private``) a host that is plainly not public.
    Names that resolve to private addresses are caught when delivering."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(f"At most {MAX_URL_LENGTH} characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("Must be an absolute http:// or https:// URL with a host.")
    if parts.username or parts.password:
        raise WebhookError("Must not carry credentials; verify the signature instead.")
    if parts.fragment:
        raise WebhookError("Must not have a #fragment.")
    try:
        _ = parts.port
    except ValueError as exc:
        raise WebhookError("The port is not a number from 0 to 65535.") from exc
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookError("Must not contain spaces or control characters.")
    if not allow_private and not _may_be_public(parts.hostname):
        raise WebhookError(
            f"{parts.hostname} is not a public address; webhooks are sent only to public hosts."
        )


def _may_be_public(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return is_public_address(host)
    except ValueError:
        return True  # a name: checked against the address it resolves to when sending


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is globally routable: not loopback, private,
    link-local (cloud metadata services live there), reserved or the like."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global


@dataclass(frozen=True)
class Registered:
    webhook_id: str
    url: str
    secret: str
    created_at: str


def register_webhook(
    engine: Engine, *, app: str, url: str, now: datetime, allow_private: bool = False
) -> Registered:
    """Store a webhook for ``app`` and return its signing secret (shown only now)."""
    check_url(url, allow_private)
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook_id = new_id("whk", now)
    with engine.begin() as conn:
        count = conn.execute(
            select(func.count())
            .select_from(webhooks)
            .where(webhooks.c.app == app)
            .where(webhooks.c.revoked_at.is_(None))
        ).scalar_one()
        if count >= MAX_WEBHOOKS_PER_APP:
            raise WebhookError(
                f"An app may register at most {MAX_WEBHOOKS_PER_APP} webhooks.", conflict=True
            )
        conn.execute(
            insert(webhooks).values(
                webhook_id=webhook_id, app=app, url=url, secret=secret, created_at=rfc3339(now)
            )
        )
    return Registered(webhook_id=webhook_id, url=url, secret=secret, created_at=rfc3339(now))


def list_webhooks(conn: Connection, *, app: str) -> list[dict]:
    """``app``'s live webhooks, oldest first (never their secrets)."""
    rows = conn.execute(
        select(webhooks.c.webhook_id, webhooks.c.url, webhooks.c.created_at)
        .where(webhooks.c.app == app)
        .where(webhooks.c.revoked_at.is_(None))
        .order_by(webhooks.c.created_at, webhooks.c.webhook_id)
    ).all()
    return [{"id": r.webhook_id, "url": r.url, "created_at": r.created_at} for r in rows]


REMOVED = "webhook removed"


def remove_webhook(engine: Engine, *, app: str, webhook_id: str, now: datetime) -> int | None:
    """Stop sending to ``app``'s webhook ``webhook_id``; its pending deliveries end as
    ``failed`` ("webhook removed"), in the same transaction. Returns how many pending
    deliveries ended, or None when ``app`` has no such live webhook (another app's
    webhook is as unknown as a missing one)."""
    time = rfc3339(now)
    with engine.begin() as conn:
        removed = conn.execute(
            update(webhooks)
            .where(webhooks.c.webhook_id == webhook_id)
            .where(webhooks.c.app == app)
            .where(webhooks.c.revoked_at.is_(None))
            .values(revoked_at=time)
        ).rowcount
        if not removed:
            return None
        return conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.webhook_id == webhook_id)
            .where(webhook_deliveries.c.status == "pending")
            .values(status="failed", next_attempt_at=None, last_error=REMOVED)
        ).rowcount


# --- events ----------------------------------------------------------------------------


def enqueue_event(conn: Connection, *, app: str, event_type: str, data: dict, now: datetime) -> int:
    """Write one pending outbox row per live webhook of ``app``; return how many.

    Call it on the connection of the transaction that makes the event true.
    """
    hooks = (
        conn.execute(
            select(webhooks.c.webhook_id)
            .where(webhooks.c.app == app)
            .where(webhooks.c.revoked_at.is_(None))
        )
        .scalars()
        .all()
    )
    if not hooks:
        return 0
    event_id = new_id("evt", now)
    time = rfc3339(now)
    payload = json.dumps(
        {"id": event_id, "type": event_type, "created_at": time, "app": app, "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    conn.execute(
        insert(webhook_deliveries),
        [
            {
                "delivery_id": new_id("dlv", now),
                "webhook_id": hook,
                "app": app,
                "event_id": event_id,
                "event_type": event_type,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": time,
                "created_at": time,
            }
            for hook in hooks
        ],
    )
    return len(hooks)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Fairwitness-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, now: int, tolerance_seconds: int = 300
) -> bool:
    """What a receiver runs: the header's timestamp is recent and a ``v1`` MAC matches."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))


# --- delivery --------------------------------------------------------------------------

# (url, body, headers) -> (HTTP status, or None when no response came; error text)
Sender = Callable[[str, bytes, dict[str, str]], tuple[int | None, str | None]]


class NotPublic(OSError):
    """The endpoint's name led to an address webhooks may not be sent to."""


class _PublicPeerOnly:
    # Checked on the connected socket, not on a DNS answer read beforehand, so a name
    # that resolves differently the second time (DNS rebinding) gains nothing.
    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        peer = self.sock.getpeername()[0]  # type: ignore[attr-defined]
        if not is_public_address(peer):
            self.sock.close()  # type: ignore[attr-defined]
            raise NotPublic(f"{self.host} is at {peer}, which is not a public address")  # type: ignore[attr-defined]


class _PublicHTTPConnection(_PublicPeerOnly, http.client.HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicPeerOnly, http.client.HTTPSConnection):
    pass


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A 3xx is the receiver's answer, a failed attempt; following it would let a public
    # endpoint point the server at an internal one.
    def redirect_request(self, *args, **kwargs):
        return None


def make_sender(allow_private: bool = False) -> Sender:
    """POST deliveries with no redirects and, unless ``allow_private``, only to
    endpoints whose connected address is public."""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
    if not allow_private:
        handlers += [_PublicHTTPHandler(), _PublicHTTPSHandler()]
    opener = urllib.request.build_opener(*handlers)

    def send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=TIMEOUT_SECONDS) as resp:
                return resp.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return None, f"{type(exc).__name__}: {reason}"[:500]

    return send


http_send = make_sender()


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 30 s, 1 min, 2 min, … capped at 6 h."""
    return min(FIRST_RETRY * (2 ** (attempts - 1)), MAX_RETRY)


def _claim(engine: Engine, now: datetime, limit: int) -> list:
    """Due rows, each leased to this deliverer by moving its next attempt past ``LEASE``.

    The lease is taken with a compare-and-set on ``next_attempt_at``, so two deliverers
    never send the same attempt; a deliverer that dies leaves the row due again later.
    """
    time = rfc3339(now)
    claimed = []
    with engine.begin() as conn:
        rows = conn.execute(
            select(webhook_deliveries, webhooks.c.url, webhooks.c.secret)
            .join(webhooks, webhooks.c.webhook_id == webhook_deliveries.c.webhook_id)
            .where(webhook_deliveries.c.status == "pending")
            .where(webhook_deliveries.c.next_attempt_at <= time)
            .where(webhooks.c.revoked_at.is_(None))
            .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.delivery_id)
            .limit(limit)
        ).all()
        for row in rows:
            taken = conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.delivery_id == row.delivery_id)
                .where(webhook_deliveries.c.status == "pending")
                .where(webhook_deliveries.c.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=rfc3339(now + LEASE))
            ).rowcount
            if taken:
                claimed.append(row)
    return claimed


def deliver_due(
    engine: Engine, clock: Clock, send: Sender = http_send, limit: int = 100
) -> dict[str, int]:
    """Attempt every delivery due now, once each; returns counts by resulting state."""
    counts = {"delivered": 0, "pending": 0, "failed": 0}
    for row in _claim(engine, clock(), limit):
        body = row.payload.encode()
        timestamp = int(clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "FairWitness-Webhooks/1",
            SIGNATURE_HEADER: sign(row.secret, timestamp, body),
            "Fairwitness-Event": row.event_type,
            "Fairwitness-Delivery": row.delivery_id,
        }
        status, error = send(row.url, body, headers)
        now = clock()
        attempts = row.attempts + 1
        values: dict = {"attempts": attempts, "last_status": status, "last_error": error}
        if status is not None and 200 <= status < 300:
            values.update(
                status="delivered", delivered_at=rfc3339(now), next_attempt_at=None, last_error=None
            )
        elif attempts >= MAX_ATTEMPTS:
            values.update(status="failed", next_attempt_at=None)
        else:
            values.update(next_attempt_at=rfc3339(now + backoff(attempts)))
            if error is None:
                values["last_error"] = f"HTTP {status}"
        with engine.begin() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.delivery_id == row.delivery_id)
                .values(**values)
            )
        counts[values.get("status", "pending")] += 1
    return counts


def list_deliveries(conn: Connection, *, app: str, status: str | None, limit: int) -> list[dict]:
    q = (
        select(webhook_deliveries, webhooks.c.url)
        .join(webhooks, webhooks.c.webhook_id == webhook_deliveries.c.webhook_id)
        .where(webhook_deliveries.c.app == app)
    )
    if status:
        q = q.where(webhook_deliveries.c.status == status)
    rows = conn.execute(
        q.order_by(
            webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.delivery_id.desc()
        ).limit(limit)
    ).all()
    return [
        {
            "id": r.delivery_id,
            "webhook_id": r.webhook_id,
            "url": r.url,
            "event_id": r.event_id,
            "event_type": r.event_type,
            "status": r.status,
            "attempts": r.attempts,
            "last_status": r.last_status,
            "last_error": r.last_error,
            "next_attempt_at": r.next_attempt_at,
            "created_at": r.created_at,
            "delivered_at": r.delivered_at,
        }
        for r in rows
    ]


class Dispatcher:
    """Runs ``deliver_due`` in a background thread after a request commits an event.

    The outbox row is the truth: if the thread never runs (the process dies),
    ``fairwitness webhooks deliver`` sends the row later. ``join`` lets tests and
    shutdown wait for the attempts under way.
    """

    def __init__(
        self, engine_of: Callable[[], Engine], clock: Clock, send: Sender = http_send
    ) -> None:
        self._engine_of = engine_of
        self._clock = clock
        self.send = send
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def kick(self) -> None:
        thread = threading.Thread(target=self._run, name="fairwitness-webhooks", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        try:
            deliver_due(self._engine_of(), self._clock, self.send)
        except Exception:  # the row stays pending; the CLI or the next kick retries it
            log.exception("webhook delivery failed; the outbox keeps the event")

    def join(self, timeout: float = 30.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
