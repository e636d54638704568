"""GET /v1/subjects/{subject}: a subject's standing, computed from the log alone."""

from __future__ import annotations

from flask import Blueprint

from service.http import lookups

bp = Blueprint("subjects", __name__)


@bp.get("/v1/subjects/<subject>")
def get_subject(subject: str):
    return lookups.subject(subject)
