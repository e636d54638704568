"""What the service does when storage fails: answer 503, count it, log the outage once.

Every request that cannot reach the database, or that the database does not answer
within ``FAIRWITNESS_DB_TIMEOUT_SECONDS``, gets ``503 application/problem+json`` with
``Retry-After``: a 200 or 201 is given only after a durable commit. Each worker logs the
first refusal of an outage and the first request served after it, rather than one
warning per request (the access log already has a line for each).

Only the "cannot reach, lock or hear back from the database" family maps to 503: a
constraint violation or a programming error is a bug and surfaces as a 500.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, Response, g, has_request_context

from audit_log.store import CommitUnconfirmed
from service.http.problems import Problem, internal_error, problem_response
from service.metrics import STORAGE_UNAVAILABLE
from service.storage.db import Engine
from service.storage.failures import POSSIBLE_OUTAGES, failure_cause, on_connect

logger = logging.getLogger("fairwitness.storage")

RETRY_AFTER_SECONDS = "1"


class OutageLog:
    """Per worker process: one warning when storage starts failing, one line when a
    request is served from it again, with how long it was out and how many were refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._refused = 0

    def refused(self, cause: str) -> None:
        STORAGE_UNAVAILABLE.labels(cause=cause).inc()
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
            self._refused += 1
        if first:
            logger.warning(
                "storage unavailable", extra={"event": "storage_unavailable", "reason": cause}
            )

    def served(self) -> None:
        with self._lock:
            if self._since is None:
                return
            seconds, refused = time.monotonic() - self._since, self._refused
            self._since, self._refused = None, 0
        logger.info(
            "storage available again",
            extra={
                "event": "storage_recovered",
                "duration_ms": round(seconds * 1000),
                "count": refused,
            },
        )


def _unavailable(cause: str, err: BaseException) -> Problem:
    if isinstance(err, CommitUnconfirmed):
        return Problem(
            503,
            "commit-unconfirmed",
            "Storage failed while confirming the commit, so these entries may or may not "
            "be in the log. Look them up (GET /v1/decisions/{id}) before you retry, or "
            "retry with the same Idempotency-Key.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
            extra={"entries": err.entry_ids},
        )
    detail = "Storage did not answer in time" if cause == "timeout" else "Storage is unavailable"
    return Problem(
        503,
        "storage-unavailable",
        f"{detail}; nothing was recorded. Retry later.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def register(app: Flask, engine: Engine) -> None:
    """Map storage failures to 503 and log each worker's outages from start to end."""
    outage = OutageLog()

    def _reached() -> None:
        if has_request_context():
            g.storage_reached = True

    on_connect(engine, _reached)

    def _storage(err: Exception) -> Response:
        cause = failure_cause(err)
        if cause is None:
            return internal_error(app)
        outage.refused(cause)
        g.storage_failed = True
        return problem_response(_unavailable(cause, err))

    for error in POSSIBLE_OUTAGES:
        app.register_error_handler(error, _storage)

    @app.after_request
    def _recovered(response: Response) -> Response:
        if g.get("storage_reached") and not g.get("storage_failed") and response.status_code < 500:
            outage.served()
        return response
