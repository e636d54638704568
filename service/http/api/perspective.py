"""The Perspective-compatible API: ``POST /v1alpha1/comments:analyze`` and the discovery
document Google's API clients build from, so a Perspective client switches over by
changing its base URL and key. Every call is a decision in the log.

Errors on these routes take Google's envelope (``{"error": {code, message, status}}``)
instead of problem+json, whatever raised them: authentication, limits, body size,
storage.
"""

from __future__ import annotations

import json
import secrets

from flask import Blueprint, Response, request
from marshmallow import ValidationError

from policies.language import UNDETERMINED, canonical_tag
from service.http import params
from service.http.auth import current_key, require_role
from service.http.body import json_body
from service.http.emulation import (
    PERSPECTIVE_ATTRIBUTES,
    PERSPECTIVE_REFUSED,
    PERSPECTIVE_SCORE_TYPE,
    SCORED_LANGUAGES,
    anonymous_user,
    clamp_probability,
    decide_texts,
    decision_summary,
    google_error,
    in_envelope,
)
from service.http.problems import Problem, marshmallow_errors
from service.http.schemas import PerspectiveAnalyzeRequestSchema, PerspectiveAnalyzeResponseSchema
from service.http.state import current_runtime
from service.runtime import Runtime

bp = Blueprint("perspective", __name__)
_request = PerspectiveAnalyzeRequestSchema()
_response = PerspectiveAnalyzeResponseSchema()

API_VERSION = "v1alpha1"
# Query parameters Google's clients send on every call; anything else is refused rather
# than silently ignored.
_ALLOWED_QUERY = {"key", "alt", "prettyPrint"}


@bp.after_request
def _google_envelope(response: Response) -> Response:
    """Say every problem+json answer of these routes in Google's envelope."""
    return in_envelope(response, lambda p: google_error(p.status, p.message))


def _bad(message: str) -> Problem:
    return Problem(400, "invalid-argument", message)


def _check_query() -> None:
    unknown = sorted(set(request.args) - _ALLOWED_QUERY)
    if unknown:
        raise _bad(f"Unknown query parameter {unknown[0]!r}.")
    params.raw(request.args, "key")
    params.raw(request.args, "prettyPrint")
    params.choice(request.args, "alt", ("json",))


def _check_languages(requested: list[str]) -> None:
    scored = [lang for lang in requested if lang.split("-")[0].lower() in SCORED_LANGUAGES]
    if requested and not scored:
        raise _bad(
            f"The requested languages ({', '.join(requested)}) are not supported; "
            f"supported: {', '.join(SCORED_LANGUAGES)}."
        )


def _labels(runtime: Runtime, requested: dict[str, dict]) -> dict[str, str]:
    """Each requested attribute with the label that scores it; 400 naming the first
    attribute that cannot be scored."""
    judge = runtime.judges[runtime.settings.default_policy]
    labels = {}
    for attribute in requested:
        if attribute in PERSPECTIVE_REFUSED:
            raise _bad(PERSPECTIVE_REFUSED[attribute])
        label = PERSPECTIVE_ATTRIBUTES.get(attribute)
        if label is None or label not in judge.classifier.labels:
            known = ", ".join(a for a, lb in PERSPECTIVE_ATTRIBUTES.items() if lb)
            raise _bad(f"Attribute {attribute} is not supported; supported: {known}.")
        labels[attribute] = label
    return labels


@bp.post(f"/{API_VERSION}/comments:analyze")
@require_role("client")
def analyze():
    _check_query()
    runtime: Runtime = current_runtime()
    try:
        loaded = _request.load(json_body())
    except ValidationError as err:
        raise Problem(
            400, "invalid-argument", "The request has invalid fields.", marshmallow_errors(err)
        ) from err
    requested = loaded.get("languages", [])
    _check_languages(requested)
    labels = _labels(runtime, loaded["requested_attributes"])
    text = loaded["comment"]["text"]
    user = loaded.get("session_id") or anonymous_user(secrets.token_hex(8))
    store_text = not loaded["do_not_store"]
    (decided,) = decide_texts(
        runtime,
        app=current_key().app,
        texts=[text],
        user_id=user,
        store_text=store_text,
        language=_stated_language(requested),
    )
    judge = runtime.judges[runtime.settings.default_policy]
    scores = decided.body["scores"]
    attribute_scores = {}
    for attribute, label in labels.items():
        options = loaded["requested_attributes"][attribute]
        threshold = options.get("score_threshold", 0.0)
        value = float(scores.get(label, 0.0))
        entry: dict = {}
        if value >= threshold:
            entry["summary_score"] = {"value": value, "type": PERSPECTIVE_SCORE_TYPE}
        if loaded["span_annotations"]:
            entry["span_scores"] = [
                {
                    "begin": span.start,
                    "end": span.end,
                    "score": {
                        "value": clamp_probability(span.weight),
                        "type": PERSPECTIVE_SCORE_TYPE,
                    },
                }
                for span in judge.classifier.explain(text, label)
                if clamp_probability(span.weight) >= threshold
            ]
        attribute_scores[attribute] = entry
    answer = {
        "attribute_scores": attribute_scores,
        "languages": _answer_languages(decided.body, requested),
        "decision": dict(decision_summary(runtime, decided), content_stored=store_text),
    }
    if "client_token" in loaded:
        answer["client_token"] = loaded["client_token"]
    return Response(json.dumps(_response.dump(answer)), 200, mimetype="application/json")


