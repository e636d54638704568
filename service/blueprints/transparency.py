"""GET /v1/transparency: the numbers, computed from the public log entries."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, request
from sqlalchemy import or_, select

from audit_log.store import log_entries
from service.clock import parse_rfc3339, rfc3339
from service.problems import Problem, field_error
from service.schemas import TransparencySchema
from service.transparency import report

bp = Blueprint("transparency", __name__)
_report = TransparencySchema()
APPEAL_KINDS = ("appeal_filed", "appeal_resolved")


def _time(name: str) -> str | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        if len(value) > 64:
            raise ValueError
        moment = parse_rfc3339(value)
        if moment.year < 1000:  # the log's fixed-width times have four-digit years
            raise ValueError
        return rfc3339(moment)
    except (ValueError, OverflowError):
        detail = f"{name} must be an RFC 3339 time with a zone."
        raise Problem(
            400,
            "bad-parameter",
            detail,
            [field_error(f"#/query/{name}", "Not an RFC 3339 date-time.")],
        ) from None


@bp.get("/v1/transparency")
def get_transparency():
    runtime = current_app.extensions["fairwitness"]
    since, until = _time("since"), _time("until")
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
    with runtime.engine.connect() as conn:
        bodies = [json.loads(b) for (b,) in conn.execute(query)]
    return _report.dump(report(bodies, runtime.clock(), since, until))
