"""What the app holds for its views: the instance's runtime and the webhook deliverer.

The one place that knows where they are kept on the Flask app; views ask
``current_runtime()`` and get a typed ``Runtime``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

from service.delivery.webhooks import Dispatcher, make_sender

if TYPE_CHECKING:
    from service.runtime import Runtime

RUNTIME = "fairwitness"
WEBHOOKS = "fairwitness.webhooks"


def install_runtime(app: Flask, runtime: Runtime) -> None:
    app.extensions[RUNTIME] = runtime


def runtime_of(app: Flask) -> Runtime:
    return app.extensions[RUNTIME]


def current_runtime() -> Runtime:
    """The runtime of the app serving the current request (or the pushed app context)."""
    return runtime_of(current_app)


def webhook_dispatcher(app: Flask | None = None) -> Dispatcher:
    """The background deliverer of ``app`` (the current app by default), made on first
    use."""
    app = app or current_app
    found = app.extensions.get(WEBHOOKS)
    if found is None:
        runtime = runtime_of(app)
        send = make_sender(allow_private=runtime.settings.webhook_allow_private)
        found = app.extensions.setdefault(
            WEBHOOKS, Dispatcher(lambda: runtime.engine, runtime.clock, send)
        )
    return found
