"""The public log's filters, parsed in one place into one query.

Every reader of the log (the JSON API, the exports, the web pages) goes through
``LogQuery`` so that a filter means the same thing everywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, Select, func, select

from audit_log.store import log_entries, log_entry_rules
from service.clock import parse_rfc3339, rfc3339
from service.problems import Problem, field_error

FILTERS = ("kind", "policy", "rule", "action", "app", "subject")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_PARAM_LENGTH = 256


@dataclass(frozen=True)
class LogQuery:
    filters: Mapping[str, str] = field(default_factory=dict)
    since: str | None = None
    until: str | None = None
    order: str = "asc"
    after: int | None = None  # keyset position: the last index already seen
    limit: int = DEFAULT_LIMIT

    def select(self) -> Select:
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

    def page(self, conn: Connection) -> tuple[list, str | None]:
        """One page of rows and the cursor of the next page (None at the end)."""
        rows = conn.execute(self.select().limit(self.limit + 1)).all()
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        return rows, (encode_cursor(self.order, rows[-1].idx) if more and rows else None)

    def stream(self, conn: Connection, chunk: int = 1000) -> Iterator:
        """Every matching row, fetched ``chunk`` at a time by keyset, never all at once."""
        position = self.after
        while True:
            q = LogQuery(self.filters, self.since, self.until, self.order, position, chunk)
            rows = conn.execute(q.select().limit(chunk)).all()
            yield from rows
            if len(rows) < chunk:
                return
            position = rows[-1].idx


_PAST_THE_END = (1 << 63) - 1


def _first_index_at(moment: str):
    """The index of the first entry whose time is at or after ``moment`` (NULL if none)."""
    c = log_entries.c
    return select(c.idx).where(c.time >= moment).order_by(c.time, c.idx).limit(1).scalar_subquery()


def encode_cursor(order: str, idx: int) -> str:
    raw = json.dumps({"o": order, "i": idx}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[str, int]:
    try:
        padded = text + "=" * (-len(text) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        order, idx = data["o"], data["i"]
        if order not in ("asc", "desc") or not isinstance(idx, int) or idx < -1:
            raise ValueError
        return order, idx
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise Problem(
            400,
            "bad-cursor",
            "The cursor is not one this log issued.",
            [field_error("#/query/cursor", "Not a valid cursor.")],
        ) from exc


def _time(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    try:
        return rfc3339(parse_rfc3339(value))
    except (ValueError, OverflowError) as exc:
        raise Problem(
            400,
            "bad-parameter",
            f"{name} must be an RFC 3339 time with a zone.",
            [field_error(f"#/query/{name}", "Not an RFC 3339 date-time.")],
        ) from exc


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -2
    if not -1 <= value < _PAST_THE_END:
        raise Problem(
            400,
            "bad-parameter",
            "after must be a log index (or -1).",
            [field_error("#/query/after", "An integer, -1 or more.")],
        )
    return value


def parse_query(args: Mapping[str, str], default_order: str = "asc") -> LogQuery:
    """Build the query from request arguments; a bad one is a 400 naming the parameter."""
    errors = []
    for name, value in args.items():
        if len(value) > MAX_PARAM_LENGTH:
            errors.append(field_error(f"#/query/{name}", f"At most {MAX_PARAM_LENGTH} characters."))
        elif "\x00" in value:
            errors.append(field_error(f"#/query/{name}", "Must not contain NUL characters."))
    if errors:
        raise Problem(400, "bad-parameter", "A query parameter is invalid.", errors)
    filters = {name: args[name] for name in FILTERS if args.get(name)}
    order = args.get("order", default_order)
    if order not in ("asc", "desc"):
        raise Problem(
            400,
            "bad-parameter",
            "order must be asc or desc.",
            [field_error("#/query/order", "Must be asc or desc.")],
        )
    limit = DEFAULT_LIMIT
    if args.get("limit"):
        try:
            limit = int(args["limit"])
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIMIT:
            raise Problem(
                400,
                "bad-parameter",
                f"limit must be 1 to {MAX_LIMIT}.",
                [field_error("#/query/limit", f"An integer from 1 to {MAX_LIMIT}.")],
            )
    after = None
    if args.get("cursor") and args.get("after"):
        raise Problem(
            400,
            "bad-parameter",
            "Give cursor or after, not both.",
            [field_error("#/query/after", "Not together with cursor.")],
        )
    if args.get("cursor"):
        order, after = _decode_cursor(args["cursor"])
    elif args.get("after"):
        # A plain index to resume from, so a monitor whose export broke off at entry N
        # asks for what comes after N instead of starting again from 0.
        after = _index(args["after"])
    since, until = _time(args, "since"), _time(args, "until")
    return LogQuery(filters, since, until, order, after, limit)
