"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response

from service.clock import rfc3339
from service.http.state import current_runtime
from service.metrics import exposition
from service.storage.failures import StorageError, check_reachable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    runtime = current_runtime()
    checks = {
        "policies": bool(runtime.judges),
        # Judges are built only from classifiers whose artifacts passed their SHA-256
        # check; a judge without a versioned classifier means loading went wrong.
        "classifiers": bool(runtime.judges)
        and all(
            j.classifier.version.startswith("sha256:") and j.classifier.labels
            for j in runtime.judges.values()
        ),
    }
    try:
        with runtime.engine.connect() as conn:
            check_reachable(conn)
            schedule = runtime.log.keyring.current_schedule(conn)
        checks["database"] = True
        # After a rotation made on another host, this one can append only once the new
        # private key is copied here: until then it must not take traffic.
        # The keys the next append signs with: every key not retired by now (log time
        # never runs behind a rotation, so a newly announced key is among them).
        now = rfc3339(runtime.clock())
        checks["signing_keys"] = all(
            runtime.log.keyring.holds(k.verifier)
            for k in schedule.keys
            if k.signs_until is None or now <= k.signs_until
        )
    except StorageError:
        checks["database"] = False
    ready = all(checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
def metrics():
    """Prometheus text exposition, summed over every worker of this server."""
    body, content_type = exposition(current_runtime().engine)
    return Response(body, content_type=content_type)
