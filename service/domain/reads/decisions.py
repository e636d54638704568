"""Reads of one decision (with its receipt for the latest checkpoint), of decisions an
idempotency key already made, and of one subject's standing."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, select

from audit_log import merkle
from audit_log.store import Appended, latest_checkpoint, log_entries, prove_inclusion, read_hashes
from service.clock import rfc3339
from service.domain.moderation import Moderated
from service.domain.reads.entries import EntryView, entry_columns, entry_view
from service.domain.receipts import Receipt
from service.domain.standing import active_restrictions, active_strikes
from service.storage.db import decision_content

SUBJECT = re.compile(r"sub_[0-9a-f]{32}")
ENTRY_ID = re.compile(r"[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}")


class PublishedExcerpt(TypedDict):
    text: str | None
    salt: str | None
    erased_at: str | None


class DecisionView(TypedDict):
    entry: dict[str, Any]
    excerpt: PublishedExcerpt | None
    receipt: Receipt
    related: list[EntryView]


def _excerpt(conn: Connection, body: Mapping[str, Any]) -> PublishedExcerpt | None:
    """The public excerpt a decision's body commits to, with the salt that opens the
    commitment, or what is left of it after erasure; None when the body commits to none
    (the policy publishes no excerpt, or an older entry holds its excerpt inline)."""
    if not isinstance(body.get("excerpt"), dict):
        return None
    row = conn.execute(
        select(
            decision_content.c.excerpt,
            decision_content.c.excerpt_salt,
            decision_content.c.erased_at,
        ).where(decision_content.c.decision_id == body["id"])
    ).first()
    if row is None or row.excerpt is None or row.excerpt_salt is None:
        return {"text": None, "salt": None, "erased_at": row.erased_at if row else None}
    return {"text": row.excerpt, "salt": bytes(row.excerpt_salt).hex(), "erased_at": None}


def decision_view(conn: Connection, decision_id: str) -> DecisionView | None:
    """One decision with its published excerpt, a receipt for the latest stored
    checkpoint, and the entries that refer to it; None when there is no such decision."""
    row = conn.execute(
        entry_columns()
        .where(log_entries.c.entry_id == decision_id)
        .where(log_entries.c.kind == "decision")
    ).first()
    if row is None:
        return None
    # A stored checkpoint, never a fresh signature: reads cost no signing and every
    # reader of the same tree sees the same signed note.
    latest = latest_checkpoint(conn)
    assert latest is not None  # every logged entry is under a stored checkpoint
    size, note = latest
    proof = prove_inclusion(conn, row.idx, size)
    related = conn.execute(
        entry_columns().where(log_entries.c.ref == decision_id).order_by(log_entries.c.idx)
    ).all()
    body = json.loads(row.body)
    return {
        "entry": body,
        "excerpt": _excerpt(conn, body),
        "receipt": Receipt(
            index=row.idx,
            leaf_hash=bytes(row.leaf_hash),
            tree_size=size,
            inclusion_proof=proof,
            checkpoint=note,
        ),
        "related": [entry_view(r) for r in related],
    }


def replay_decisions(conn: Connection, decision_ids: Sequence[str]) -> list[Moderated]:
    """The decisions an earlier request with the same idempotency key made, with receipts
    for the current tree (as ``decision_view`` gives them). The appeal token is not among
    them: only its hash was kept."""
    latest = latest_checkpoint(conn)
    assert latest is not None  # every logged entry is under a stored checkpoint
    size, note = latest
    rows = {
        r.entry_id: r
        for r in conn.execute(
            select(
                log_entries.c.entry_id,
                log_entries.c.idx,
                log_entries.c.body,
                log_entries.c.leaf_hash,
            ).where(log_entries.c.entry_id.in_(decision_ids))
        )
    }
    salts = {
        r.decision_id: r.salt
        for r in conn.execute(
            select(decision_content.c.decision_id, decision_content.c.salt).where(
                decision_content.c.decision_id.in_(decision_ids)
            )
        )
    }
    found = [rows[i] for i in decision_ids]
    proofs = merkle.prove_records(
        size, [r.idx for r in found], lambda idxs: read_hashes(conn, idxs)
    )
    return [
        Moderated(
            body=json.loads(r.body),
            appended=Appended(
                index=r.idx,
                leaf_hash=bytes(r.leaf_hash),
                entry_id=r.entry_id,
                canonical=r.body.encode("utf-8"),
            ),
            tree_size=size,
            salt=salts.get(r.entry_id),
            inclusion_proof=proof,
            checkpoint=note,
        )
        for r, proof in zip(found, proofs, strict=True)
    ]


# --- one subject ----------------------------------------------------------------------


def subject_standing(conn: Connection, subject: str, now: datetime) -> dict[str, Any]:
    """A subject's active restrictions and strikes as of ``now``, and its entries,
    newest first: as ``SubjectSchema`` dumps them."""
    found = conn.execute(
        entry_columns().where(log_entries.c.subject == subject).order_by(log_entries.c.idx.desc())
    ).all()
    # The column only finds candidates: a row is the subject's when its hashed body says
    # so, whatever was written into the column since.
    parsed = [(r, json.loads(r.body)) for r in found]
    rows = [r for r, body in parsed if body.get("subject") == subject]
    bodies = [body for _, body in parsed if body.get("subject") == subject]
    return {
        "subject": subject,
        "as_of": rfc3339(now),
        "active_restrictions": [
            {
                "decision_id": r.decision_id,
                "policy": r.policy_id,
                "action": r.action,
                "starts_at": r.starts_at,
                "ends_at": r.ends_at,
            }
            for r in active_restrictions(bodies, now)
        ],
        "active_strikes": [
            {
                "decision_id": s.decision_id,
                "policy": s.policy_id,
                "rules": list(s.rules),
                "weight": s.weight,
                "issued_at": s.issued_at,
                "expires_at": s.expires_at,
            }
            for s in active_strikes(bodies, now)
        ],
        "entries": [entry_view(r) for r in rows],
    }
