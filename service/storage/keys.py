"""API keys: created once, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from limits import parse as parse_limit
from sqlalchemy import Connection, bindparam, func, insert, select, update

from audit_log.prepared import Prepared
from service.clock import parse_rfc3339, rfc3339
from service.storage.db import api_keys

ROLES = ("client", "reviewer", "admin")
_PREFIX = re.compile(r"[0-9a-f]{12}")
KEY_PREFIX = "fw"
_KEY_ID = re.compile(r"(?:key_)?([0-9a-f]{12})")

_RECORD_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.app,
    api_keys.c.role,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
    api_keys.c.rate_limit,
)

# Names keys by id (``key_<prefix>``) only: the secret never reaches a log line.
logger = logging.getLogger("fairwitness.keys")

# Every authenticated request reads its key afresh, so a revocation holds at once on
# every server; compiled once because it runs on every request.
_KEY_BY_PREFIX = Prepared(
    lambda: select(
        api_keys.c.key_id,
        api_keys.c.secret_hash,
        api_keys.c.app,
        api_keys.c.role,
        api_keys.c.expires_at,
        api_keys.c.revoked_at,
        api_keys.c.rate_limit,
    ).where(api_keys.c.prefix == bindparam("prefix"))
)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    app: str
    role: str
    rate_limit: str | None = None


@dataclass(frozen=True)
class KeyRecord:
    """What may be shown about a stored key: everything except its secret."""

    key_id: str
    app: str
    role: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    rate_limit: str | None = None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and parse_rfc3339(self.expires_at) <= now:
            return "expired"
        return "active"


def any_keys(conn: Connection) -> bool:
    """Whether any key was ever created, revoked or not."""
    return conn.execute(select(func.count()).select_from(api_keys)).scalar_one() > 0


def _hash(secret: str) -> bytes:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).digest()


def check_rate_limit(text: str | None) -> str | None:
    """A key's rate limit as stored: a limit such as ``"600 per minute"``, or None for
    ``None``/``"none"``; raises ``ValueError`` otherwise."""
    if text is None or text.strip().lower() == "none":
        return None
    try:
        parse_limit(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate limit such as '600 per minute' or 'none'"
        ) from None
    if len(text) > 64:
        raise ValueError("a rate limit is at most 64 characters")
    return text.strip()


def create_key(
    conn: Connection,
    app: str,
    role: str,
    now: datetime,
    expires_at: datetime | None = None,
    rate_limit: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key's hash; return the key and its plaintext (the only time it exists)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not app or len(app) > 64:
        raise ValueError("app must be 1 to 64 characters")
    if expires_at is not None and expires_at <= now:
        raise ValueError("a new key must expire in the future")
    rate_limit = check_rate_limit(rate_limit)
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(key_id=f"key_{prefix}", app=app, role=role, rate_limit=rate_limit)
    conn.execute(
        insert(api_keys).values(
            key_id=key.key_id,
            prefix=prefix,
            secret_hash=_hash(plaintext),
            app=app,
            role=role,
            created_at=rfc3339(now),
            expires_at=rfc3339(expires_at) if expires_at else None,
            rate_limit=rate_limit,
        )
    )
    logger.info(
        "key created",
        extra={
            "event": "key_created",
            "key_id": key.key_id,
            "app": app,
            "role": role,
            "rate_limit": rate_limit,
            "expires_at": rfc3339(expires_at) if expires_at else None,
        },
    )
    return key, plaintext


def set_rate_limit(conn: Connection, key_id: str, rate_limit: str | None) -> KeyRecord:
    """Set (or with None/``"none"`` lift) the rate limit of ``key_id``; it applies from
    the key's next request. Raises ``LookupError`` for an unknown key and ``ValueError``
    for a malformed limit."""
    prefix = _prefix(key_id)
    rate_limit = check_rate_limit(rate_limit)
    conn.execute(update(api_keys).where(api_keys.c.prefix == prefix).values(rate_limit=rate_limit))
    record = _existing(conn, prefix, key_id)
    logger.info(
        "key rate limit set",
        extra={
            "event": "key_rate_limit_set",
            "key_id": record.key_id,
            "app": record.app,
            "rate_limit": rate_limit,
        },
    )
    return record


def _prefix(key_id: str) -> str:
    """The prefix in ``key_<prefix>`` or a bare prefix; ``LookupError`` otherwise."""
    found = _KEY_ID.fullmatch(key_id.strip())
    if found is None:
        raise LookupError(f"{key_id!r} is not a key id; key ids look like key_0123456789ab")
    return found[1]


def _existing(conn: Connection, prefix: str, key_id: str) -> KeyRecord:
    """The stored key with ``prefix``; ``LookupError`` naming ``key_id`` if there is none."""
    row = conn.execute(select(*_RECORD_COLUMNS).where(api_keys.c.prefix == prefix)).first()
    if row is None:
        raise LookupError(f"no key {key_id!r}")
    return KeyRecord(*row)


def list_keys(conn: Connection) -> list[KeyRecord]:
    """Every stored key, oldest first, without secrets or their hashes."""
    rows = conn.execute(
        select(*_RECORD_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.key_id)
    ).all()
    return [KeyRecord(*row) for row in rows]


def revoke_key(conn: Connection, key_id: str, now: datetime) -> KeyRecord:
    """Revoke ``key_id`` (``key_<prefix>`` or the bare prefix) from ``now`` on.

    Revoking a revoked key keeps its first revocation time. Raises ``LookupError`` when
    no such key exists. Takes effect on the next request: keys are checked per request,
    never cached.
    """
    prefix = _prefix(key_id)
    conn.execute(
        update(api_keys)
        .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=rfc3339(now))
    )
    record = _existing(conn, prefix, key_id)
    logger.info(
        "key revoked",
        extra={
            "event": "key_revoked",
            "key_id": record.key_id,
            "app": record.app,
            "revoked_at": record.revoked_at,
        },
    )
    return record


def authenticate(conn: Connection, presented: str, now: datetime) -> ApiKey | None:
    """The key ``presented`` names, if it exists, matches, is not revoked and not expired."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _PREFIX.fullmatch(parts[1]):
        return None
    cursor = _KEY_BY_PREFIX.execute(conn, {"prefix": parts[1]})
    row = cursor.fetchone()
    cursor.close()
    if row is None:
        return None
    key_id, secret_hash, app, role, expires_at, revoked_at, rate_limit = row
    if not hmac.compare_digest(bytes(secret_hash), _hash(presented)):
        return None
    if revoked_at is not None:
        logger.info(
            "revoked key refused",
            extra={"event": "key_refused", "key_id": key_id, "reason": "revoked"},
        )
        return None
    if expires_at is not None and parse_rfc3339(expires_at) <= now:
        logger.info(
            "expired key refused",
            extra={"event": "key_refused", "key_id": key_id, "reason": "expired"},
        )
        return None
    return ApiKey(key_id=key_id, app=app, role=role, rate_limit=rate_limit)
