"""Appeals over HTTP: file, list, read, resolve.

Filing takes the appeal token from the decision's notice (the author) or the client
key of the app that asked for the decision. Listing and resolving need a reviewer key
and act within the key's app. Reading one appeal is public and never shows the
author's statement.
"""

from __future__ import annotations

from flask import Blueprint, request

from service.domain import appeals as use_cases
from service.domain.receipts import receipt_for
from service.http import lookups, params
from service.http.appeal_filing import appeal_problem, file_as, load_request
from service.http.auth import current_key, require_role
from service.http.body import json_body, load_object
from service.http.identity import optional_key
from service.http.problems import Problem
from service.http.ratelimits import limits_of
from service.http.schemas import (
    AppealFiledSchema,
    AppealListSchema,
    ResolutionRequestSchema,
    ResolutionResultSchema,
)
from service.http.state import current_runtime, webhook_dispatcher
from service.storage.keys import ApiKey

bp = Blueprint("appeals", __name__)
_filed = AppealFiledSchema()
_resolution_request = ResolutionRequestSchema()
_resolution = ResolutionResultSchema()
_list = AppealListSchema()
STATUSES = ("open", "resolved", "all")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _optional_client_key() -> ApiKey | None:
    """The client key sent, None when no Authorization header came; 401/403 otherwise."""
    key = optional_key()
    if key is None:
        return None
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
    runtime = current_runtime()
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
            cursor=cursor,
        )
    return _list.dump({"appeals": items, "next_cursor": next_cursor})


@bp.get("/v1/appeals/<appeal_id>")
def get_appeal(appeal_id: str):
    return lookups.appeal(appeal_id)


@bp.post("/v1/appeals/<appeal_id>/resolution")
@require_role("reviewer")
def resolve_appeal(appeal_id: str):
    runtime = current_runtime()
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
        webhook_dispatcher().kick()
    return _resolution.dump(
        {
            "resolution": resolved.body,
            "reversal": resolved.reversal,
            "receipt": receipt_for(resolved),
        }
    ), 201
