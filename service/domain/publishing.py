"""Publishing policy versions: every version that judges anything is in the log first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select

from audit_log.store import AppendTransaction, Log
from policies.model import Policy
from service.clock import rfc3339
from service.domain.ids import new_id
from service.storage.db import policy_versions


def publish_policies(
    tx: AppendTransaction, policies: Iterable[Policy], now: datetime, known: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Append a ``policy_published`` entry for each version the store has not seen.

    Runs inside an append transaction, so two processes racing to publish the same new
    version are serialised by the log lock and exactly one entry results. Returns the
    versions now known to be published (to cache once the transaction commits).
    """
    confirmed = set()
    for policy in policies:
        key = (policy.id, policy.version)
        if key in known or key in confirmed:
            continue
        stored = tx.conn.execute(
            select(policy_versions.c.version)
            .where(policy_versions.c.policy_id == policy.id)
            .where(policy_versions.c.version == policy.version)
        ).first()
        if stored is None:
            time = tx.stamp(rfc3339(now))
            body = {
                "kind": "policy_published",
                "id": new_id("pol", now),
                "time": time,
                "policy": {"id": policy.id, "version": policy.version},
                "title": policy.title,
                "rules": [r.id for r in policy.rules],
            }
            appended = tx.add(body)
            tx.conn.execute(
                insert(policy_versions).values(
                    policy_id=policy.id,
                    version=policy.version,
                    source=policy.source,
                    published_at=time,
                    log_index=appended.index,
                )
            )
        confirmed.add(key)
    return confirmed


def publish_all(
    log: Log, policies: Iterable[Policy], now: datetime, known: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    with log.append() as tx:
        confirmed = publish_policies(tx, policies, now, known)
    known.update(confirmed)
    return confirmed
