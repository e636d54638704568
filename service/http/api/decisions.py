"""Public views of one decision and of one subject, computed from the log alone."""

from __future__ import annotations

import json
import re

from flask import Blueprint
from sqlalchemy import Connection, select

from audit_log.store import latest_checkpoint, log_entries, prove_inclusion
from service.clock import rfc3339
from service.domain.receipts import Receipt
from service.domain.standing import active_restrictions, active_strikes
from service.http.api.log import entry_view
from service.http.problems import Problem
from service.http.schemas import DecisionViewSchema, SubjectSchema
from service.http.state import current_runtime
from service.storage.db import decision_content

bp = Blueprint("decisions", __name__)
_decision = DecisionViewSchema()
_subject = SubjectSchema()
SUBJECT = re.compile(r"sub_[0-9a-f]{32}")
ENTRY_ID = re.compile(r"[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}")


def _columns():
    return select(log_entries.c.idx, log_entries.c.body, log_entries.c.leaf_hash)


def _excerpt(conn: Connection, body: dict) -> dict | None:
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


@bp.get("/v1/decisions/<decision_id>")
def get_decision(decision_id: str):
    runtime = current_runtime()
    if not ENTRY_ID.fullmatch(decision_id):
        raise Problem(404, "not-found", f"No decision {decision_id!r}.")
    with runtime.engine.connect() as conn:
        row = conn.execute(
            _columns()
            .where(log_entries.c.entry_id == decision_id)
            .where(log_entries.c.kind == "decision")
        ).first()
        if row is None:
            raise Problem(404, "not-found", f"No decision {decision_id!r}.")
        # A stored checkpoint, never a fresh signature: reads cost no signing and every
        # reader of the same tree sees the same signed note.
        size, note = latest_checkpoint(conn)
        proof = prove_inclusion(conn, row.idx, size)
        related = conn.execute(
            _columns().where(log_entries.c.ref == decision_id).order_by(log_entries.c.idx)
        ).all()
        body = json.loads(row.body)
        excerpt = _excerpt(conn, body)
    return _decision.dump(
        {
            "entry": body,
            "excerpt": excerpt,
            "receipt": Receipt(
                index=row.idx,
                leaf_hash=bytes(row.leaf_hash),
                tree_size=size,
                inclusion_proof=proof,
                checkpoint=note,
            ),
            "related": [entry_view(r) for r in related],
        }
    )


@bp.get("/v1/subjects/<subject>")
def get_subject(subject: str):
    runtime = current_runtime()
    if not SUBJECT.fullmatch(subject):
        raise Problem(
            404, "not-found", "Subjects are pseudonyms of the form sub_ followed by 32 hex digits."
        )
    now = runtime.clock()
    with runtime.engine.connect() as conn:
        found = conn.execute(
            _columns().where(log_entries.c.subject == subject).order_by(log_entries.c.idx.desc())
        ).all()
    # The column only finds candidates: a row is the subject's when its hashed body says
    # so, whatever was written into the column since.
    parsed = [(r, json.loads(r.body)) for r in found]
    rows = [r for r, body in parsed if body.get("subject") == subject]
    bodies = [body for _, body in parsed if body.get("subject") == subject]
    return _subject.dump(
        {
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
    )
