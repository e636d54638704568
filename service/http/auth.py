"""Bearer API keys on the routes that need them: the key's role, then its own limit."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g

from service.http.identity import authenticated_key
from service.http.problems import Problem
from service.http.ratelimits import limits_of
from service.storage.keys import ApiKey


def current_key() -> ApiKey:
    return g.api_key


def require_role(*roles: str) -> Callable:
    """Let the request through only with a valid key holding one of ``roles``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            key = authenticated_key()
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