def _stated_language(requested: list[str]) -> str | None:
    """The first requested language that is a well-formed tag, as the decision's stated
    language; None (detect it) when none is."""
    for tag in requested:
        try:
            return canonical_tag(tag)
        except ValueError:
            continue
    return None


def _answer_languages(body: dict, requested: list[str]) -> list[str]:
    """The languages the text was judged in: the ones asked for, else the decision's
    (detected), else English."""
    if requested:
        return requested
    tag = body.get("language", {}).get("tag")
    if tag and tag != UNDETERMINED:
        return [tag]
    return ["en"]


@bp.get("/$discovery/rest")
def discovery():
    """The discovery document Google's client libraries build a client from."""
    if params.choice(request.args, "version", (API_VERSION,)) is None:
        raise params.bad_parameter("version", f"Required: {API_VERSION}.")
    params.raw(request.args, "key")
    runtime: Runtime = current_runtime()
    root = runtime.settings.public_url.rstrip("/") + "/"
    return Response(json.dumps(discovery_document(root)), 200, mimetype="application/json")


def _object(schema_id: str, properties: dict, description: str = "") -> dict:
    return {"id": schema_id, "type": "object", "description": description, "properties": properties}


def discovery_document(root_url: str) -> dict:
    """A Google API discovery document (``discovery#restDescription``) for the one
    method served, rooted at ``root_url``."""
    score = {"$ref": "Score"}
    text_entry = {"$ref": "TextEntry"}
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"commentanalyzer:{API_VERSION}",
        "name": "commentanalyzer",
        "version": API_VERSION,
        "title": "Perspective-compatible comment analysis (Fair Witness)",
        "description": (
            "Scores comments as Perspective's comments:analyze does; every call is also a "
            "decision in this service's public, verifiable log."
        ),
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "batchPath": "batch",
        "parameters": {
            "key": {
                "type": "string",
                "location": "query",
                "description": "API key (the Authorization: Bearer header works too).",
            },
            "alt": {
                "type": "string",
                "location": "query",
                "enum": ["json"],
                "default": "json",
                "description": "Data format for the response.",
            },
            "prettyPrint": {
                "type": "boolean",
                "location": "query",
                "default": "true",
                "description": "Accepted and ignored.",
            },
        },
        "schemas": {
            "TextEntry": _object(
                "TextEntry", {"text": {"type": "string"}, "type": {"type": "string"}}
            ),
            "Context": _object(
                "Context",
                {
                    "entries": {"type": "array", "items": text_entry},
                    "articleAndParentComment": {"type": "object"},
                },
            ),
            "AttributeParameters": _object(
                "AttributeParameters",
                {
                    "scoreType": {"type": "string"},
                    "scoreThreshold": {"type": "number", "format": "float"},
                },
            ),
            "AnalyzeCommentRequest": _object(
                "AnalyzeCommentRequest",
                {
                    "comment": text_entry,
                    "context": {"$ref": "Context"},
                    "requestedAttributes": {
                        "type": "object",
                        "additionalProperties": {"$ref": "AttributeParameters"},
                    },
                    "languages": {"type": "array", "items": {"type": "string"}},
                    "doNotStore": {"type": "boolean"},
                    "spanAnnotations": {"type": "boolean"},
                    "clientToken": {"type": "string"},
                    "sessionId": {"type": "string"},
                    "communityId": {"type": "string"},
                },
            ),
            "Score": _object(
                "Score",
                {"value": {"type": "number", "format": "float"}, "type": {"type": "string"}},
            ),
            "SpanScore": _object(
                "SpanScore",
                {
                    "begin": {"type": "integer", "format": "int32"},
                    "end": {"type": "integer", "format": "int32"},
                    "score": score,
                },
            ),
            "AttributeScores": _object(
                "AttributeScores",
                {
                    "summaryScore": score,
                    "spanScores": {"type": "array", "items": {"$ref": "SpanScore"}},
                },
            ),
            "AnalyzeCommentResponse": _object(
                "AnalyzeCommentResponse",
                {
                    "attributeScores": {
                        "type": "object",
                        "additionalProperties": {"$ref": "AttributeScores"},
                    },
                    "languages": {"type": "array", "items": {"type": "string"}},
                    "clientToken": {"type": "string"},
                    "decision": {"type": "object"},
                },
            ),
        },
        "resources": {
            "comments": {
                "methods": {
                    "analyze": {
                        "id": "commentanalyzer.comments.analyze",
                        "path": f"{API_VERSION}/comments:analyze",
                        "flatPath": f"{API_VERSION}/comments:analyze",
                        "httpMethod": "POST",
                        "parameters": {},
                        "parameterOrder": [],
                        "request": {"$ref": "AnalyzeCommentRequest"},
                        "response": {"$ref": "AnalyzeCommentResponse"},
                        "description": "Analyzes the provided text and returns scores.",
                    }
                }
            }
        },
    }
