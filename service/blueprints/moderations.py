"""POST /v1/moderations: one item or a batch, every decision appended to the log."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app
from marshmallow import ValidationError

from service.auth import current_key, require_role
from service.body import json_body
from service.moderate import Item, Moderated, moderate
from service.problems import field_error, invalid, marshmallow_errors
from service.schemas import (
    ModerationBatchSchema,
    ModerationItemSchema,
    ModerationResultSchema,
)

bp = Blueprint("moderations", __name__)
_item = ModerationItemSchema()
_batch = ModerationBatchSchema()
_receipt_and_offer = ModerationResultSchema(exclude=("decision",))


def _result_json(m: Moderated) -> str:
    """One result as JSON text. The decision is the canonical text the log hashed,
    byte for byte (re-encoding it could only cost time, or change a byte)."""
    rest = json.dumps(_receipt_and_offer.dump({
        "receipt": {
            "index": m.appended.index,
            "leaf_hash": m.appended.leaf_hash.hex(),
            "tree_size": m.tree_size,
            "inclusion_proof": [h.hex() for h in m.inclusion_proof],
            "checkpoint": m.checkpoint,
            "content_salt": m.salt.hex(),
        },
        "appeal": m.appeal,
    }), separators=(",", ":"))
    return '{"decision":' + m.appended.canonical.decode("utf-8") + "," + rest[1:]


@bp.post("/v1/moderations")
@require_role("client")
def create_moderation():
    runtime = current_app.extensions["fairwitness"]
    payload = json_body()
    if not isinstance(payload, dict):
        raise invalid([field_error("#/", "The body must be a JSON object.")])
    is_batch = "items" in payload
    if is_batch and isinstance(payload["items"], list):
        limit = runtime.settings.max_batch_items
        if len(payload["items"]) > limit:
            raise invalid([field_error("#/items", f"At most {limit} items per batch.")])
    try:
        loaded = _batch.load(payload) if is_batch else {"items": [_item.load(payload)]}
    except ValidationError as err:
        raise invalid(marshmallow_errors(err)) from err

    default_policy = runtime.settings.default_policy
    errors = []
    items = []
    for position, raw in enumerate(loaded["items"]):
        policy_id = raw["policy"] or default_policy
        if policy_id not in runtime.judges:
            pointer = f"#/items/{position}/policy" if is_batch else "#/policy"
            errors.append(field_error(pointer, f"Unknown policy {policy_id!r}; known: "
                                               f"{', '.join(sorted(runtime.judges))}."))
        items.append(Item(text=raw["text"], user_id=raw["subject"], policy_id=policy_id,
                          content_ref=raw["content_ref"]))
    if errors:
        raise invalid(errors)

    results = moderate(
        items, app=current_key().app, judges=runtime.judges, log=runtime.log,
        secret=runtime.instance.secret, clock=runtime.clock, published=runtime.published,
        public_url=runtime.settings.public_url,
    )
    if is_batch:
        text = '{"results":[' + ",".join(map(_result_json, results)) + "]}"
    else:
        text = _result_json(results[0])
    return Response(text, 201, mimetype="application/json")
