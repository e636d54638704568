"""RFC 9457 problem details: the one shape every error takes."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from flask import Flask, Response, json, render_template
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from audit_log.store import SigningKeyMissing
from service.domain.batcher import Overloaded

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://fairwitness.example/problems/"


class Problem(Exception):
    """An error the client can act on. ``errors`` name the fields at fault."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        errors: Sequence[dict] = (),
        headers: dict | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}
        # RFC 9457 extension members, each documented on the Problem schema.
        self.extra = extra or {}


def field_error(pointer: str, detail: str) -> dict:
    """One invalid field, as a JSON Pointer (RFC 6901) into the request body or query."""
    return {"pointer": pointer, "detail": detail}


def invalid(errors: Sequence[dict], detail: str = "The request has invalid fields.") -> Problem:
    return Problem(422, "invalid-request", detail, errors)


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


def marshmallow_errors(err: ValidationError, base: str = "") -> list[dict]:
    """Flatten marshmallow's nested messages into pointer/detail pairs."""
    out: list[dict] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                key_part = "" if key == "_schema" else f"/{key}"
                walk(value, path + key_part)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            for message in node:
                out.append(field_error("#" + (path or "/"), message))
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
        else:
            out.append(field_error("#" + (path or "/"), str(node)))

    walk(err.messages, base)
    return out


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


def register(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(err: Problem) -> Response:
        return problem_response(err)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        detail = err.description or HTTPStatus(status).phrase
        errors = []
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"The request body is larger than the limit of {limit} bytes."
            errors = [field_error("#/", f"At most {limit} bytes.")]
        problem = Problem(status, _SLUGS.get(status, "http-error"), detail, errors)
        resp = problem_response(problem)
        if status == 405 and hasattr(err, "valid_methods") and err.valid_methods:
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        return internal_error(app)

    @app.errorhandler(Overloaded)
    def _overloaded(err: Overloaded) -> Response:
        # Every route that scores text can meet a full queue, the emulated APIs included.
        return problem_response(
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
        return problem_response(
            Problem(
                503,
                "signing-key-missing",
                "This server does not hold the private key the log now signs with; nothing "
                "was recorded. Retry later.",
                headers={"Retry-After": "5"},
            )
        )


def internal_error(app: Flask) -> Response:
    """The 500 answer to the exception being handled; its details stay in the server log."""
    app.logger.exception("unhandled error")
    return problem_response(Problem(500, "internal-error", "An internal error occurred."))


def error_page(status: int, detail: str, errors=(), headers=None) -> Response:
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
