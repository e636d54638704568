"""The public log's filters as one query.

Every reader of the log (the JSON API, the exports, the web pages) goes through
``LogQuery`` so that a filter means the same thing everywhere; request arguments become
one in ``service.http.params.parse_log_query``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, ScalarSelect, Select, func, select

from audit_log.store import log_entries, log_entry_rules
from service.domain.cursor import MAX_INT64, CursorFormat

FILTERS = ("kind", "policy", "rule", "action", "app", "subject")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# The values the log's ``kind`` and ``action`` columns can hold (``ACTIONS`` from the
# policy language): anything else matches nothing, so it is a mistake worth a 400
# rather than an empty page.
KINDS = (
    "decision",
    "reversal",
    "appeal_filed",
    "appeal_resolved",
    "policy_published",
    "erasure",
    "key_rotation",
)


@dataclass(frozen=True)
class LogQuery:
    filters: Mapping[str, str] = field(default_factory=dict)
    since: str | None = None
    until: str | None = None
    order: str = "asc"
    after: int | None = None  # keyset position: the last index already seen
    limit: int = DEFAULT_LIMIT

    def select(self) -> Select[Any]:
        q = select(log_entries.c.idx, log_entries.c.body, log_entries.c.leaf_hash)
        columns = {
            "kind": log_entries.c.kind,
            "policy": log_entries.c.policy_id,
            "action": log_entries.c.action,
            "app": log_entries.c.app,
            "subject": log_entries.c.subject,
        }
        for name, value in self.filters.items():
            if name == "rule":
                q = q.where(
                    log_entries.c.idx.in_(
                        select(log_entry_rules.c.idx).where(log_entry_rules.c.rule == value)
                    )
                )
            else:
                q = q.where(columns[name] == value)
        # Log time never decreases with the index (``AppendTransaction.stamp``), so a time
        # window is the run of indexes from the first entry at or after ``since`` to the
        # first at or after ``until``: two index lookups, then the primary key does the
        # rest, however large the log.
        if self.since:
            q = q.where(log_entries.c.idx >= _first_index_at(self.since))
        if self.until:
            q = q.where(
                log_entries.c.idx < func.coalesce(_first_index_at(self.until), _PAST_THE_END)
            )
        if self.after is not None:
            q = q.where(
                log_entries.c.idx > self.after
                if self.order == "asc"
                else log_entries.c.idx < self.after
            )
        return q.order_by(
            log_entries.c.idx.asc() if self.order == "asc" else log_entries.c.idx.desc()
        )

    def page(self, conn: Connection) -> tuple[Sequence[Row[Any]], str | None]:
        """One page of rows and the cursor of the next page (None at the end)."""
        rows = conn.execute(self.select().limit(self.limit + 1)).all()
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        return rows, (encode_cursor(self.order, rows[-1].idx) if more and rows else None)

    def stream(self, conn: Connection, chunk: int = 1000) -> Iterator[Row[Any]]:
        """Every matching row, fetched ``chunk`` at a time by keyset, never all at once."""
        position = self.after
        while True:
            q = LogQuery(self.filters, self.since, self.until, self.order, position, chunk)
            rows = conn.execute(q.select().limit(chunk)).all()
            yield from rows
            if len(rows) < chunk:
                return
            position = rows[-1].idx


_PAST_THE_END = MAX_INT64
# The last position a cursor or ``after`` may name: one below the sentinel above.
MAX_POSITION = _PAST_THE_END - 1
LOG_CURSOR = CursorFormat(
    "log", (re.compile("asc|desc"), re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII))
)


def _first_index_at(moment: str) -> ScalarSelect[Any]:
    """The index of the first entry whose time is at or after ``moment`` (NULL if none)."""
    c = log_entries.c
    return select(c.idx).where(c.time >= moment).order_by(c.time, c.idx).limit(1).scalar_subquery()


def encode_cursor(order: str, idx: int) -> str:
    return LOG_CURSOR.encode(order, str(idx))


def decode_cursor(text: str) -> tuple[str, int]:
    """The order and position a log cursor names; ``ValueError`` when it is not one
    this log issued."""
    order, idx = LOG_CURSOR.decode(text)
    if int(idx) > MAX_POSITION:
        raise ValueError("not a cursor")
    return order, int(idx)
