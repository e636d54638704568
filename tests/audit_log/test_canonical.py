"""Tests for audit_log.canonical: RFC 8785 bytes and leaf hashes of entry bodies."""

from __future__ import annotations

import hashlib

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

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
        canonical(body)  # type: ignore[arg-type]  # bodies the signature rules out, on purpose
    assert issubclass(CanonicalError, ValueError)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json, max_size=6))
def test_fast_path_equals_the_reference_encoder(body) -> None:
    try:
        expected = rfc8785.dumps(body)
    except rfc8785.CanonicalizationError:
        with pytest.raises(CanonicalError):
            canonical(body)
        return
    assert canonical(body) == expected


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        1.0,
        0.5,
        0.9312,
        1e-4,
        9.99e-5,
        1e16,
        1e21,
        123456789.125,
        2.0**53,
        2.0**53 + 2,
        -3.25e-7,
    ],
)
def test_fast_path_numbers_match_the_reference(value) -> None:
    assert canonical({"x": value, "y": [value]}) == rfc8785.dumps({"x": value, "y": [value]})


def test_fast_path_keys_outside_the_bmp_sort_as_utf16() -> None:
    body = {"\U0001f600": 1, "\ufb01": 2, "a": 3}
    assert canonical(body) == rfc8785.dumps(body)
