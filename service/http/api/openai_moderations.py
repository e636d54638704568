"""The OpenAI-compatible moderation API: ``POST /openai/v1/moderations``, so a client of
OpenAI's moderation endpoint switches over by changing its base URL and key. Every input
is a decision in the log; errors take OpenAI's envelope.

``flagged`` is true exactly when the policy acts (its action is not ``allow``); each
category is true when its score reaches ``OPENAI_CATEGORY_AT``. Categories no classifier
of ours scores are false and 0.0.
"""

from __future__ import annotations

import json
import secrets

from flask import Blueprint, Response
from marshmallow import ValidationError

from service.http.auth import current_key, require_role
from service.http.body import json_body, text_problem
from service.http.emulation import (
    OPENAI_CATEGORIES,
    OPENAI_CATEGORY_AT,
    anonymous_user,
    decide_texts,
    decision_summary,
    in_envelope,
    openai_category_scores,
    openai_error,
    pointer_to_param,
)
from service.http.problems import Problem, field_error, marshmallow_errors
from service.http.schemas import OpenAIModerationRequestSchema, OpenAIModerationResponseSchema
from service.http.state import current_runtime
from service.runtime import Runtime

bp = Blueprint("openai_moderations", __name__)
_request = OpenAIModerationRequestSchema()
_response = OpenAIModerationResponseSchema()


@bp.after_request
def _openai_envelope(response: Response) -> Response:
    """Say every problem+json answer of this route in OpenAI's envelope."""
    return in_envelope(
        response,
        lambda p: openai_error(p.status, p.message, pointer_to_param(p.pointer), p.slug),
    )


def _bad(pointer: str, detail: str) -> Problem:
    return Problem(400, "invalid-input", detail, [field_error(pointer, detail)])


def input_texts(value: object, limit: int) -> list[str]:
    """The texts of an ``input``: a string, a list of strings, or a list of content
    parts of type ``text``. Image parts are refused: no classifier here reads images."""
    if isinstance(value, str):
        values: list[object] = [value]
        pointers = ["#/input"]
    elif isinstance(value, list) and value:
        if len(value) > limit:
            raise _bad("#/input", f"At most {limit} inputs per request.")
        values = value
        pointers = [f"#/input/{i}" for i in range(len(value))]
    else:
        raise _bad("#/input", "Send a string, a non-empty list of strings, or content parts.")
    texts = []
    for raw, pointer in zip(values, pointers, strict=True):
        if isinstance(raw, dict):
            kind = raw.get("type")
            if kind == "image_url":
                raise _bad(pointer, "Image inputs are not supported: only text is judged here.")
            if kind != "text" or set(raw) != {"type", "text"} or not isinstance(raw["text"], str):
                raise _bad(pointer, 'A content part must be {"type": "text", "text": "..."}.')
            raw = raw["text"]
        if not isinstance(raw, str):
            raise _bad(pointer, "Each input must be a string or a content part.")
        reason = text_problem(raw)
        if reason:
            raise _bad(pointer, f"Value {reason}.")
        if not raw.strip():
            raise _bad(pointer, "Text must not be empty.")
        texts.append(raw)
    if len({type(v) for v in values}) > 1:
        raise _bad("#/input", "Send either strings or content parts, not both.")
    return texts


@bp.post("/openai/v1/moderations")
@require_role("client")
def create():
    runtime: Runtime = current_runtime()
    try:
        loaded = _request.load(json_body())
    except ValidationError as err:
        raise Problem(
            400, "invalid-input", "The request has invalid fields.", marshmallow_errors(err)
        ) from err
    texts = input_texts(loaded["input"], runtime.settings.max_batch_items)
    user = loaded["user"] or anonymous_user(secrets.token_hex(8))
    decided = decide_texts(
        runtime, app=current_key().app, texts=texts, user_id=user, store_text=True
    )
    judge = runtime.judges[runtime.settings.default_policy]
    results = []
    for moderated in decided:
        category_scores = openai_category_scores(moderated.body["scores"])
        results.append(
            {
                "flagged": moderated.body["action"] != "allow",
                "categories": {
                    c: bool(OPENAI_CATEGORIES[c]) and s >= OPENAI_CATEGORY_AT
                    for c, s in category_scores.items()
                },
                "category_scores": category_scores,
                "category_applied_input_types": {
                    c: ["text"] if labels else [] for c, labels in OPENAI_CATEGORIES.items()
                },
                "decision": dict(decision_summary(runtime, moderated), content_stored=True),
            }
        )
    answer = {
        "id": f"modr-{decided[0].body['id']}",
        "model": f"{judge.policy.id}/{judge.classifier.name}",
        "results": results,
    }
    return Response(json.dumps(_response.dump(answer)), 200, mimetype="application/json")
