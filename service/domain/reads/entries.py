"""Reads of the log's entries and checkpoints: pages of rows as the surfaces show them,
the apps named in the log, an appeal's entries, daily counts and the entries the
transparency numbers are computed from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Protocol, TypedDict

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, and_, func, or_, select

from audit_log.store import log_checkpoints, log_entries


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


def entry_columns() -> Select[Any]:
    return select(log_entries.c.idx, log_entries.c.body, log_entries.c.leaf_hash)


def entries_in_order(conn: Connection, size: int) -> Iterator[tuple[int, RowMapping]]:
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
        entry_columns()
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


APPEAL_KINDS = ("appeal_filed", "appeal_resolved")


def transparency_entries(conn: Connection, since: str | None, until: str | None) -> list[Any]:
    """The entry bodies the transparency numbers for [since, until) are computed from,
    in log order."""
    c = log_entries.c
    in_window: ColumnElement[bool] = c.kind.in_(("decision", "reversal"))
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
