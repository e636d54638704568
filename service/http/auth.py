"""Bearer API keys on the routes that need them."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g

from service.http.problems import Problem
from service.http.ratelimits import limits_of, presented_token, request_key
from service.storage.keys import ApiKey


def _unauthenticated(detail: str) -> Problem:
    return Problem(
        401, "unauthenticated", detail, headers={"WWW-Authenticate": 'Bearer realm="fairwitness"'}
    )


def current_key() -> ApiKey:
    return g.api_key


def require_role(*roles: str) -> Callable:
    """Let the request through only with a valid key holding one of ``roles``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if presented_token() is None:
                raise _unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
            key = request_key()
            if key is None:
                raise _unauthenticated("The API key is unknown, revoked or expired.")
            if key.role not in roles:
                raise Problem(
                    403,
                    "forbidden",
                    f"This route needs a {' or '.join(roles)} key; this key's role is {key.role}.",
                )
            g.api_key = key
            limits_of().hit_key(key)
            return view(*args, **kwargs)

        return wrapped

    return decorator
