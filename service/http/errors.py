"""How every error is answered: problem+json on the API, a page on the web pages.

One set of app-wide handlers turns each error into a ``Problem`` and renders it for the
request: an RFC 9457 ``application/problem+json`` body, or, for a request the web pages
serve, an HTML page with the same status and headers.

Storage failures are handled here too. Every request that cannot reach the database, or
that the database does not answer within ``FAIRWITNESS_DB_TIMEOUT_SECONDS``, gets a 503
with ``Retry-After`` (a 200 or 201 is given only after a durable commit), counted in
``fairwitness_storage_unavailable_total``, pages included. Each worker logs the first
refusal of an outage and the first request served after it, rather than one warning per
request (the access log already has a line for each). Only the "cannot reach, lock or
hear back from the database" family maps to 503 (``service.storage.failures``): a
constraint violation or a programming error is a bug and surfaces as a 500.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus

from flask import Flask, Response, g, has_request_context, json, render_template, request
from werkzeug.exceptions import HTTPException

from audit_log.store import CommitUnconfirmed, SigningKeyMissing
from service.domain.coalesce import Overloaded
from service.http.problems import PROBLEM_JSON, TYPE_BASE, Problem, field_error
from service.metrics import STORAGE_UNAVAILABLE
from service.storage.db import Engine
from service.storage.failures import POSSIBLE_OUTAGES, failure_cause, on_connect

logger = logging.getLogger("fairwitness.storage")

# The blueprint of the web pages: its requests get their errors as pages.
PAGES_BLUEPRINT = "web"
RETRY_AFTER_SECONDS = "1"
PAGE_STORAGE_UNAVAILABLE = "The log's storage is unavailable right now. Try again shortly."
PAGE_INTERNAL_ERROR = "Something went wrong on our side. Nothing was changed."

_SLUGS = {
    400: "malformed-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "request-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem_response(problem: Problem) -> Response:
    body = {
        "type": TYPE_BASE + problem.slug,
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    resp = Response(json.dumps(body), status=problem.status, mimetype=PROBLEM_JSON)
    resp.headers.update(problem.headers)
    return resp


def error_page(
    status: int, detail: str, errors: Sequence[dict] = (), headers: dict | None = None
) -> Response:
    """An error as a page a person can read, with the API's status and headers."""
    html = render_template(
        "error.html",
        status=status,
        title=HTTPStatus(status).phrase,
        detail=detail,
        errors=list(errors),
    )
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers.update(headers or {})
    return resp


def for_a_page() -> bool:
    """Whether the request being answered is for one of the web pages."""
    return request.blueprint == PAGES_BLUEPRINT


def respond(problem: Problem) -> Response:
    """``problem`` as the request wants it: a page for the web pages, else problem+json."""
    if for_a_page():
        return error_page(problem.status, problem.detail, problem.errors, problem.headers)
    return problem_response(problem)


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
    if for_a_page():
        detail = PAGE_STORAGE_UNAVAILABLE
    else:
        failed = (
            "Storage did not answer in time" if cause == "timeout" else "Storage is unavailable"
        )
        detail = f"{failed}; nothing was recorded. Retry later."
    return Problem(503, "storage-unavailable", detail, headers={"Retry-After": RETRY_AFTER_SECONDS})


def _http_problem(app: Flask, err: HTTPException) -> Problem:
    status = err.code or 500
    detail = err.description or HTTPStatus(status).phrase
    errors = []
    if status == 413:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        detail = f"The request body is larger than the limit of {limit} bytes."
        errors = [field_error("#/", f"At most {limit} bytes.")]
    return Problem(status, _SLUGS.get(status, "http-error"), detail, errors)


def register(app: Flask, engine: Engine) -> None:
    """Answer every error app-wide; map storage failures to 503 and log each worker's
    outages from start to end."""
    outage = OutageLog()

    def internal_error() -> Response:
        """The 500 answer to the exception being handled; its details stay in the log."""
        app.logger.exception("unhandled error")
        if for_a_page():
            return error_page(500, PAGE_INTERNAL_ERROR)
        return problem_response(Problem(500, "internal-error", "An internal error occurred."))

    @app.errorhandler(Problem)
    def _problem(err: Problem) -> Response:
        return respond(err)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        if for_a_page():
            status = err.code or 500
            return error_page(status, err.description or HTTPStatus(status).phrase)
        resp = problem_response(_http_problem(app, err))
        if err.code == 405 and hasattr(err, "valid_methods") and err.valid_methods:
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        return internal_error()

    @app.errorhandler(Overloaded)
    def _overloaded(err: Overloaded) -> Response:
        # Every route that scores text can meet a full queue, the emulated APIs included.
        return respond(
            Problem(
                503,
                "scoring-overloaded",
                "Too many texts are waiting to be scored; nothing was recorded. Retry shortly.",
                headers={"Retry-After": "1"},
            )
        )

    @app.errorhandler(SigningKeyMissing)
    def _signing_key_missing(err: SigningKeyMissing) -> Response:
        # Loud on purpose: signing with fewer keys than the schedule names would make
        # every checkpoint of this server look forged to a monitor.
        app.logger.error("cannot sign: %s", err, extra={"event": "signing_key_missing"})
        return respond(
            Problem(
                503,
                "signing-key-missing",
                "This server does not hold the private key the log now signs with; nothing "
                "was recorded. Retry later.",
                headers={"Retry-After": "5"},
            )
        )

    def _reached() -> None:
        if has_request_context():
            g.storage_reached = True

    on_connect(engine, _reached)

    def _storage(err: Exception) -> Response:
        cause = failure_cause(err)
        if cause is None:
            return internal_error()
        outage.refused(cause)
        g.storage_failed = True
        return respond(_unavailable(cause, err))

    for error in POSSIBLE_OUTAGES:
        app.register_error_handler(error, _storage)

    @app.after_request
    def _recovered(response: Response) -> Response:
        if g.get("storage_reached") and not g.get("storage_failed") and response.status_code < 500:
            outage.served()
        return response
