"""The Flask application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider

from service import metrics
from service.clock import Clock, system_clock
from service.config import Settings
from service.domain.publishing import publish_all
from service.http import errors
from service.http.api import (
    appeals,
    decisions,
    health,
    human_decisions,
    log,
    moderations,
    openai_moderations,
    perspective,
    policies,
    subjects,
    transparency,
    webhooks,
)
from service.http.applog import (
    REQUEST_ID_HEADER,
    current_request_id,
    method_of,
    request_id_for,
    route_of,
)
from service.http.pages import web
from service.http.problems import Problem, field_error
from service.http.ratelimits import init_rate_limits
from service.http.state import install_runtime
from service.jsonlog import configure_logging, use_request_id
from service.runtime import build_runtime, check_recent_index
from service.storage.failures import StorageError


class _InOrderJSON(DefaultJSONProvider):
    """Flask's JSON, with each object's keys in the order the document was built."""

    sort_keys = False


def create_app(config: Mapping[str, object] | None = None, clock: Clock = system_clock) -> Flask:
    """Build the app from ``FAIRWITNESS_*`` variables, with ``config`` overriding them.

    Raises ``PolicyError`` when a policy file is malformed: the service never runs with
    a half-loaded policy set. Raises ``IndexCorrupt`` when the stored index of the newest
    entries disagrees with their bodies: the service never decides escalations, or shows
    a subject's standing, from rows it knows to be rewritten.
    """
    settings = Settings.from_env().with_overrides(dict(config or {}))
    runtime = build_runtime(settings, clock)
    try:
        check_recent_index(runtime.engine)
    except StorageError as exc:
        # Storage may be down at boot; ``fairwitness log check`` checks every entry.
        logging.getLogger("fairwitness.storage").warning(
            "could not check the log index at start-up: %s", type(exc).__name__
        )

    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = _InOrderJSON(app)
    install_runtime(app, runtime)
    use_request_id(current_request_id)
    configure_logging(app.logger.name)
    _observe_requests(app)
    errors.register(app, runtime.engine)
    _bound_query(app, settings.max_query_bytes)
    init_rate_limits(app, settings, runtime.engine, clock)
    for module in (
        moderations,
        decisions,
        subjects,
        log,
        policies,
        health,
        appeals,
        human_decisions,
        transparency,
        webhooks,
        perspective,
        openai_moderations,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(web.bp)

    try:
        publish_all(
            runtime.log, [j.policy for j in runtime.judges.values()], clock(), runtime.published
        )
    except StorageError as exc:
        # Storage may be down at boot; moderation publishes before first use anyway.
        app.logger.warning("could not publish policy versions at start-up: %s", type(exc).__name__)
    return app


_access = logging.getLogger("fairwitness.http")


def _observe_requests(app: Flask) -> None:
    """Give every request an id (the caller's ``X-Request-Id`` or a new one), echo it,
    count the answer by route pattern and status, and log one JSON line for it."""

    @app.before_request
    def _start() -> None:
        g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id") or request_id_for(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        route, method = route_of(), method_of()
        metrics.count_request(method, route, response.status_code)
        started = g.get("started")
        elapsed = (time.perf_counter() - started) * 1000 if started is not None else None
        _access.info(
            "request",
            extra={
                "event": "request",
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed, 2) if elapsed is not None else None,
                "key_id": getattr(g.get("api_key"), "key_id", None),
            },
        )
        return response


def _bound_query(app: Flask, limit: int) -> None:
    """Refuse a query string longer than ``limit`` bytes before anything parses it: no
    filter or cursor needs that much, and parsing it would cost every worker time."""

    @app.before_request
    def _check() -> None:
        if len(request.query_string) > limit:
            raise Problem(
                414,
                "uri-too-long",
                f"The query string is longer than the limit of {limit} bytes.",
                [field_error("#/query", f"At most {limit} bytes.")],
            )
