"""Idempotency keys for moderation requests.

A client that sends ``Idempotency-Key`` with a moderation can retry it safely (after a
timeout, a lost connection or a ``503 commit-unconfirmed``): the key is recorded in the
same append transaction as the decisions, so a retry either finds them (and gets them
back, appending nothing) or finds nothing because nothing was committed. Keys are per
app and are looked up for ``RETENTION`` after first use.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from audit_log.prepared import Prepared
from service.clock import rfc3339
from service.storage.db import idempotency_keys

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
INSERT_KEY = Prepared(lambda: insert(idempotency_keys))
# The request hash of a key whose request had content erased since. The hash of the body
# could confirm a guess at the erased text, so it goes with the text; the key still
# replays its decisions (whatever body a retry sends) rather than judging it again.
ERASED = bytes(32)


@dataclass(frozen=True)
class Claim:
    """One request's key and the hash of what it asked for."""

    app: str
    key: str
    request_hash: bytes


class AlreadyDone(Exception):
    """The key was used before: by this same request (``same``) for ``decision_ids``, or
    by a different one."""

    def __init__(self, decision_ids: list[str], same: bool) -> None:
        super().__init__(decision_ids)
        self.decision_ids = decision_ids
        self.same = same


def valid_key(value: str) -> bool:
    """1 to 255 printable ASCII characters, no spaces."""
    return _KEY.fullmatch(value) is not None


def request_hash(payload: object) -> bytes:
    """What a retry must repeat: the parsed body, whatever its spacing or key order."""
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("ascii")
    ).digest()


def check(conn: Connection, claim: Claim, now: datetime) -> None:
    """Raise ``AlreadyDone`` if ``claim``'s key was used within ``RETENTION``."""
    row = conn.execute(
        select(idempotency_keys.c.request_hash, idempotency_keys.c.decision_ids)
        .where(idempotency_keys.c.app == claim.app)
        .where(idempotency_keys.c.idem_key == claim.key)
        .where(idempotency_keys.c.created_at >= rfc3339(now - RETENTION))
    ).first()
    if row is not None:
        recorded = bytes(row.request_hash)
        raise AlreadyDone(
            json.loads(row.decision_ids), same=recorded in (claim.request_hash, ERASED)
        )


def forget_request(conn: Connection, *, app: str, decision_id: str) -> None:
    """Replace the request hash of ``app``'s keys whose request decided ``decision_id``
    with ``ERASED``: called in the erasure's own transaction."""
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.app == app)
        .where(idempotency_keys.c.decision_ids.contains(f'"{decision_id}"', autoescape=True))
        .values(request_hash=ERASED)
    )


def purge_expired_keys(conn: Connection, now: datetime) -> None:
    """Delete the keys past ``RETENTION`` (such a key may be used afresh); run in each
    append that records a key."""
    conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < rfc3339(now - RETENTION))
    )


def key_row(claim: Claim, decision_ids: list[str], now: datetime) -> dict[str, Any]:
    """The row recording ``claim``, written in the transaction of its decisions."""
    return {
        "app": claim.app,
        "idem_key": claim.key,
        "request_hash": claim.request_hash,
        "decision_ids": json.dumps(decision_ids),
        "created_at": rfc3339(now),
    }
