"""RFC 9457 problem details: the one shape every error takes.

A view raises a ``Problem``; ``service.http.errors`` answers it (and every other error)
as problem+json, or as a page on the web pages.
"""

from __future__ import annotations

from collections.abc import Sequence

from marshmallow import ValidationError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://fairwitness.example/problems/"


class Problem(Exception):
    """An error the client can act on. ``errors`` name the fields at fault."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        errors: Sequence[dict] = (),
        headers: dict | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}
        # RFC 9457 extension members, each documented on the Problem schema.
        self.extra = extra or {}


def field_error(pointer: str, detail: str) -> dict:
    """One invalid field, as a JSON Pointer (RFC 6901) into the request body or query."""
    return {"pointer": pointer, "detail": detail}


def invalid(errors: Sequence[dict], detail: str = "The request has invalid fields.") -> Problem:
    return Problem(422, "invalid-request", detail, errors)


def marshmallow_errors(err: ValidationError, base: str = "") -> list[dict]:
    """Flatten marshmallow's nested messages into pointer/detail pairs."""
    out: list[dict] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                key_part = "" if key == "_schema" else f"/{key}"
                walk(value, path + key_part)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            for message in node:
                out.append(field_error("#" + (path or "/"), message))
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
        else:
            out.append(field_error("#" + (path or "/"), str(node)))

    walk(err.messages, base)
    return out
