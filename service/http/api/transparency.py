"""GET /v1/transparency: the numbers, computed from the public log entries."""

from __future__ import annotations

import json

from flask import Blueprint, request
from sqlalchemy import or_, select

from audit_log.store import log_entries
from service.domain.transparency import report
from service.http import params
from service.http.schemas import TransparencySchema
from service.http.state import current_runtime

bp = Blueprint("transparency", __name__)
_report = TransparencySchema()
APPEAL_KINDS = ("appeal_filed", "appeal_resolved")


@bp.get("/v1/transparency")
def get_transparency():
    runtime = current_runtime()
    since, until = params.time(request.args, "since"), params.time(request.args, "until")
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
