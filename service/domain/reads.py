"""What the API and the pages read: decisions, subjects, policies, the log's checkpoints
and entries, and the transparency numbers, as plain data for either surface to render.

Every function takes an open connection (or the values it needs) and returns data; none
checks a request or decides a status. Both surfaces read through here, so a page cannot
say something its JSON twin does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypedDict

from sqlalchemy import Connection, Select, and_, func, or_, select

from audit_log import merkle
from audit_log.store import (
    Appended,
    latest_checkpoint,
    log_checkpoints,
    log_entries,
    prove_inclusion,
    read_hashes,
)
from policies.model import Policy
from service.clock import rfc3339
from service.domain.moderation import Moderated
from service.domain.standing import active_restrictions, active_strikes
from service.storage.db import decision_content, policy_versions

SUBJECT = re.compile(r"sub_[0-9a-f]{32}")
ENTRY_ID = re.compile(r"[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}")
POLICY_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")
POLICY_VERSION = re.compile(r"sha256:[0-9a-f]{64}")


# --- log entries ----------------------------------------------------------------------


class StoredEntry(Protocol):
    """A row of ``log_entries`` with at least its index, hashed body and leaf hash."""

    @property
    def idx(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def leaf_hash(self) -> bytes: ...


class EntryView(TypedDict):
    """A stored entry as both surfaces show it: the exact hashed body, index, leaf hash."""

    index: int
    leaf_hash: str
    entry: dict[str, Any]


def entry_view(row: StoredEntry) -> EntryView:
    return {
        "index": int(row.idx),
        "leaf_hash": bytes(row.leaf_hash).hex(),
        "entry": json.loads(row.body),
    }


def _entry_columns() -> Select[Any]:
    return select(log_entries.c.idx, log_entries.c.body, log_entries.c.leaf_hash)


def entries_in_order(conn: Connection, size: int) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Every entry of the tree of ``size``, as its index and row (``idx``, ``body``), in
    log order, fetched a thousand rows at a time."""
    rows = conn.execution_options(yield_per=1000).execute(
        select(log_entries.c.idx, log_entries.c.body)
        .where(log_entries.c.idx < size)
        .order_by(log_entries.c.idx)
    )
    for row in rows:
        yield int(row.idx), row._mapping


class CheckpointRow(TypedDict):
    size: int
    note: str
    created_at: str


def checkpoints_after(conn: Connection, after: int, limit: int) -> list[CheckpointRow]:
    """Up to ``limit`` stored checkpoints of trees larger than ``after``, smallest first."""
    rows = conn.execute(
        select(log_checkpoints.c.size, log_checkpoints.c.note, log_checkpoints.c.created_at)
        .where(log_checkpoints.c.size > after)
        .order_by(log_checkpoints.c.size)
        .limit(limit)
    ).all()
    return [{"size": r.size, "note": r.note, "created_at": r.created_at} for r in rows]


def known_apps(conn: Connection, limit: int) -> list[str]:
    """The distinct ``app`` values in the log, in name order, at most ``limit``.

    A loose index scan: one ``MIN(app) WHERE app > previous`` per app on the
    ``(app, idx)`` index, so the cost grows with the number of apps, not of entries.
    """
    apps: list[str] = []
    previous: str | None = None
    while len(apps) < limit:
        q = select(func.min(log_entries.c.app)).where(log_entries.c.app.is_not(None))
        if previous is not None:
            q = q.where(log_entries.c.app > previous)
        found = conn.execute(q).scalar()
        if found is None:
            break
        apps.append(found)
        previous = found
    return apps


def appeal_entries(conn: Connection, appeal_id: str, reversal_id: str | None) -> list[EntryView]:
    """The log entries of one appeal, in log order: its filing, its resolution and the
    reversal the resolution made, if any."""
    ids = [appeal_id, reversal_id] if reversal_id else [appeal_id]
    rows = conn.execute(
        _entry_columns()
        .where(
            or_(
                log_entries.c.entry_id.in_(ids),
                and_(log_entries.c.ref == appeal_id, log_entries.c.kind == "appeal_resolved"),
            )
        )
        .order_by(log_entries.c.idx)
    ).all()
    return [entry_view(r) for r in rows]


