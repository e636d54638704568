"""Canonical bytes and leaf hashes of log entry bodies (RFC 8785 JSON, RFC 6962 §2.1).

Anyone holding an entry body can recompute its leaf hash: the canonical form depends on
the JSON value only, never on key order, whitespace or how a float was written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import rfc8785

from audit_log.merkle import record_hash


class CanonicalError(ValueError):
    """An entry body has no RFC 8785 canonical form (not an object, NaN, huge int, ...)."""


_SAFE_INT = 2**53 - 1
# Below this magnitude Python's repr() of a float switches to exponent notation
# ("1e-05") where ECMAScript (and so RFC 8785) still writes positional digits.
_MIN_POSITIONAL_FLOAT = 1e-4


class _NeedsReference(Exception):
    """The body holds a value the fast path cannot prove it writes as RFC 8785 does."""


# Exact type checks, not isinstance: a subclass (bool of int, an OrderedDict, a str
# enum) may be written otherwise than its base.
_VERBATIM = frozenset({str, bool, type(None)})


def _plain_object(value: dict[object, object]) -> dict[object, object]:
    """Return ``value`` with every float that RFC 8785 writes as an integer made an int.

    Raises ``_NeedsReference`` for anything whose ``json.dumps`` spelling might differ
    from RFC 8785's: non-ASCII keys (RFC 8785 sorts by UTF-16 code units, Python by code
    points), integers beyond ±(2^53 - 1), floats that are not finite or that Python
    would write with an exponent, and any type other than the exact JSON ones.
    """
    copy: dict[object, object] | None = None
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            raise _NeedsReference
        # Strings, booleans, null and safe integers, most of a body, are taken as they are
        # without a call.
        if type(item) in _VERBATIM or (type(item) is int and -_SAFE_INT <= item <= _SAFE_INT):
            continue
        new = _plain(item)
        if new is not item:
            if copy is None:
                copy = dict(value)
            copy[key] = new
    return value if copy is None else copy


def _plain_array(value: list[object]) -> list[object]:
    """``_plain_object`` for a list."""
    copy: list[object] | None = None
    for position, item in enumerate(value):
        if type(item) in _VERBATIM or (type(item) is int and -_SAFE_INT <= item <= _SAFE_INT):
            continue
        new = _plain(item)
        if new is not item:
            if copy is None:
                copy = list(value)
            copy[position] = new
    return value if copy is None else copy


def _plain(value: object) -> object:
    """``_plain_object`` for a value that is neither a string, a boolean, null nor a safe
    integer: a float, an object or a list."""
    if type(value) is float:
        if value.is_integer():
            # ECMAScript writes integral numbers below 2^53 as their exact digits.
            if -_SAFE_INT <= value <= _SAFE_INT:
                return int(value)
        # A non-integral double is below 2^53, where repr() is positional with the same
        # shortest round-trip digits ECMAScript's Number::toString chooses; the upper
        # bound here only turns infinities away (NaN fails both comparisons).
        elif _MIN_POSITIONAL_FLOAT <= abs(value) < _SAFE_INT:
            return value
        raise _NeedsReference
    if type(value) is dict:
        return _plain_object(value)
    if type(value) is list:
        return _plain_array(value)
    raise _NeedsReference


# A number json.dumps may spell otherwise than RFC 8785: with an exponent (repr always
# signs it), ending in ".0", or of 16+ digits (beyond 2^53 perhaps). In compact output a
# number follows '":' (an object value), '[' or ','; a match inside a string is harmless,
# it only sends the body down the slower path.
_NUMBER_TAIL = r"(?=-?\d)-?(?:\d+(?:\.\d+)?e[+-]|\d+\.0[,\]}]|\d{16})"
# Two patterns, each with a plain prefix the regex engine scans for quickly.
_SUSPECT_VALUE = re.compile('":' + _NUMBER_TAIL)
_SUSPECT_ITEM = re.compile(r"[\[,]" + _NUMBER_TAIL)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


# One encoder for every call: json.dumps with options builds a new one each time.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def _dumps(value: object) -> str:
    return _ENCODER.encode(value)


def canonical(body: Mapping[str, object]) -> bytes:
    """Return the RFC 8785 (JSON Canonicalization Scheme) UTF-8 bytes of an entry body.

    For bodies with ASCII string keys, safe integers and floats of ordinary size, the
    RFC 8785 form is what ``json.dumps`` writes with sorted keys, no spaces and raw
    UTF-8, once integral floats are written as integers; property tests hold this fast
    path equal to the ``rfc8785`` reference, which every other body goes through.

    Raises ``CanonicalError`` if ``body`` is not a mapping or holds a value JSON cannot
    represent exactly (non-string keys, NaN or infinity, integers beyond ±(2^53 - 1),
    bytes, sets, lone surrogates).
    """
    if type(body) is dict:
        try:
            return _dumps(_plain_object(body)).encode("utf-8")
        except (_NeedsReference, UnicodeEncodeError, TypeError, ValueError, RecursionError):
            pass
    return _reference(body)


def canonical_parsed(body: Mapping[str, object]) -> bytes:
    """``canonical`` for a body fresh from ``json.loads``, several times faster.

    Such a body has string keys by construction, so the walk over it can be skipped
    whenever the encoded text shows no number RFC 8785 might spell differently and no
    character beyond U+FFFF (where key order could differ); otherwise ``canonical``.
    """
    if type(body) is dict:
        try:
            text = _dumps(body)
            if (
                (text.isascii() or not _ASTRAL.search(text))
                and not _SUSPECT_VALUE.search(text)
                and not _SUSPECT_ITEM.search(text)
            ):
                return text.encode("utf-8")
        except (UnicodeEncodeError, TypeError, ValueError, RecursionError):
            pass
    return canonical(body)


def _reference(body: Mapping[str, object]) -> bytes:
    if not isinstance(body, Mapping):
        raise CanonicalError(f"an entry body must be a JSON object, got {type(body).__name__}")
    try:
        # rfc8785 types its argument as JSON values, but checks every value itself and
        # raises CanonicalizationError for the rest, which is what this call relies on.
        return rfc8785.dumps(body)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalError(f"entry body is not canonicalizable JSON: {exc}") from exc


def leaf_hash_of(body: Mapping[str, object]) -> bytes:
    """Return the log leaf hash of an entry body: SHA-256(0x00 || canonical(body))."""
    return record_hash(canonical(body))
