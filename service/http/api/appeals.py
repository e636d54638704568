"""Appeals over HTTP: file, list, read, resolve.

Filing takes the appeal token from the decision's notice (the author) or the client
key of the app that asked for the decision. Listing and resolving need a reviewer key
and act within the key's app. Reading one appeal is public and never shows the
author's statement.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

from service.domain import appeals as use_cases
from service.http import lookups, params
from service.http.api.webhooks import dispatcher
from service.http.appeal_filing import UNAUTHENTICATED, appeal_problem, file_as, load_request
from service.http.auth import current_key, require_role
from service.http.body import json_body, load_object
from service.http.problems import Problem
from service.http.ratelimits import limits_of, request_key
from service.http.schemas import (
    AppealFiledSchema,
    AppealListSchema,
    ResolutionRequestSchema,
    ResolutionResultSchema,
)
from service.storage.keys import ApiKey

bp = Blueprint("appeals", __name__)
_filed = AppealFiledSchema()
_resolution_request = ResolutionRequestSchema()
_resolution = ResolutionResultSchema()
_list = AppealListSchema()
STATUSES = ("open", "resolved", "all")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _runtime():
    return current_app.extensions["fairwitness"]


def _optional_client_key() -> ApiKey | None:
    """The client key sent, None when no Authorization header came; 401/403 otherwise."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "unauthenticated",
            "Send an API key as 'Authorization: Bearer <key>'.",
            headers=UNAUTHENTICATED,
        )
    key = request_key()
    if key is None:
        raise Problem(
            401,
            "unauthenticated",
            "The API key is unknown, revoked or expired.",
            headers=UNAUTHENTICATED,
        )
    if key.role != "client":
        raise Problem(
            403,
            "forbidden",
            "Appeals are filed with the decision's appeal token or "
            f"a client key; this key's role is {key.role}.",
        )
    limits_of().hit_key(key)
    return key


@bp.post("/v1/appeals")
def file_appeal():
    key = _optional_client_key()
    body = file_as(load_request(json_body()), key).body
    return _filed.dump(
        {
            "id": body["id"],
            "decision_id": body["ref"],
            "status": "open",
            "filed_at": body["time"],
            "decide_by": body["decide_by"],
            "filed_by": body["filed_by"],
        }
    ), 201


@bp.get("/v1/appeals")
@require_role("reviewer")
def list_appeals():
    runtime = _runtime()
    status = params.choice(request.args, "status", STATUSES, "open")
    limit = params.limit(request.args, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    cursor = params.cursor(request.args, use_cases.APPEALS_CURSOR)
    with runtime.engine.connect() as conn:
        items, next_cursor = use_cases.list_appeals(
            conn,
            app=current_key().app,
            status=status,
            now=runtime.clock(),
            limit=limit,
            cursor=cursor,  # type: ignore[arg-type]  # two fields, by APPEALS_CURSOR
        )
    return _list.dump({"appeals": items, "next_cursor": next_cursor})


@bp.get("/v1/appeals/<appeal_id>")
def get_appeal(appeal_id: str):
    return lookups.appeal(appeal_id)


@bp.post("/v1/appeals/<appeal_id>/resolution")
@require_role("reviewer")
def resolve_appeal(appeal_id: str):
    runtime = _runtime()
    if not use_cases.APPEAL_ID.fullmatch(appeal_id):
        raise Problem(404, "not-found", f"No appeal {appeal_id!r}.")
    loaded = load_object(_resolution_request, json_body())
    try:
        resolved = use_cases.resolve_appeal(
            appeal_id=appeal_id,
            outcome=loaded["outcome"],
            action=loaded["action"],
            rationale=loaded["rationale"],
            reviewer=current_key(),
            log=runtime.log,
            clock=runtime.clock,
        )
    except use_cases.AppealError as err:
        raise appeal_problem(err) from err
    if resolved.webhook_deliveries:
        dispatcher(current_app).kick()
    return _resolution.dump(
        {
            "resolution": resolved.body,
            "reversal": resolved.reversal,
            "receipt": {
                "index": resolved.appended.index,
                "leaf_hash": resolved.appended.leaf_hash.hex(),
                "tree_size": resolved.tree_size,
                "inclusion_proof": [h.hex() for h in resolved.inclusion_proof],
                "checkpoint": resolved.checkpoint,
            },
        }
    ), 201
