"""The appeal use cases: issue a token, file, resolve, list, and find overdue appeals.

Filing and resolving each append to the log in ONE transaction with their private rows
(statement, resolution, webhook outbox). Every check that depends on stored state runs
under the log's append lock, so two racing requests cannot both file the "only" open
appeal or both resolve the same appeal. A refusal raises before anything is staged,
and the transaction rolls back: nothing is appended.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Join, Row, and_, insert, select

from audit_log.prepared import Prepared
from audit_log.store import Appended, Log, log_entries
from policies.duration import Duration, parse_duration
from policies.model import ACCOUNT_ACTIONS, ACTIONS, Policy, severity
from service.clock import Clock, parse_rfc3339, rfc3339
from service.domain.cursor import CursorFormat
from service.domain.ids import new_id
from service.domain.webhooks import enqueue_event
from service.storage.db import appeal_resolutions, appeal_statements, appeal_tokens, appeals
from service.storage.keys import ApiKey

MAX_STATEMENT = 5000
MAX_RATIONALE = 5000
MAX_APPEALS_PER_DECISION = 3
OUTCOMES = ("upheld", "overturned", "modified")
# Used only for decisions made before a policy's appeal terms were recorded with them.
DEFAULT_WINDOW = parse_duration("P6M")
DEFAULT_DECIDE_WITHIN = parse_duration("P7D")


class AppealError(Exception):
    """A refusal. ``pointer`` names the request field at fault, when one is."""

    def __init__(self, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


class NotFound(AppealError):
    pass


class Forbidden(AppealError):
    pass


class Conflict(AppealError):
    pass


class Invalid(AppealError):
    pass


# --- tokens ----------------------------------------------------------------------------


def hash_token(token: str) -> bytes:
    # 256 random bits: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def new_token(
    *, decision_id: str, app: str, decided_at: datetime, policy: Policy
) -> tuple[str, str, dict[str, Any]]:
    """A fresh appeal token for ``decision_id``, its deadline, and the ``appeal_tokens``
    row (holding only the token's hash) to insert in the decision's own append."""
    token = secrets.token_urlsafe(32)
    deadline = rfc3339(policy.appeals.window.add_to(decided_at))
    row = {
        "decision_id": decision_id,
        "token_hash": hash_token(token),
        "app": app,
        "deadline": deadline,
    }
    return token, deadline, row


INSERT_TOKENS = Prepared(lambda: insert(appeal_tokens))


def store_tokens(conn: Connection, rows: list[dict[str, Any]]) -> None:
    INSERT_TOKENS.executemany(conn, rows)


def appeal_offer(public_url: str, decision_id: str, token: str, deadline: str) -> dict[str, str]:
    """What the author is handed with a decision: where to appeal, the secret, until when."""
    return {
        "url": f"{public_url.rstrip('/')}/appeals/new?decision={decision_id}",
        "token": token,
        "deadline": deadline,
    }


# --- filing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FiledAppeal:
    body: dict[str, Any]
    appended: Appended
    tree_size: int


def _decision(conn: Connection, decision_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(log_entries.c.body)
        .where(log_entries.c.entry_id == decision_id)
        .where(log_entries.c.kind == "decision")
    ).first()
    return json.loads(row.body) if row else None


def _reversal_of(conn: Connection, decision_id: str) -> str | None:
    return conn.execute(
        select(log_entries.c.entry_id)
        .where(log_entries.c.kind == "reversal")
        .where(log_entries.c.ref == decision_id)
    ).scalar()


def _decide_within(policies: Mapping[str, Policy], policy_id: str) -> Duration:
    policy = policies.get(policy_id)
    return policy.appeals.decide_within if policy else DEFAULT_DECIDE_WITHIN


def _authorise(
    conn: Connection, decision_id: str, token: str | None, key: ApiKey | None
) -> tuple[dict[str, Any], Row[Any] | None, str]:
    """The decision, its stored token row and who files (``author`` or ``app``), once
    ``token`` or ``key`` proves the right to appeal it; raises ``NotFound``, ``Conflict``
    (an allow decision) or ``Forbidden`` otherwise. Reads only rows that never change."""
    decision = _decision(conn, decision_id)
    if decision is None:
        raise NotFound(f"No decision {decision_id!r}.")
    if decision["action"] == "allow":
        raise Conflict("An allow decision took no action; there is nothing to appeal.")
    stored = conn.execute(
        select(appeal_tokens).where(appeal_tokens.c.decision_id == decision_id)
    ).first()
    if token is not None:
        if stored is None or not hmac.compare_digest(bytes(stored.token_hash), hash_token(token)):
            raise Forbidden("The appeal token does not belong to this decision.", "#/token")
        return decision, stored, "author"
    assert key is not None
    if key.app != decision["app"]:
        raise Forbidden(
            f"Only the app that asked for the decision "
            f"({decision['app']}) may appeal it with its key."
        )
    return decision, stored, "app"


def authenticate_author(conn: Connection, decision_id: str, token: str) -> None:
    """Check, outside any write, that ``token`` is the appeal token of ``decision_id``;
    raises ``NotFound``, ``Conflict`` or ``Forbidden`` as ``file_appeal`` would."""
    _authorise(conn, decision_id, token, None)


def file_appeal(
    *,
    decision_id: str,
    statement: str,
    token: str | None,
    key: ApiKey | None,
    log: Log,
    policies: Mapping[str, Policy],
    clock: Clock,
) -> FiledAppeal:
    """File an appeal against a decision, by its author (``token``) or its app (``key``).

    The caller has checked that one of the two is present and that ``key``, if any, is a
    client key. Raises ``NotFound``, ``Forbidden`` (wrong token, another app's key) or
    ``Conflict`` (allow, reversed, past the window, already open, too many appeals).
    """
    with log.append() as tx:
        conn = tx.conn
        now = clock()
        decision, stored, filed_by = _authorise(conn, decision_id, token, key)
        deadline = (
            stored.deadline
            if stored is not None
            else rfc3339(DEFAULT_WINDOW.add_to(parse_rfc3339(decision["time"])))
        )
        if rfc3339(now) > deadline:
            raise Conflict(f"The appeal window of this decision closed at {deadline}.")
        if _reversal_of(conn, decision_id):
            raise Conflict("This decision has already been reversed.")
        filed = conn.execute(
            select(appeals.c.appeal_id, appeal_resolutions.c.outcome)
            .select_from(
                appeals.outerjoin(
                    appeal_resolutions, appeal_resolutions.c.appeal_id == appeals.c.appeal_id
                )
            )
            .where(appeals.c.decision_id == decision_id)
        ).all()
        still_open = [r.appeal_id for r in filed if r.outcome is None]
        if still_open:
            raise Conflict(f"Appeal {still_open[0]} of this decision is still open.")
        if len(filed) >= MAX_APPEALS_PER_DECISION:
            raise Conflict(f"A decision can be appealed at most {MAX_APPEALS_PER_DECISION} times.")

        time = tx.stamp(rfc3339(now))
        decide_by = rfc3339(_decide_within(policies, decision["policy"]["id"]).add_to(now))
        appeal_id = new_id("apl", now)
        body = {
            "kind": "appeal_filed",
            "id": appeal_id,
            "time": time,
            "ref": decision_id,
            "app": decision["app"],
            "subject": decision["subject"],
            "policy": decision["policy"],
            "decide_by": decide_by,
            "filed_by": filed_by,
        }
        appended = tx.add(body)
        conn.execute(
            insert(appeals).values(
                appeal_id=appeal_id,
                decision_id=decision_id,
                app=decision["app"],
                subject=decision["subject"],
                policy_id=decision["policy"]["id"],
                filed_at=time,
                decide_by=decide_by,
                filed_by=filed_by,
                filed_by_key=key.key_id if filed_by == "app" and key else None,
                log_index=appended.index,
            )
        )
        conn.execute(insert(appeal_statements).values(appeal_id=appeal_id, statement=statement))
    return FiledAppeal(body=body, appended=appended, tree_size=tx.tree_size)


# --- resolving -------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    body: dict[str, Any]
    appended: Appended
    reversal: dict[str, Any] | None
    tree_size: int
    inclusion_proof: list[bytes]
    checkpoint: str
    webhook_deliveries: int


def resulting_action(original: str, outcome: str, action: str | None) -> str:
    """The action in force after an appeal's outcome."""
    return {"upheld": original, "overturned": "allow"}.get(outcome) or str(action)


def check_modified_action(original: str, action: str) -> None:
    """A modification replaces the action with a strictly lighter one that still acts:
    an appeal never makes a decision harsher, and ``allow`` is what overturning means."""
    if action not in ACTIONS:
        raise Invalid(f"Unknown action {action!r}.", "#/action")
    if action == "allow":
        raise Invalid("To take no action, overturn the decision instead.", "#/action")
    if severity(action) >= severity(original):
        lighter = [a for a in ACTIONS[1 : severity(original)]]
        raise Invalid(
            f"A modified action must be less severe than the original {original!r}"
            + (
                f"; one of: {', '.join(lighter)}."
                if lighter
                else "; nothing lighter acts at all, so overturn or uphold instead."
            ),
            "#/action",
        )


def _open_appeal(
    conn: Connection, appeal_id: str, reviewer: ApiKey
) -> tuple[Row[Any], dict[str, Any]]:
    """The ``appeals`` row of ``appeal_id`` and the decision it appeals, once ``reviewer``
    may resolve it; raises ``NotFound`` (no such appeal for the reviewer's app),
    ``Conflict`` (already resolved) or ``Forbidden`` (the reviewer made the decision)."""
    row = conn.execute(select(appeals).where(appeals.c.appeal_id == appeal_id)).first()
    if row is None or row.app != reviewer.app:
        raise NotFound(f"No appeal {appeal_id!r} for the app {reviewer.app}.")
    done = conn.execute(
        select(appeal_resolutions.c.resolution_id).where(
            appeal_resolutions.c.appeal_id == appeal_id
        )
    ).scalar()
    if done is not None:
        raise Conflict(f"Appeal {appeal_id} was already resolved ({done}).")
    decision = _decision(conn, row.decision_id)
    if decision is None:  # the appeals row and its decision commit together
        raise RuntimeError(f"appeal {appeal_id} names a missing decision")
    if decision.get("moderator") == reviewer.key_id:
        raise Forbidden("The reviewer who made a decision may not resolve its appeal.")
    return row, decision


def _reversal_body(
    *,
    reversal_id: str,
    time: str,
    appeal: Row[Any],
    decision: Mapping[str, Any],
    action: str,
    resolution_id: str,
) -> dict[str, Any]:
    """The ``reversal`` entry by which the resolution ``resolution_id`` of ``appeal``
    (its ``appeals`` row) replaces ``decision``'s action with ``action``."""
    ends_at = None
    if action in ACCOUNT_ACTIONS:
        # A lighter account action keeps the original end date: restrictions end.
        ends_at = (decision.get("escalation") or {}).get("ends_at")
    return {
        "kind": "reversal",
        "id": reversal_id,
        "time": time,
        "ref": appeal.decision_id,
        "app": appeal.app,
        "subject": appeal.subject,
        "policy": decision["policy"],
        "action": action,
        "ends_at": ends_at,
        "reason": appeal.appeal_id,
        "resolution": resolution_id,
    }


def _record_resolution(
    conn: Connection,
    *,
    appeal: Row[Any],
    outcome: str,
    original_action: str,
    action: str,
    reviewer: ApiKey,
    resolution_id: str,
    reversal_id: str | None,
    log_index: int,
    time: str,
    now: datetime,
) -> int:
    """Store the private ``appeal_resolutions`` row of a resolution appended at
    ``log_index`` and queue its ``appeal.resolved`` webhook; the number of deliveries."""
    conn.execute(
        insert(appeal_resolutions).values(
            appeal_id=appeal.appeal_id,
            resolution_id=resolution_id,
            outcome=outcome,
            reviewer_key=reviewer.key_id,
            resolved_at=time,
            reversal_id=reversal_id,
            log_index=log_index,
        )
    )
    return enqueue_event(
        conn,
        app=appeal.app,
        event_type="appeal.resolved",
        now=now,
        data={
            "appeal_id": appeal.appeal_id,
            "decision_id": appeal.decision_id,
            "outcome": outcome,
            "original_action": original_action,
            "action": action,
            "resolution_id": resolution_id,
            "reversal_id": reversal_id,
            "log_index": log_index,
        },
    )


def resolve_appeal(
    *,
    appeal_id: str,
    outcome: str,
    action: str | None,
    rationale: str,
    reviewer: ApiKey,
    log: Log,
    clock: Clock,
) -> Resolution:
    """Record a person's decision on an appeal, and a reversal when it changes the action.

    Reviewers resolve the appeals of their own app. The original decision's entry is
    never changed: an ``overturned`` or ``modified`` outcome appends a ``reversal`` whose
    ``ref`` is the original decision, which voids that decision's strike and any account
    restriction it triggered (see ``service.domain.standing``). Raises ``NotFound``,
    ``Forbidden`` (the reviewer made the decision), ``Conflict`` (already resolved) or
    ``Invalid`` (a modified action that is not lighter).
    """
    with log.append() as tx:
        conn = tx.conn
        now = clock()
        row, decision = _open_appeal(conn, appeal_id, reviewer)
        original = decision["action"]
        if outcome == "modified":
            check_modified_action(original, str(action))
        new_action = resulting_action(original, outcome, action)

        time = tx.stamp(rfc3339(now))
        resolution_id = new_id("res", now)
        reversal_id = new_id("rev", now) if outcome != "upheld" else None
        body = {
            "kind": "appeal_resolved",
            "id": resolution_id,
            "time": time,
            "ref": appeal_id,
            "decision": row.decision_id,
            "app": row.app,
            "subject": row.subject,
            "policy": decision["policy"],
            "outcome": outcome,
            "rationale": rationale,
            "reviewer": reviewer.key_id,
        }
        appended = tx.add(body)
        reversal = None
        if reversal_id is not None:
            reversal = _reversal_body(
                reversal_id=reversal_id,
                time=time,
                appeal=row,
                decision=decision,
                action=new_action,
                resolution_id=resolution_id,
            )
            tx.add(reversal)
        deliveries = _record_resolution(
            conn,
            appeal=row,
            outcome=outcome,
            original_action=original,
            action=new_action,
            reviewer=reviewer,
            resolution_id=resolution_id,
            reversal_id=reversal_id,
            log_index=appended.index,
            time=time,
            now=now,
        )
    return Resolution(
        body=body,
        appended=appended,
        reversal=reversal,
        tree_size=tx.tree_size,
        inclusion_proof=tx.proofs[appended.index],
        checkpoint=tx.checkpoint,
        webhook_deliveries=deliveries,
    )


# --- reading ---------------------------------------------------------------------------


def _resolved_join() -> Join:
    return appeals.outerjoin(
        appeal_resolutions, appeal_resolutions.c.appeal_id == appeals.c.appeal_id
    )


APPEAL_ID = re.compile(r"apl_[0-9A-HJKMNP-TV-Z]{26}")
# A position in the reviewers' queue: the decide_by time (the log's fixed-width form)
# and the appeal id, the order the queue is sorted in.
APPEALS_CURSOR = CursorFormat(
    "appeals",
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"), APPEAL_ID),
)


def list_appeals(
    conn: Connection,
    *,
    app: str,
    status: str,
    now: datetime,
    limit: int,
    cursor: tuple[str, str] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``app``'s appeals with ``status`` (open, resolved or all), soonest
    ``decide_by`` first, with their private statements (for reviewers only)."""
    q = (
        select(
            appeals,
            appeal_statements.c.statement,
            appeal_resolutions.c.outcome,
            appeal_resolutions.c.resolved_at,
            appeal_resolutions.c.resolution_id,
        )
        .select_from(
            _resolved_join().outerjoin(
                appeal_statements, appeal_statements.c.appeal_id == appeals.c.appeal_id
            )
        )
        .where(appeals.c.app == app)
    )
    if status == "open":
        q = q.where(appeal_resolutions.c.appeal_id.is_(None))
    elif status == "resolved":
        q = q.where(appeal_resolutions.c.appeal_id.is_not(None))
    if cursor is not None:
        decide_by, appeal_id = cursor
        q = q.where(
            (appeals.c.decide_by > decide_by)
            | and_(appeals.c.decide_by == decide_by, appeals.c.appeal_id > appeal_id)
        )
    rows = conn.execute(q.order_by(appeals.c.decide_by, appeals.c.appeal_id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    time = rfc3339(now)
    items = [
        {
            "id": r.appeal_id,
            "decision_id": r.decision_id,
            "status": "resolved" if r.outcome else "open",
            "filed_at": r.filed_at,
            "decide_by": r.decide_by,
            "overdue": r.outcome is None and r.decide_by < time,
            "filed_by": r.filed_by,
            "subject": r.subject,
            "policy": r.policy_id,
            "statement": r.statement,
            "outcome": r.outcome,
            "resolved_at": r.resolved_at,
        }
        for r in rows
    ]
    next_cursor = APPEALS_CURSOR.encode(rows[-1].decide_by, rows[-1].appeal_id) if more else None
    return items, next_cursor


def public_appeal(conn: Connection, appeal_id: str, now: datetime) -> dict[str, Any] | None:
    """An appeal as the public sees it, from its log entries alone: never the statement."""
    filed = conn.execute(
        select(log_entries.c.body)
        .where(log_entries.c.entry_id == appeal_id)
        .where(log_entries.c.kind == "appeal_filed")
    ).first()
    if filed is None:
        return None
    body = json.loads(filed.body)
    resolved = conn.execute(
        select(log_entries.c.body)
        .where(log_entries.c.ref == appeal_id)
        .where(log_entries.c.kind == "appeal_resolved")
    ).first()
    res = json.loads(resolved.body) if resolved else None
    reversal = None
    if res is not None and res["outcome"] != "upheld":
        rev = conn.execute(
            select(log_entries.c.body)
            .where(log_entries.c.kind == "reversal")
            .where(log_entries.c.ref == body["ref"])
        ).first()
        reversal = json.loads(rev.body) if rev else None
    return {
        "id": appeal_id,
        "decision_id": body["ref"],
        "app": body["app"],
        "subject": body["subject"],
        "policy": body["policy"],
        "status": "resolved" if res else "open",
        "filed_at": body["time"],
        "filed_by": body["filed_by"],
        "decide_by": body["decide_by"],
        "overdue": res is None and body["decide_by"] < rfc3339(now),
        "outcome": res["outcome"] if res else None,
        "rationale": res["rationale"] if res else None,
        "resolved_at": res["time"] if res else None,
        "resolution_id": res["id"] if res else None,
        "reversal_id": reversal["id"] if reversal else None,
        "action": reversal["action"] if reversal else None,
    }


def overdue_appeals(conn: Connection, now: datetime) -> list[str]:
    """Ids of open appeals whose ``decide_by`` has passed, most overdue first."""
    rows = (
        conn.execute(
            select(appeals.c.appeal_id)
            .select_from(_resolved_join())
            .where(appeal_resolutions.c.appeal_id.is_(None))
            .where(appeals.c.decide_by < rfc3339(now))
            .order_by(appeals.c.decide_by, appeals.c.appeal_id)
        )
        .scalars()
        .all()
    )
    return list(rows)
