"""``canonical`` against the plainest statement of its fast path.

The bytes ``canonical`` writes are hashed into the log and recomputed by outside
verifiers, so its walk over a body must accept, convert and refuse exactly what
``_plain_canonical`` below does: one recursive call per value, a new list for every
list, ``json.dumps`` with its options, and the ``rfc8785`` reference for the rest. Both
are run on the same bodies, valid and not, and must give the same bytes or the same
error.
"""

from __future__ import annotations

import enum
import json
import math
import types
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_log import canonical as canonical_module
from audit_log.canonical import canonical

_SAFE_INT = 2**53 - 1
_MIN_POSITIONAL_FLOAT = 1e-4


class _Fallback(Exception):
    pass


def _plain(value: object) -> object:
    if type(value) is str or type(value) is bool or value is None:
        return value
    if type(value) is int:
        if -_SAFE_INT <= value <= _SAFE_INT:
            return value
        raise _Fallback
    if type(value) is float:
        if not math.isfinite(value):
            raise _Fallback
        if value.is_integer():
            if -_SAFE_INT <= value <= _SAFE_INT:
                return int(value)
            raise _Fallback
        if abs(value) >= _MIN_POSITIONAL_FLOAT:
            return value
        raise _Fallback
    if type(value) is dict:
        out: dict[str, object] | None = None
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                raise _Fallback
            new = _plain(item)
            if new is not item:
                if out is None:
                    out = dict(value)
                out[key] = new
        return value if out is None else out
    if type(value) is list:
        items = [_plain(item) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    raise _Fallback


def _plain_canonical(body: Mapping[str, object]) -> bytes:
    if type(body) is dict:
        try:
            return json.dumps(
                _plain(body),
                ensure_ascii=False,
                sort_keys=True,
                separators=(",", ":"),
                allow_nan=False,
            ).encode("utf-8")
        except (_Fallback, UnicodeEncodeError, TypeError, ValueError, RecursionError):
            pass
    return canonical_module._reference(body)


def _outcome(encode: Callable[[Mapping[str, object]], bytes], body: object) -> object:
    """The bytes ``encode`` writes for ``body``, or the type and message it raises."""
    try:
        return encode(body)  # type: ignore[arg-type]  # some bodies are not mappings, on purpose
    except Exception as error:  # every error must match, whatever its type
        return (type(error), str(error))


def _assert_same(body: object) -> None:
    assert _outcome(canonical, body) == _outcome(_plain_canonical, body)


class Level(enum.IntEnum):
    HIGH = 3


class Colour(enum.StrEnum):
    RED = "red"


class Score(float):
    def __repr__(self) -> str:
        return "score"


class Strings(list[object]):
    pass


def _cyclic() -> dict[str, object]:
    body: dict[str, object] = {"a": []}
    body["a"].append(body)  # type: ignore[attr-defined]
    return body


def _deep(levels: int, wrap: Callable[[object], object]) -> dict[str, object]:
    value: object = 1.0
    for _ in range(levels):
        value = wrap(value)
    return {"deep": value}


# Each value alone in a body, as an object member, a list item and a nested member, so
# that no other value of the body sends it down the reference path.
_VALUES: list[object] = [
    0,
    -7,
    2**53 - 1,
    -(2**53) + 1,
    2**53,
    -(2**53),
    2**64,
    0.0,
    -0.0,
    1.0,
    -2.0,
    0.5,
    0.1,
    0.9312,
    1e-4,
    -1e-4,
    9.99e-5,
    1e-7,
    -3.25e-7,
    5e-324,
    123456789.125,
    2.0**52 + 0.5,
    2.0**53 - 1,
    -(2.0**53) + 1,
    2.0**53,
    2.0**53 + 2,
    1e16,
    1e21,
    1.7976931348623157e308,
    float("nan"),
    float("inf"),
    -float("inf"),
    True,
    False,
    None,
    "",
    "plain",
    'é \u2028 \U0001f600 \x00 \\ " \n \t',
    "\ud800",
    b"bytes",
    bytearray(b"x"),
    {1, 2},
    frozenset(),
    1j,
    (1, 2.0, "x"),
    (),
    [(1.0,), ()],
    Level.HIGH,
    Colour.RED,
    Score(0.5),
    Score(1.0),
    Strings(["a"]),
    Strings(),
    OrderedDict(b=1, a=2.0),
    defaultdict(list, a=[1.0]),
    types.MappingProxyType({"a": 1}),
    object(),
]


@pytest.mark.parametrize("value", _VALUES, ids=range(len(_VALUES)))
def test_canonical_writes_and_refuses_each_value_as_the_plain_walk(value: object) -> None:
    _assert_same({"x": value})
    _assert_same({"x": [1, value, "a"]})
    _assert_same({"x": {"y": value, "z": 2.0}, "w": [[value]]})


_BODIES: list[object] = [
    {},
    {"a": 1, "b": [1, 2.0, 2.5, True, False, None, "x"], "c": {"d": {"e": []}}},
    {"kind": "decision", "scores": {"threat": 0.0, "insult": 1.0, "spam": 0.0002}},
    {"rules": [{"id": "r", "spans": [[0, 15], [20, 25]], "labels": ["a", "b"]}]},
    {"é": 1, "a": 2},
    {"a": {"é": 1.0}},
    {"\U0001f600": 1, "\ufb01": 2, "a": 3},
    {"\ud800": 1},
    {1: "int key"},
    {"a": 1, 1: "mixed keys"},
    {"a": {2: 1.0, 10: 2}},
    {None: 1},
    {True: 1},
    {1.5: 1},
    {(1, 2): 1},
    {Colour.RED: 1},
    OrderedDict(b=1, a=2.0),
    defaultdict(list, a=[1.0]),
    types.MappingProxyType({"a": 1}),
    ["not", "an", "object"],
    "text",
    None,
    _cyclic(),
    _deep(50, lambda v: [v]),
    _deep(50, lambda v: {"k": v}),
    _deep(100_000, lambda v: [v]),
    _deep(100_000, lambda v: {"k": v}),
]


@pytest.mark.parametrize("body", _BODIES, ids=range(len(_BODIES)))
def test_canonical_writes_and_refuses_as_the_plain_walk(body: object) -> None:
    _assert_same(body)


_numbers = (
    st.integers(min_value=-(2**64), max_value=2**64)
    | st.integers(min_value=-(2**53) - 2, max_value=-(2**53) + 2)
    | st.integers(min_value=2**53 - 2, max_value=2**53 + 2)
    | st.floats()
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.floats(min_value=2.0**52, max_value=2.0**54)
    | st.integers(-(2**53), 2**53).map(float)
)
_text = st.text(max_size=8) | st.text(st.characters(codec=None, exclude_categories=()), max_size=4)
_json_leaves = st.none() | st.booleans() | _numbers | _text
_odd_leaves = st.binary(max_size=2) | st.sampled_from(
    [Level.HIGH, Colour.RED, Score(0.25), Score(3.0), 1j, (), frozenset()]
)
_keys = _text | st.integers(-3, 3) | st.booleans() | st.none()


def _tree(
    leaves: st.SearchStrategy[object], containers: Callable[[st.SearchStrategy[object]], object]
) -> st.SearchStrategy[object]:
    return st.recursive(leaves, containers, max_leaves=24)  # type: ignore[arg-type]


# JSON types only, so most bodies take the fast path and their numbers and strings are
# what is compared.
_json_values = _tree(
    _json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
)
# Now and then a type the fast path refuses, anywhere in the body.
_any_values = _tree(
    _json_leaves | _odd_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.lists(inner, max_size=3).map(Strings)
        | st.dictionaries(_text, inner, max_size=4)
        | st.dictionaries(_keys, inner, max_size=3)
        | st.dictionaries(_text, inner, max_size=3).map(OrderedDict)
    ),
)
_bodies = (
    st.dictionaries(_text, _json_values, max_size=6)
    | st.dictionaries(_text, _any_values, max_size=4)
    | st.dictionaries(_keys, _any_values, max_size=3)
)


@settings(max_examples=400, deadline=None)
@given(_bodies)
def test_canonical_matches_the_plain_walk_on_generated_bodies(body: dict[object, object]) -> None:
    _assert_same(body)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None)
@given(_bodies)
def test_canonical_matches_the_plain_walk_on_many_generated_bodies(
    body: dict[object, object],
) -> None:
    _assert_same(body)
