"""API keys: created once, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from service.clock import parse_rfc3339, rfc3339
from service.db import api_keys

ROLES = ("client", "reviewer", "admin")
_PREFIX = re.compile(r"[0-9a-f]{12}")
KEY_PREFIX = "fw"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    app: str
    role: str


def _hash(secret: str) -> bytes:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).digest()


def create_key(conn: Connection, app: str, role: str, now: datetime,
               expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """Store a new key's hash; return the key and its plaintext (the only time it exists)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not app or len(app) > 64:
        raise ValueError("app must be 1 to 64 characters")
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(key_id=f"key_{prefix}", app=app, role=role)
    conn.execute(
        insert(api_keys).values(
            key_id=key.key_id, prefix=prefix, secret_hash=_hash(plaintext), app=app, role=role,
            created_at=rfc3339(now), expires_at=rfc3339(expires_at) if expires_at else None,
        )
    )
    return key, plaintext


def authenticate(conn: Connection, presented: str, now: datetime) -> ApiKey | None:
    """The key ``presented`` names, if it exists, matches, is not revoked and not expired."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _PREFIX.fullmatch(parts[1]):
        return None
    row = conn.execute(select(api_keys).where(api_keys.c.prefix == parts[1])).first()
    if row is None or not hmac.compare_digest(bytes(row.secret_hash), _hash(presented)):
        return None
    if row.revoked_at is not None:
        return None
    if row.expires_at is not None and parse_rfc3339(row.expires_at) <= now:
        return None
    return ApiKey(key_id=row.key_id, app=row.app, role=row.role)
