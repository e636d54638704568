"""Reading a JSON request body strictly, so bad bytes become clear 4xx answers."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from service.http.problems import Problem, field_error, invalid, marshmallow_errors


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
        marked: list[_Repeats] = []
        parsed = json.loads(text, object_pairs_hook=lambda pairs: _object(pairs, marked))
    except (ValueError, RecursionError) as exc:
        raise Problem(400, "malformed-json", f"The body is not valid JSON: {exc}") from exc
    repeated = _first_repeated_key(parsed) if marked else None
    if repeated is not None:
        pointer, key = repeated
        shown = key if len(key) <= 64 else key[:64] + "…"
        raise Problem(
            400,
            "malformed-json",
            f"The body repeats the key {shown!r} in one object; send each key once.",
            [field_error(pointer, "This key appears more than once in its object.")],
        )
    return parsed


class _Repeats(dict):
    """An object in which a key appeared more than once (the last value kept, as
    ``json`` does, only until the whole body is refused)."""

    repeated: str


def _object(pairs: list[tuple[str, Any]], marked: list[_Repeats]) -> dict:
    # Refusing here would lose the path; marking the object lets the walk below name it.
    # JSON that parses differently in different readers (first wins, last wins) is how
    # a check in one place and an action in another come to see different requests.
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeats = _Repeats(obj)
    for key, _ in pairs:
        if key in seen:
            repeats.repeated = key
            break
        seen.add(key)
    marked.append(repeats)
    return repeats


def _first_repeated_key(value: Any) -> tuple[str, str] | None:
    """The JSON Pointer (RFC 6901) and name of the first repeated key, None if none."""
    stack: list[tuple[str, Any]] = [("#", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Repeats):
            return f"{path}/{_escape(node.repeated)}", node.repeated
        if isinstance(node, dict):
            children = [(f"{path}/{_escape(k)}", v) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(f"{path}/{i}", v) for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be judged as text, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def load_object(schema: Schema, payload: Any) -> dict:
    """``payload`` loaded by ``schema``: 422 when it is not a JSON object, or naming the
    fields at fault."""
    if not isinstance(payload, dict):
        raise invalid([field_error("#/", "The body must be a JSON object.")])
    try:
        return schema.load(payload)
    except ValidationError as err:
        raise invalid(marshmallow_errors(err)) from err
