"""Webhook delivery: signed, at-least-once, from the outbox ``service.domain.webhooks``
writes.

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
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Engine, select, update

from service.clock import Clock, rfc3339
from service.delivery import egress
from service.storage.db import webhook_deliveries, webhooks, write_transaction
from service.storage.failures import failure_cause, is_storage_failure

SIGNATURE_HEADER = "Fairwitness-Signature"
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
# How long a claimed row is left alone by other deliverers before it counts as due again
# (the deliverer that claimed it died mid-request, say).
LEASE = timedelta(minutes=2)
TIMEOUT_SECONDS = 10.0

# Under "fairwitness": one JSON line of allow-listed fields (service.jsonlog), never a
# database error's text, which quotes the statement and its parameters.
log = logging.getLogger("fairwitness.webhooks")


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
    endpoints whose every address is public; each attempt, resolving the name included,
    ends within ``timeout`` seconds."""
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
