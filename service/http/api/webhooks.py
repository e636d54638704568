"""Webhooks over HTTP: an app registers endpoints and watches its deliveries."""

from __future__ import annotations

from flask import Blueprint, Response, request

from service.domain.webhooks import (
    WebhookError,
    list_deliveries,
    list_webhooks,
    register_webhook,
    remove_webhook,
)
from service.http import params
from service.http.auth import current_key, require_role
from service.http.body import json_body, load_object
from service.http.problems import Problem, field_error, invalid
from service.http.schemas import (
    DeliveryListSchema,
    WebhookCreatedSchema,
    WebhookListSchema,
    WebhookRequestSchema,
)
from service.http.state import current_runtime

bp = Blueprint("webhooks", __name__)
_request = WebhookRequestSchema()
_created = WebhookCreatedSchema()
_deliveries = DeliveryListSchema()
_listed = WebhookListSchema()
STATUSES = ("pending", "delivered", "failed")


@bp.post("/v1/webhooks")
@require_role("client")
def create_webhook():
    runtime = current_runtime()
    loaded = load_object(_request, json_body())
    try:
        made = register_webhook(
            runtime.engine,
            app=current_key().app,
            url=loaded["url"],
            now=runtime.clock(),
            allow_private=runtime.settings.webhook_allow_private,
        )
    except WebhookError as err:
        if err.conflict:
            raise Problem(409, "conflict", err.detail) from err
        raise invalid([field_error("#/url", err.detail)]) from err
    return _created.dump(
        {
            "id": made.webhook_id,
            "url": made.url,
            "secret": made.secret,
            "created_at": made.created_at,
        }
    ), 201


@bp.get("/v1/webhooks/deliveries")
@require_role("client")
def get_deliveries():
    runtime = current_runtime()
    status = params.choice(request.args, "status", STATUSES)
    limit = params.limit(request.args, default=100, maximum=1000)
    with runtime.engine.connect() as conn:
        rows = list_deliveries(conn, app=current_key().app, status=status, limit=limit)
    return _deliveries.dump({"deliveries": rows})


@bp.get("/v1/webhooks")
@require_role("client")
def get_webhooks():
    runtime = current_runtime()
    with runtime.engine.connect() as conn:
        return _listed.dump({"webhooks": list_webhooks(conn, app=current_key().app)})


@bp.delete("/v1/webhooks/<webhook_id>")
@require_role("client")
def delete_webhook(webhook_id: str):
    runtime = current_runtime()
    ended = remove_webhook(
        runtime.engine, app=current_key().app, webhook_id=webhook_id, now=runtime.clock()
    )
    if ended is None:
        raise Problem(404, "not-found", f"Your app has no webhook {webhook_id}.")
    return Response(status=204)
