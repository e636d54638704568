"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from service import problems
from service.blueprints import (
    appeals,
    decisions,
    health,
    log,
    moderations,
    policies,
    transparency,
    web,
    webhooks,
)
from service.clock import Clock, system_clock
from service.config import Settings
from service.publish import publish_all
from service.runtime import build_runtime


def create_app(config: Mapping[str, object] | None = None, clock: Clock = system_clock) -> Flask:
    """Build the app from ``FAIRWITNESS_*`` variables, with ``config`` overriding them.

    Raises ``PolicyError`` when a policy file is malformed: the service never runs with
    a half-loaded policy set.
    """
    settings = Settings.from_env().with_overrides(dict(config or {}))
    runtime = build_runtime(settings, clock)

    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["fairwitness"] = runtime
    problems.register(app)
    for module in (moderations, decisions, log, policies, health, appeals, transparency,
                   webhooks):
        app.register_blueprint(module.bp)
    app.register_blueprint(web.bp)

    try:
        publish_all(runtime.log, [j.policy for j in runtime.judges.values()],
                    clock(), runtime.published)
    except SQLAlchemyError as exc:
        # Storage may be down at boot; moderation publishes before first use anyway.
        app.logger.warning("could not publish policy versions at start-up: %s",
                           type(exc).__name__)
    return app
