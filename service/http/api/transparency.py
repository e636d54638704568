"""GET /v1/transparency: the numbers, computed from the public log entries."""

from __future__ import annotations

from flask import Blueprint

from service.http import lookups

bp = Blueprint("transparency", __name__)


@bp.get("/v1/transparency")
def get_transparency():
    return lookups.transparency()
