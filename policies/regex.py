"""Policy regular expressions, run on a linear-time engine.

A policy's patterns are written by operators and run on text written by anyone, so no
text may make one slow: they are compiled with RE2, whose matching time grows linearly
with the text whatever the pattern. RE2 has no lookarounds and no backreferences (the
constructs that force backtracking); a pattern using them is refused when the policy is
loaded, and the policy's own ``all``/``any``/``not`` conditions say the same things.

RE2 has no verbose mode either, so a pattern that starts with ``(?x)`` is made compact
here first, by the rules of Python's verbose mode: whitespace and ``#`` comments are
dropped, except inside a character class or after a backslash.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import re2


class Match(Protocol):
    def span(self) -> tuple[int, int]: ...

    def start(self) -> int: ...

    def end(self) -> int: ...


class LinearPattern(Protocol):
    """What the evaluator needs of a compiled policy pattern."""

    def search(self, text: str) -> Match | None: ...

    def finditer(self, text: str) -> Iterator[Match]: ...


class PatternError(ValueError):
    """A pattern that cannot be compiled; the message says why in a policy author's terms,
    and ``offset`` is where in the source the offending construct starts, when known."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


_VERBOSE_FLAG = "x"
# RE2's messages name the operator it stopped at; these say what the author wrote.
_UNSUPPORTED = (
    ("(?=", "a lookahead"),
    ("(?!", "a negative lookahead"),
    ("(?<=", "a lookbehind"),
    ("(?<!", "a negative lookbehind"),
    ("(?P=", "a backreference"),
)
_ADVICE = (
    "policy patterns run on a linear-time engine (RE2) that has no lookarounds or "
    "backreferences; say it with the policy's all/any/not conditions instead "
    "(see docs/policy-language.md)"
)


def compile_pattern(source: str, *, case_sensitive: bool) -> LinearPattern:
    """``source`` compiled with RE2 (verbose mode applied first when it starts with a
    ``(?x)`` flag group); ``PatternError`` with a readable reason otherwise."""
    options = re2.Options()
    options.case_sensitive = case_sensitive
    # The reason goes into the PolicyError; RE2's own log line would only repeat it.
    options.log_errors = False
    try:
        # re2 ships no type hints; its compiled patterns are what LinearPattern describes.
        pattern: LinearPattern = re2.compile(_without_verbose(source), options)
        return pattern
    except re2.error as exc:
        raise _explained(source, exc) from None


def _explained(source: str, exc: re2.error) -> PatternError:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    detail = str(detail)
    for operator, name in _UNSUPPORTED:
        # RE2 names at most "(?P" of a named backreference: look for it in the source.
        if operator in detail or (operator == "(?P=" and detail.endswith("(?P")):
            if operator not in source:
                continue
            return PatternError(f"uses {name} ({operator}…): {_ADVICE}", _find(source, operator))
    if detail.startswith("invalid perl operator: (?") and _VERBOSE_FLAG in detail:
        return PatternError(
            "uses verbose mode (x) inside the pattern: it is understood only as the "
            "pattern's first flag group, such as (?x) at the very start",
            _find(source, detail.removeprefix("invalid perl operator: ")),
        )
    if detail.startswith("invalid escape sequence: \\") and detail[-1:].isdigit():
        escape = detail.split(": ", 1)[1]
        return PatternError(f"uses a backreference ({escape}): {_ADVICE}", _find(source, escape))
    return PatternError(f"is not a valid regular expression: {detail or 'RE2 cannot compile it'}")


def _find(source: str, construct: str) -> int | None:
    offset = source.find(construct)
    return None if offset == -1 else offset


def _without_verbose(source: str) -> str:
    """``source`` unchanged, or, when its leading flag group has ``x``, that flag removed
    and the rest compacted as Python's verbose mode reads it."""
    if not source.startswith("(?"):
        return source
    close = source.find(")")
    flags = source[2:close] if close != -1 else ""
    if not flags.isalpha() or _VERBOSE_FLAG not in flags:
        return source
    others = flags.replace(_VERBOSE_FLAG, "")
    prefix = f"(?{others})" if others else ""
    return prefix + _compact(source[close + 1 :])


def _compact(body: str) -> str:
    out: list[str] = []
    i, n = 0, len(body)
    in_class = False
    while i < n:
        char = body[i]
        if char == "\\":
            escaped = body[i + 1 : i + 2]
            # An escaped space is a literal space in verbose mode; RE2 spells it \x20.
            out.append("\\x20" if escaped == " " else char + escaped)
            i += 2
            continue
        if in_class:
            if body.startswith("[:", i):
                # A POSIX class such as [:alpha:] inside a class keeps its own brackets.
                close = body.find(":]", i + 2)
                end = n if close == -1 else close + 2
                out.append(body[i:end])
                i = end
                continue
            out.append(char)
            if char == "]":
                in_class = False
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            i += 1
            # A ']' first in a class (after an optional '^') is a literal bracket.
            if body[i : i + 1] == "^":
                out.append("^")
                i += 1
            if body[i : i + 1] == "]":
                out.append("]")
                i += 1
            continue
        if char == "#":
            newline = body.find("\n", i)
            i = n if newline == -1 else newline + 1
            continue
        if not char.isspace():
            out.append(char)
        i += 1
    return "".join(out)
