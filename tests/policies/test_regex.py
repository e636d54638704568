"""Policy patterns: RE2 semantics, and verbose mode read as Python reads it."""

from __future__ import annotations

import pytest

from policies.regex import PatternError, compile_pattern


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        # Whitespace and comments go; a class keeps its spaces and '#'.
        ("(?x)\n  buy \\s+ now   # the call to action\n", "BUY   now", "BUY   now"),
        ("(?x) a [# ] b", "a#b", "a#b"),
        ("(?x) a [# ] b", "a b", "a b"),
        # Escaped '#' and space are literal.
        ("(?x) \\# 1 \\ 2", "#1 2", "#1 2"),
        # A ']' first in a class is literal, so the class goes on past it.
        ("(?x) x []# ]+ y", "x] #y", "x] #y"),
        ("(?x) [[:digit:] ]+", "1 2 3", "1 2 3"),
        # Other flags in the group stay.
        ("(?xs) a . b", "a\nb", "a\nb"),
        # Without the flag nothing is dropped.
        ("a b # c", "a b # c", "a b # c"),
    ],
)
def test_verbose_patterns_read_as_in_python(source: str, text: str, found: str) -> None:
    match = compile_pattern(source, case_sensitive=False).search(text)
    assert match is not None and text[match.start() : match.end()] == found


def test_character_classes_are_ascii_and_unicode_classes_are_not() -> None:
    word = compile_pattern(r"^\w+$", case_sensitive=True)
    letters = compile_pattern(r"^\pL+$", case_sensitive=True)
    assert word.search("café") is None and letters.search("café") is not None
    # Case folding is Unicode-aware.
    assert compile_pattern("ДУРАК", case_sensitive=False).search("ты дурак") is not None


@pytest.mark.parametrize(
    ("source", "offset", "reason"),
    [
        ("you(?=r)", 3, "uses a lookahead ((?=…)"),
        ("(?<=not )rude", 0, "uses a lookbehind ((?<=…)"),
        (r"(a)\1", 3, r"uses a backreference (\1)"),
        ("(?P<x>a)(?P=x)", 8, "uses a backreference ((?P=…)"),
        ("a{1001}", None, "is not a valid regular expression: invalid repetition size"),
    ],
)
def test_what_re2_cannot_run_is_refused_with_a_reason(
    source: str, offset: int | None, reason: str
) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(source, case_sensitive=False)
    assert str(caught.value).startswith(reason)
    assert caught.value.offset == offset
