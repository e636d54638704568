"""The erasure use case: delete what was judged, keep the decision, log that we did.

Erasure removes the text and the commitment salt kept privately beside the log, the
app's reference to the content, the public excerpt and its salt, and the statements of
any appeals against the decision (which often quote the text), and the hash of the request
that asked for it under an idempotency key, in the same append
transaction that adds an ``erasure`` entry referencing the decision. The decision's
entry stays as it was, so the log still verifies; without the salts its commitments to
the text and the excerpt no longer link to anything. ``service.storage.db.purge_erased`` then
removes the overwritten copies from the database's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from audit_log.store import Appended, Log, log_entries
from service.clock import Clock, rfc3339
from service.domain.idempotency import forget_request
from service.domain.ids import new_id
from service.storage.db import appeal_statements, appeals, decision_content

REASON = "erasure request"


class ErasureError(ValueError):
    """The decision cannot be erased: unknown here, or its content is already gone."""


@dataclass(frozen=True)
class Erasure:
    """The appended ``erasure`` entry and the tree that first contains it."""

    body: dict[str, Any]
    appended: Appended
    tree_size: int
    checkpoint: str


def erase_content(decision_id: str, *, log: Log, clock: Clock, reason: str = REASON) -> Erasure:
    """Erase a decision's stored text and salt, and the statements of appeals against
    it, and append an ``erasure`` entry, atomically.

    The lookup happens under the log's append lock, so two concurrent erasures of one
    decision yield exactly one entry. Raises ``ErasureError`` when no decision of that
    id has content on this instance or its content was already erased; then nothing
    is written.
    """
    with log.append() as tx:
        content = tx.conn.execute(
            select(decision_content.c.app, decision_content.c.erased_at).where(
                decision_content.c.decision_id == decision_id
            )
        ).first()
        if content is None:
            raise ErasureError(f"no decision {decision_id} has content on this instance")
        if content.erased_at is not None:
            raise ErasureError(
                f"the content of decision {decision_id} was already erased at {content.erased_at}"
            )
        decision = tx.conn.execute(
            select(log_entries.c.subject)
            .where(log_entries.c.entry_id == decision_id)
            .where(log_entries.c.kind == "decision")
        ).first()
        if decision is None:
            raise ErasureError(f"decision {decision_id} has stored content but no log entry")
        now = clock()
        time = tx.stamp(rfc3339(now))
        body = {
            "kind": "erasure",
            "id": new_id("era", now),
            "time": time,
            "app": content.app,
            "subject": decision.subject,
            "ref": decision_id,
            "reason": reason,
        }
        tx.conn.execute(
            update(decision_content)
            .where(decision_content.c.decision_id == decision_id)
            .values(
                text=None,
                salt=None,
                content_ref=None,
                excerpt=None,
                excerpt_salt=None,
                erased_at=time,
            )
        )
        tx.conn.execute(
            update(appeal_statements)
            .where(
                appeal_statements.c.appeal_id.in_(
                    select(appeals.c.appeal_id).where(appeals.c.decision_id == decision_id)
                )
            )
            .where(appeal_statements.c.erased_at.is_(None))
            .values(statement=None, erased_at=time)
        )
        forget_request(tx.conn, app=content.app, decision_id=decision_id)
        appended = tx.add(body)
    return Erasure(body=body, appended=appended, tree_size=tx.tree_size, checkpoint=tx.checkpoint)
