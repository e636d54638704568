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
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, func, insert, select, update

from service import egress
from service.addresses import is_public, literal_address
from service.clock import Clock, rfc3339
from service.db import webhook_deliveries, webhooks, write_transaction
from service.ids import new_id
from service.outage import failure_cause, is_storage_failure

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

# Under "fairwitness": one JSON line of allow-listed fields (service.applog), never a
# database error's text, which quotes the statement and its parameters.
log = logging.getLogger("fairwitness.webhooks")


class WebhookError(ValueError):
    """A registration the service refuses; ``conflict`` when the app has too many."""

    def __init__(self, detail: str, conflict: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.conflict = conflict


# --- registration ----------------------------------------------------------------------

# The whole authority, so nothing after a host (``[::1]x``) or inside one (``%2e``)
# can be read one way here and another way by a resolver.
_HOST_AND_PORT = re.compile(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def check_url(url: str, allow_private: bool = False) -> None:
    """Refuse what cannot be a webhook endpoint: not http(s), no host, credentials, a
    fragment, too long, not ASCII, a host resolvers could read two ways, or (unless
    ``allow_private``) a host that is plainly not public. Names are checked against
    every address they resolve to at each delivery (``service.egress``)."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(f"At most {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookError("Must not contain spaces or control characters.")
    if not url.isascii():
        raise WebhookError(
            "Must be ASCII: percent-encode the path and write international names in "
            "their xn-- form."
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        # urlsplit refuses an unclosed or invalid [IPv6] host, .port a bad port.
        raise WebhookError(
            "Not a valid URL: check the [IPv6 address] brackets and that the port is a "
            "number from 1 to 65535."
        ) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookError("Must be an absolute http:// or https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookError("Must not carry credentials; verify the signature instead.")
    if not _HOST_AND_PORT.fullmatch(parts.netloc):
        raise WebhookError(
            "The host must be a DNS name (letters, digits, '-', '_' and dots), an IPv4 "
            "address or an [IPv6 address], optionally followed by :port."
        )
    if parts.fragment:
        raise WebhookError("Must not have a #fragment.")
    if port == 0:
        raise WebhookError("The port is not a number from 1 to 65535.")
    try:
        address = literal_address(host)
    except ValueError as exc:
        raise WebhookError(str(exc)) from exc
    if allow_private:
        return
    name = host.rstrip(".")
    local_name = name == "localhost" or name.endswith(".localhost")
    if local_name or (address is not None and not is_public(address)):
        raise WebhookError(
            f"{host} is not a public address; webhooks are sent only to public hosts."
        )


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
    with write_transaction(engine) as conn:
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
    with write_transaction(engine) as conn:
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

# (url, body, headers) -> (HTTP status, or None when no answer came; the failure's
# category: one of egress.REFUSED, egress.FAILED, egress.TIMED_OUT)
Sender = Callable[[str, bytes, dict[str, str]], tuple[int | None, str | None]]


def make_sender(allow_private: bool = False, timeout: float = TIMEOUT_SECONDS) -> Sender:
    """POST deliveries with no redirects and, unless ``allow_private``, only to
    endpoints whose every address is public; each attempt ends within ``timeout``
    seconds of the name being resolved."""
    return partial(egress.post, allow_private=allow_private, timeout=timeout)


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
    with write_transaction(engine) as conn:
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
        values: dict = {
            "attempts": attempts,
            "last_status": status,
            "last_error": error if status is None else f"HTTP {status}",
        }
        if status is not None and 200 <= status < 300:
            values.update(
                status="delivered", delivered_at=rfc3339(now), next_attempt_at=None, last_error=None
            )
        elif attempts >= MAX_ATTEMPTS:
            values.update(status="failed", next_attempt_at=None)
        else:
            values.update(next_attempt_at=rfc3339(now + backoff(attempts)))
        with write_transaction(engine) as conn:
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


def log_pass_failure(exc: Exception) -> None:
    """Log a delivery pass that stopped: storage trouble as its cause alone, anything
    else (a bug) with its stack, and never the exception's text."""
    if is_storage_failure(exc):
        log.warning(
            "webhook delivery postponed: storage unavailable; the outbox keeps the events",
            extra={"event": "webhook_delivery_postponed", "reason": failure_cause(exc)},
        )
    else:
        log.error(
            "webhook delivery pass failed; the outbox keeps the events",
            extra={"event": "webhook_delivery_failed", "reason": type(exc).__name__},
            exc_info=exc,
        )


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
        except Exception as exc:  # the row stays pending; the CLI or the next kick retries it
            log_pass_failure(exc)

    def join(self, timeout: float = 30.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
