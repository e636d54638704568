"""Canonical bytes and leaf hashes of log entry bodies (RFC 8785 JSON, RFC 6962 §2.1).

Anyone holding an entry body can recompute its leaf hash: the canonical form depends on
the JSON value only, never on key order, whitespace or how a float was written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import rfc8785

from audit_log.merkle import record_hash


class CanonicalError(ValueError):
    """An entry body has no RFC 8785 canonical form (not an object, NaN, huge int, ...)."""


_MAX_SAFE_INTEGER = 2**53 - 1


class _NeedsReference(Exception):
    """The value holds something only the reference encoder renders exactly."""


def _prepare(value: object) -> object:
    """A copy the C ``json`` encoder renders exactly as RFC 8785 does, or _NeedsReference.

    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` already
    escapes strings as RFC 8785 does; it differs only in numbers (``1.0`` vs ``1``,
    exponent thresholds) and in sorting keys outside the Basic Multilingual Plane (code
    points vs UTF-16 units). Integral floats become ints; other floats are kept only
    where Python's repr and ECMAScript's Number-to-String both print plain shortest
    decimals (1e-4 <= |x| < 1e16), and BMP-only keys are required.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return value
        raise _NeedsReference
    if kind is float:
        if value.is_integer():
            if abs(value) <= _MAX_SAFE_INTEGER:
                return int(value)
            raise _NeedsReference
        if 1e-4 <= abs(value) < 1e16:
            return value
        raise _NeedsReference
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) < "\U00010000"):
                raise _NeedsReference
            out[key] = _prepare(item)
        return out
    if kind is list or kind is tuple:
        return [_prepare(item) for item in value]
    raise _NeedsReference


def canonical(body: Mapping) -> bytes:
    """Return the RFC 8785 (JSON Canonicalization Scheme) UTF-8 bytes of an entry body.

    Common bodies take a fast path through the C ``json`` encoder (a test holds it equal
    to the ``rfc8785`` reference); anything else goes through ``rfc8785`` itself.

    Raises ``CanonicalError`` if ``body`` is not a mapping or holds a value JSON cannot
    represent exactly (non-string keys, NaN or infinity, integers beyond ±(2^53 - 1),
    bytes, sets, lone surrogates).
    """
    if not isinstance(body, Mapping):
        raise CanonicalError(f"an entry body must be a JSON object, got {type(body).__name__}")
    try:
        prepared = _prepare(dict(body))
        return json.dumps(prepared, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (_NeedsReference, UnicodeEncodeError):
        pass
    try:
        return rfc8785.dumps(body)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalError(f"entry body is not canonicalizable JSON: {exc}") from exc


def leaf_hash_of(body: Mapping) -> bytes:
    """Return the log leaf hash of an entry body: SHA-256(0x00 || canonical(body))."""
    return record_hash(canonical(body))
