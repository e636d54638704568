"""GET /v1/decisions/{id}: one decision as the public sees it, computed from the log."""

from __future__ import annotations

from flask import Blueprint

from service.http import lookups

bp = Blueprint("decisions", __name__)


@bp.get("/v1/decisions/<decision_id>")
def get_decision(decision_id: str):
    return lookups.decision(decision_id)
