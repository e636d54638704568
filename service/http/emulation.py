"""What the Perspective-compatible and OpenAI-compatible routes share: how their
attributes and categories map onto our labels, how our decisions are made for them, and
how our errors are said in each API's own envelope.

Every call through either API is an ordinary moderation: one decision per text, appended
to the log with a receipt, under the instance's default policy. Nothing here scores or
decides on its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from flask import Response

from service.domain.moderation import Item, Moderated
from service.http.problems import PROBLEM_JSON
from service.runtime import Runtime

# --- Perspective ------------------------------------------------------------------------

# Perspective attribute → the label whose score answers it.
PERSPECTIVE_ATTRIBUTES: Mapping[str, str] = {
    "TOXICITY": "toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "profanity",
    "THREAT": "threat",
    "SPAM": "spam",
}
# Attributes a Perspective client may know that we refuse, and why: answering them with
# a score from another label would be a number that does not mean what its name says.
PERSPECTIVE_REFUSED: Mapping[str, str] = {
    "SEVERE_TOXICITY": (
        "SEVERE_TOXICITY is not scored here: no classifier of this service is trained to "
        "tell severe from ordinary toxicity. Ask for TOXICITY, THREAT or IDENTITY_ATTACK."
    ),
}
PERSPECTIVE_SCORE_TYPE = "PROBABILITY"
# Languages the classifiers are trained and evaluated on.
SCORED_LANGUAGES = ("en", "fr")

# google.rpc.Code names for the HTTP statuses this service answers with.
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    414: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def google_error(status: int, message: str) -> dict:
    """Google's error envelope (``google.rpc.Status`` as its JSON APIs send it)."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }


# --- OpenAI -----------------------------------------------------------------------------

# Every category OpenAI's moderation endpoint documents, each with the labels whose
# scores answer it. An empty tuple: nothing of ours scores it, so it is false and 0.0.
OPENAI_CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "harassment": ("insult",),
    "harassment/threatening": ("threat",),
    "hate": ("identity_attack",),
    # Both must hold: a threat aimed at people for who they are.
    "hate/threatening": ("identity_attack", "threat"),
    "illicit": (),
    "illicit/violent": (),
    "self-harm": (),
    "self-harm/intent": (),
    "self-harm/instructions": (),
    "sexual": (),
    "sexual/minors": (),
    "violence": ("threat",),
    "violence/graphic": (),
}
# A category is reported true at this score. ``flagged`` does not use it: it follows the
# policy's action, as the decision in the log does.
OPENAI_CATEGORY_AT = 0.5

_OPENAI_TYPE = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


def openai_error(status: int, message: str, param: str | None, code: str | None) -> dict:
    """OpenAI's error envelope."""
    return {
        "error": {
            "message": message,
            "type": _OPENAI_TYPE.get(status, "invalid_request_error"),
            "param": param,
            "code": code,
        }
    }


def openai_category_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Each category's score: the lowest of its labels' scores (all must hold), 0.0 for
    a category no label of ours covers."""
    return {
        category: min((float(scores.get(label, 0.0)) for label in labels), default=0.0)
        for category, labels in OPENAI_CATEGORIES.items()
    }


# --- Problems in the emulated envelopes -------------------------------------------------


@dataclass(frozen=True)
class ProblemSummary:
    """What an emulated envelope needs of one of our problem+json answers."""

    status: int
    message: str
    slug: str
    pointer: str | None


def summarise_problem(problem: Mapping[str, object], status: int) -> ProblemSummary:
    """The status, one message and the first field at fault of a problem+json body.

    Field errors become 400, the status both emulated APIs use for a bad request.
    """
    detail = str(problem.get("detail") or problem.get("title") or "Request failed.")
    errors = problem.get("errors")
    pointer = None
    if isinstance(errors, list) and errors:
        parts = [f"{e.get('pointer')}: {e.get('detail')}" for e in errors if isinstance(e, Mapping)]
        detail = f"{detail} {'; '.join(parts)}"
        first = errors[0]
        if isinstance(first, Mapping):
            pointer = str(first.get("pointer"))
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1] or "error"
    return ProblemSummary(
        status=400 if status == 422 else status, message=detail, slug=slug, pointer=pointer
    )


def in_envelope(response: Response, render: Callable[[ProblemSummary], dict]) -> Response:
    """``response`` itself, or, when it is problem+json, the same problem rendered by
    ``render`` into an emulated API's envelope."""
    if response.mimetype != PROBLEM_JSON:
        return response
    summary = summarise_problem(json.loads(response.get_data()), response.status_code)
    response.set_data(json.dumps(render(summary)))
    response.status_code = summary.status
    response.mimetype = "application/json"
    return response


def pointer_to_param(pointer: str | None) -> str | None:
    """``#/input/1`` → ``input[1]``, OpenAI's way of naming a parameter."""
    if not pointer or not pointer.startswith("#/") or pointer == "#/":
        return None
    out = ""
    for part in pointer[2:].split("/"):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


# --- Deciding ---------------------------------------------------------------------------


def anonymous_user(nonce: str) -> str:
    """The user id of a call that names no user or session: its own, so strangers'
    calls never pile strikes onto one shared subject."""
    return f"anonymous:{nonce}"


def decide_texts(
    runtime: Runtime,
    *,
    app: str,
    texts: Sequence[str],
    user_id: str,
    store_text: bool,
    language: str | None = None,
) -> list[Moderated]:
    """One decision per text under the default policy, appended in one transaction;
    ``language`` (a canonical BCP 47 tag) is the texts' stated language, else each
    text's is detected."""
    items = [
        Item(
            text=text,
            user_id=user_id,
            policy_id=runtime.settings.default_policy,
            store_text=store_text,
            language=language,
        )
        for text in texts
    ]
    return runtime.moderate(items, app=app)


def decision_summary(runtime: Runtime, moderated: Moderated) -> dict:
    """What both emulated answers add about the decision: where it is in the log and
    how to appeal it."""
    body = moderated.body
    base = runtime.settings.public_url.rstrip("/")
    return {
        "id": body["id"],
        "action": body["action"],
        "url": f"{base}/v1/decisions/{body['id']}",
        "log_index": moderated.appended.index,
        "leaf_hash": moderated.appended.leaf_hash.hex(),
        # Emulated calls moderate afresh, never replay, so the salt is there to give.
        "content_salt": moderated.salt.hex() if moderated.salt is not None else None,
        "appeal": moderated.appeal,
    }


def clamp_probability(value: float) -> float:
    """A span weight as a probability: finite and within [0, 1]."""
    if not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, value))
