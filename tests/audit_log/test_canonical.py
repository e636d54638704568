"""Tests for audit_log.canonical: RFC 8785 bytes and leaf hashes of entry bodies."""

from __future__ import annotations

import hashlib

import pytest

from audit_log.canonical import CanonicalError, canonical, leaf_hash_of


def test_canonical_sorts_keys_and_drops_whitespace() -> None:
    body = {"z": 1, "a": [True, None, 0.5], "m": {"y": "é", "b": "\u2028"}}
    assert canonical(body) == '{"a":[true,null,0.5],"m":{"b":"\u2028","y":"é"},"z":1}'.encode()


def test_canonical_is_independent_of_key_order() -> None:
    assert canonical({"b": 1, "a": 2}) == canonical({"a": 2, "b": 1})


def test_canonical_numbers_follow_rfc8785() -> None:
    # RFC 8785 §3.2.2.3: ECMAScript number serialisation.
    assert canonical({"n": 1.0, "e": 1e21, "s": 0.000001, "t": 1e-7}) == (
        b'{"e":1e+21,"n":1,"s":0.000001,"t":1e-7}'
    )


def test_leaf_hash_is_rfc6962_leaf_of_canonical_bytes() -> None:
    body = {"kind": "decision", "id": "dec_1", "scores": {"threat": 0.91}}
    expected = hashlib.sha256(b"\x00" + canonical(body)).digest()
    assert leaf_hash_of(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": 2**53},
        {1: "non-string key"},
        {"x": b"bytes"},
        {"x": {1, 2}},
        {"x": "\ud800"},
        ["not", "an", "object"],
        "text",
    ],
)
def test_non_canonicalizable_bodies_raise(body: object) -> None:
    with pytest.raises(CanonicalError):
        canonical(body)  # type: ignore[arg-type]
    assert issubclass(CanonicalError, ValueError)
