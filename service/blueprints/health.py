"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    runtime = current_app.extensions["fairwitness"]
    checks = {"policies": bool(runtime.judges)}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT size FROM log_head WHERE id = 1")).one()
        checks["database"] = True
    except SQLAlchemyError:
        checks["database"] = False
    ready = all(checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
