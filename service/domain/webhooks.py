"""Webhooks: registration and signed events, written to an outbox.

An event is written as one outbox row per registered webhook, in the same transaction
as the log entries it reports, so an event exists exactly when its cause committed.
``service.delivery.webhooks`` sends the rows; receivers deduplicate on the event ``id``.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, func, insert, select, update

from service.clock import rfc3339
from service.domain.addresses import is_public, literal_address
from service.domain.ids import new_id
from service.storage.db import webhook_deliveries, webhooks, write_transaction

MAX_WEBHOOKS_PER_APP = 10
MAX_URL_LENGTH = 2048


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
    every address they resolve to at each delivery (``service.delivery.egress``)."""
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


def list_webhooks(conn: Connection, *, app: str) -> list[dict[str, Any]]:
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


def enqueue_event(
    conn: Connection, *, app: str, event_type: str, data: dict[str, Any], now: datetime
) -> int:
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


def list_deliveries(
    conn: Connection, *, app: str, status: str | None, limit: int
) -> list[dict[str, Any]]:
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
