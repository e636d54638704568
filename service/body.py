"""Reading a JSON request body strictly, so bad bytes become clear 4xx answers."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from service.problems import Problem


def json_body() -> Any:
    """The parsed JSON body.

    Bytes that are not UTF-8 survive as lone surrogates (``surrogateescape``), so the
    schema can name the field that holds them instead of rejecting the whole body as
    unreadable.
    """
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "unsupported-media-type", "Send the body as application/json.")
    raw = request.get_data(cache=False)
    try:
        text = raw.decode("utf-8", errors="surrogateescape")
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Problem(400, "malformed-json", f"The body is not valid JSON: {exc}") from exc


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be judged as text, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None
