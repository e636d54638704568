"""Who a request speaks for: the API key it presents, looked up once per request.

A key travels as ``Authorization: Bearer <key>``. The emulated Perspective API also
reads it from ``?key=``, because Google's clients send it there; no other route does,
so a key never ends up in the URLs other routes log or cache.
"""

from __future__ import annotations

from flask import g, request

from service.http.problems import Problem
from service.http.state import current_runtime
from service.storage.keys import ApiKey, authenticate

# Google's API clients send the key in the query string; only these routes read it there.
QUERY_KEY_ENDPOINTS = frozenset({"perspective.analyze"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="fairwitness"'}
SEND_A_KEY = "Send an API key as 'Authorization: Bearer <key>'."
UNKNOWN_KEY = "The API key is unknown, revoked or expired."


def unauthenticated(detail: str) -> Problem:
    """A 401 with the ``WWW-Authenticate`` challenge, ``detail`` saying what to send."""
    return Problem(401, "unauthenticated", detail, headers=dict(CHALLENGE))


def presented_token() -> str | None:
    """The API key the request presents: ``Authorization: Bearer``, or ``?key=`` on the
    routes that emulate an API whose clients send it that way."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.endpoint in QUERY_KEY_ENDPOINTS:
        return request.args.get("key", "").strip() or None
    return None


def request_key() -> ApiKey | None:
    """The valid API key the request carries, looked up once per request (never cached
    beyond it, so a revocation takes effect on the next request)."""
    if "api_key_checked" not in g:
        token = presented_token()
        key = None
        if token is not None:
            runtime = current_runtime()
            with runtime.engine.connect() as conn:
                key = authenticate(conn, token, runtime.clock())
        g.api_key_checked = key
    return g.api_key_checked


def authenticated_key() -> ApiKey:
    """The valid key the request presents; 401 when it presents none, or one that is
    unknown, revoked or expired."""
    if presented_token() is None:
        raise unauthenticated(SEND_A_KEY)
    key = request_key()
    if key is None:
        raise unauthenticated(UNKNOWN_KEY)
    return key


def optional_key() -> ApiKey | None:
    """None when the request sends no ``Authorization`` header; otherwise the key it
    presents, as ``authenticated_key`` checks it (a malformed header is a 401, not
    anonymous)."""
    if request.headers.get("Authorization") is None:
        return None
    return authenticated_key()
