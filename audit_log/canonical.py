"""Canonical bytes and leaf hashes of log entry bodies (RFC 8785 JSON, RFC 6962 §2.1).

Anyone holding an entry body can recompute its leaf hash: the canonical form depends on
the JSON value only, never on key order, whitespace or how a float was written.
"""

from __future__ import annotations

from collections.abc import Mapping

import rfc8785

from audit_log.merkle import record_hash


class CanonicalError(ValueError):
    """An entry body has no RFC 8785 canonical form (not an object, NaN, huge int, ...)."""


def canonical(body: Mapping) -> bytes:
    """Return the RFC 8785 (JSON Canonicalization Scheme) UTF-8 bytes of an entry body.

    Raises ``CanonicalError`` if ``body`` is not a mapping or holds a value JSON cannot
    represent exactly (non-string keys, NaN or infinity, integers beyond ±(2^53 - 1),
    bytes, sets, lone surrogates).
    """
    if not isinstance(body, Mapping):
        raise CanonicalError(f"an entry body must be a JSON object, got {type(body).__name__}")
    try:
        return rfc8785.dumps(body)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalError(f"entry body is not canonicalizable JSON: {exc}") from exc


def leaf_hash_of(body: Mapping) -> bytes:
    """Return the log leaf hash of an entry body: SHA-256(0x00 || canonical(body))."""
    return record_hash(canonical(body))