def decisions_per_day(conn: Connection, start: str, end: str) -> dict[str, dict[str, int]]:
    """Decisions per UTC day and final action, for ``start`` <= time < ``end``."""
    day = func.substr(log_entries.c.time, 1, 10)
    rows = conn.execute(
        select(day, log_entries.c.action, func.count())
        .where(log_entries.c.kind == "decision")
        .where(log_entries.c.time >= start)
        .where(log_entries.c.time < end)
        .group_by(day, log_entries.c.action)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for d, action, n in rows:
        out.setdefault(d, {})[action or "allow"] = int(n)
    return out


# --- one decision ---------------------------------------------------------------------


class PublishedExcerpt(TypedDict):
    text: str | None
    salt: str | None
    erased_at: str | None


class DecisionReceipt(TypedDict):
    index: int
    leaf_hash: str
    tree_size: int
    inclusion_proof: list[str]
    checkpoint: str


class DecisionView(TypedDict):
    entry: dict[str, Any]
    excerpt: PublishedExcerpt | None
    receipt: DecisionReceipt
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
        _entry_columns()
        .where(log_entries.c.entry_id == decision_id)
        .where(log_entries.c.kind == "decision")
    ).first()
    if row is None:
        return None
    # A stored checkpoint, never a fresh signature: reads cost no signing and every
    # reader of the same tree sees the same signed note.
    size, note = latest_checkpoint(conn)
    proof = prove_inclusion(conn, row.idx, size)
    related = conn.execute(
        _entry_columns().where(log_entries.c.ref == decision_id).order_by(log_entries.c.idx)
    ).all()
    body = json.loads(row.body)
    return {
        "entry": body,
        "excerpt": _excerpt(conn, body),
        "receipt": {
            "index": row.idx,
            "leaf_hash": bytes(row.leaf_hash).hex(),
            "tree_size": size,
            "inclusion_proof": [h.hex() for h in proof],
            "checkpoint": note,
        },
        "related": [entry_view(r) for r in related],
    }


def replay_decisions(conn: Connection, decision_ids: Sequence[str]) -> list[Moderated]:
    """The decisions an earlier request with the same idempotency key made, with receipts
    for the current tree (as ``decision_view`` gives them). The appeal token is not among
    them: only its hash was kept."""
    size, note = latest_checkpoint(conn)
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
        _entry_columns().where(log_entries.c.subject == subject).order_by(log_entries.c.idx.desc())
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


# --- policies -------------------------------------------------------------------------


def policy_summary(policy: Policy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "title": policy.title,
        "summary": policy.summary,
        "version": policy.version,
        "classifier": policy.classifier,
        "public_excerpt": policy.public_excerpt,
    }


def policy_summaries(policies: Mapping[str, Policy]) -> list[dict[str, Any]]:
    """Every loaded policy's summary, in id order."""
    return [policy_summary(p) for _, p in sorted(policies.items())]


def policy_detail(conn: Connection, policy: Policy) -> dict[str, Any]:
    """A loaded policy in full, with every published version: as ``PolicyDetailSchema``
    dumps it."""
    rows = conn.execute(
        select(
            policy_versions.c.version,
            policy_versions.c.published_at,
            policy_versions.c.log_index,
        )
        .where(policy_versions.c.policy_id == policy.id)
        .order_by(policy_versions.c.log_index)
    ).all()
    body = policy_summary(policy)
    body["language"] = policy.language
    body["rules"] = [
        {
            "id": r.id,
            "title": r.title,
            "description": r.description,
            "action": r.action,
            "notice": r.notice,
            "translations": dict(r.translations),
            "strike": (
                {"weight": r.strike.weight, "expires_after": r.strike.expires_after.text}
                if r.strike
                else None
            ),
            "examples": {"match": list(r.examples.match), "no_match": list(r.examples.no_match)},
        }
        for r in policy.rules
    ]
    body["escalation"] = [
        {
            "active_strikes": s.active_strikes,
            "action": s.action,
            "for": s.for_.text if s.for_ else None,
            "notice": s.notice,
            "translations": dict(s.translations),
        }
        for s in policy.escalation
    ]
    body["appeals"] = {
        "window": policy.appeals.window.text,
        "decide_within": policy.appeals.decide_within.text,
    }
    body["versions"] = [{"version": v, "published_at": at, "log_index": idx} for v, at, idx in rows]
    return body


def policy_source(conn: Connection, policy_id: str, version: str) -> bytes | None:
    """The exact bytes of one published policy version, or None."""
    source = conn.execute(
        select(policy_versions.c.source)
        .where(policy_versions.c.policy_id == policy_id)
        .where(policy_versions.c.version == version)
    ).scalar_one_or_none()
    return bytes(source) if source is not None else None


# --- transparency ---------------------------------------------------------------------

APPEAL_KINDS = ("appeal_filed", "appeal_resolved")


def transparency_entries(conn: Connection, since: str | None, until: str | None) -> list[Any]:
    """The entry bodies the transparency numbers for [since, until) are computed from,
    in log order."""
    c = log_entries.c
    in_window = c.kind.in_(("decision", "reversal"))
    if since:
        in_window = in_window & (c.time >= since)
    if until:
        in_window = in_window & (c.time < until)
    # Every appeal entry, whatever the window: overdue is a fact about now, and a
    # resolution in the window may close an appeal filed before it. Decisions outside
    # the window are read only when an appeal names them (for per-rule rates).
    appealed = select(c.ref).where(c.kind == "appeal_filed")
    query = (
        select(c.body)
        .where(
            or_(
                in_window,
                c.kind.in_(APPEAL_KINDS),
                (c.kind == "decision") & c.entry_id.in_(appealed),
            )
        )
        .order_by(c.idx)
    )
    return [json.loads(b) for (b,) in conn.execute(query)]
