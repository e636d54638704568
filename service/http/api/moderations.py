"""POST /v1/moderations: one item or a batch, every decision appended to the log."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from policies.language import canonical_tag
from service.domain.idempotency import HEADER, AlreadyDone, Claim, check, request_hash, valid_key
from service.domain.moderation import Item, Moderated
from service.domain.reads.decisions import replay_decisions
from service.domain.receipts import receipt_for
from service.http.auth import current_key, require_role
from service.http.body import json_body, load_object
from service.http.problems import field_error, invalid
from service.http.schemas import (
    ModerationBatchSchema,
    ModerationItemSchema,
    ModerationResultSchema,
)
from service.http.state import current_runtime

bp = Blueprint("moderations", __name__)
_item = ModerationItemSchema()
_batch = ModerationBatchSchema()
_receipt_and_offer = ModerationResultSchema(exclude=("decision",))


def _result_json(m: Moderated) -> str:
    """One result as JSON text. The decision is the canonical text the log hashed,
    byte for byte (re-encoding it could only cost time, or change a byte)."""
    rest = json.dumps(
        _receipt_and_offer.dump(
            {
                "receipt": receipt_for(m, content_salt=m.salt),
                "appeal": m.appeal,
            }
        ),
        separators=(",", ":"),
    )
    return '{"decision":' + m.appended.canonical.decode("utf-8") + "," + rest[1:]


def _claim(app: str, payload: object) -> Claim | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not valid_key(key):
        raise invalid(
            [
                field_error(
                    f"#/headers/{HEADER}", "1 to 255 printable ASCII characters, without spaces."
                )
            ]
        )
    return Claim(app=app, key=key, request_hash=request_hash(payload))


def _answer(results: list[Moderated], is_batch: bool, replayed: bool = False) -> Response:
    if is_batch:
        text = '{"results":[' + ",".join(map(_result_json, results)) + "]}"
    else:
        text = _result_json(results[0])
    response = Response(text, 201, mimetype="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _replayed(runtime, done: AlreadyDone, is_batch: bool) -> Response:
    """The answer to a request whose idempotency key was used before: the earlier
    decisions, or 422 when the key came with another body."""
    if not done.same:
        raise invalid(
            [
                field_error(
                    f"#/headers/{HEADER}", "This key was used with a different request body."
                )
            ],
            "The idempotency key was already used for another request.",
        )
    with runtime.engine.connect() as conn:
        earlier = replay_decisions(conn, done.decision_ids)
    return _answer(earlier, is_batch, replayed=True)


@bp.post("/v1/moderations")
@require_role("client")
def create_moderation():
    runtime = current_runtime()
    payload = json_body()
    claim = _claim(current_key().app, payload)
    is_batch = isinstance(payload, dict) and "items" in payload
    if claim is not None:
        # A retry costs a lookup, not a classification; the same check runs again under
        # the log lock, for retries that race the first request.
        try:
            with runtime.engine.connect() as conn:
                check(conn, claim, runtime.clock())
        except AlreadyDone as done:
            return _replayed(runtime, done, is_batch)
    if is_batch and isinstance(payload["items"], list):
        limit = runtime.settings.max_batch_items
        if len(payload["items"]) > limit:
            raise invalid([field_error("#/items", f"At most {limit} items per batch.")])
    loaded = load_object(_batch, payload) if is_batch else {"items": [load_object(_item, payload)]}

    default_policy = runtime.settings.default_policy
    errors = []
    items = []
    for position, raw in enumerate(loaded["items"]):
        policy_id = raw["policy"] or default_policy
        if policy_id not in runtime.judges:
            pointer = f"#/items/{position}/policy" if is_batch else "#/policy"
            errors.append(
                field_error(
                    pointer,
                    f"Unknown policy {policy_id!r}; known: {', '.join(sorted(runtime.judges))}.",
                )
            )
        items.append(
            Item(
                text=raw["text"],
                user_id=raw["subject"],
                policy_id=policy_id,
                content_ref=raw["content_ref"],
                language=canonical_tag(raw["language"]) if raw["language"] else None,
            )
        )
    if errors:
        raise invalid(errors)

    try:
        results = runtime.moderate(items, app=current_key().app, claim=claim)
    except AlreadyDone as done:
        return _replayed(runtime, done, is_batch)
    return _answer(results, is_batch)
