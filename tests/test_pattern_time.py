"""No text up to the body limit makes any regular expression in the service slow.

Every pattern is found automatically, so a new one cannot escape: the compiled patterns
held by the modules of every package, the patterns of every shipped policy and the
patterns built from every shipped word list. Each is fed hostile texts made from its own
characters and words (long runs of one character, alternating characters, a word then a
long run of spaces, a word repeated), up to 256 KiB, and must finish every way the code
uses it (search, all matches, whole-text match) within a generous time budget: a pattern
that backtracks super-linearly takes tens of seconds on them, a linear one milliseconds.

A source check keeps the discovery complete: outside the two places that build patterns
from operators' files (policy patterns, on RE2, and word-list patterns), every pattern is
compiled once, at module level, under a name.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import re2

from classifiers.lexicon import compile_terms
from policies.load import load_policy_dir
from policies.model import RegexCondition, walk

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "policies" / "library"
PACKAGES = ("service", "classifiers", "policies", "audit_log")

BODY_LIMIT = 256 * 1024
# Combinations are many, so they are shorter; a quadratic pattern still takes seconds.
COMBINATION_LENGTH = 32 * 1024
# Generous for a busy two-core machine: linear patterns take milliseconds here when it is
# idle, and the old quadratic ones took minutes.
BUDGET_SECONDS = 2.0
# A pattern that blows the budget is stopped here rather than hanging the suite (the
# standard engine checks for signals while it backtracks).
ABORT_SECONDS = 20

REGEX_FUNCTIONS = frozenset(
    {"compile", "search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split"}
)
# Functions that compile patterns from operators' files; their output is covered below.
DYNAMIC_BUILDERS = {
    "policies/regex.py": {"compile_pattern"},
    "classifiers/lexicon.py": {"compile_terms"},
}

# One character of each class patterns tend to name, beside the pattern's own characters.
CLASS_SAMPLES = "a0 .-_@'\né+/"
OTHER_CHARACTERS = "Z\t’\u00a0\x00"


def _is_pattern(value: object) -> bool:
    return isinstance(value, re.Pattern | re2._Regexp)


def _module_patterns() -> dict[str, object]:
    found: dict[str, object] = {}
    seen: set[int] = set()
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names = [package_name] + [
            info.name for info in pkgutil.walk_packages(package.__path__, package_name + ".")
        ]
        for name in names:
            module = importlib.import_module(name)
            for attribute, value in vars(module).items():
                if _is_pattern(value) and id(value) not in seen:
                    seen.add(id(value))
                    found[f"{name}.{attribute}"] = value
    return found


def _policy_patterns() -> dict[str, object]:
    library = load_policy_dir(LIBRARY)
    found: dict[str, object] = {}
    for policy in library.policies.values():
        for rule in policy.rules:
            regexes = [c for c in walk(rule.when) if isinstance(c, RegexCondition)]
            for n, condition in enumerate(regexes):
                found[f"{policy.id}.{rule.id}[{n}]"] = condition.pattern
    for name, terms in library.lexicons.items():
        found[f"lexicons/{name}.txt"] = compile_terms(terms, name)
    return found


MODULE_PATTERNS = _module_patterns()
POLICY_PATTERNS = _policy_patterns()
ALL_PATTERNS = {**MODULE_PATTERNS, **POLICY_PATTERNS}


def _source(pattern: object) -> str:
    # re and re2 patterns both carry their source, but share no type that says so.
    source = pattern.pattern  # type: ignore[attr-defined]
    return source if isinstance(source, str) else source.decode("utf-8", "replace")


def hostile_texts(source: str) -> Iterator[tuple[str, str]]:
    """(description, text) pairs built from the characters and words of ``source``."""
    alphabet = sorted(set(source) | set(CLASS_SAMPLES) | set(OTHER_CHARACTERS))
    for char in alphabet:
        yield f"run of {char!r}", char * BODY_LIMIT
    for first in CLASS_SAMPLES:
        for second in CLASS_SAMPLES:
            if first != second:
                yield (
                    f"{first!r}{second!r} alternating",
                    (first + second) * (COMBINATION_LENGTH // 2),
                )
    # Words that start a match, then what a greedy repeat after them would swallow.
    words = sorted(set(re.findall(r"[A-Za-z]{2,}", source)), key=lambda w: (-len(w), w))[:16]
    for word in ["i", "a", *words]:
        yield f"{word!r} then spaces", word + " " * BODY_LIMIT + "z"
        for separator in (" ", "."):
            count = COMBINATION_LENGTH // (len(word) + len(separator))
            yield f"{word!r}{separator!r} repeated", (word + separator) * count
    yield "nested repeats", ("a" * 7 + " " + "1" * 7 + ".") * (COMBINATION_LENGTH // 16)


class _Overrun(Exception):
    pass


def _abort(signum, frame):
    raise _Overrun


def _use_every_way(pattern, text: str) -> None:
    pattern.search(text)
    for _ in pattern.finditer(text):
        pass
    pattern.match(text)
    pattern.fullmatch(text)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALL_PATTERNS))
def test_pattern_is_fast_on_hostile_texts(name: str) -> None:
    pattern = ALL_PATTERNS[name]
    previous = signal.signal(signal.SIGALRM, _abort)
    slow: list[str] = []
    try:
        for description, text in hostile_texts(_source(pattern)):
            started = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, ABORT_SECONDS)
            try:
                _use_every_way(pattern, text)
            except _Overrun:
                slow.append(f"{description}: stopped after {ABORT_SECONDS} s")
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.perf_counter() - started
            if elapsed > BUDGET_SECONDS:
                slow.append(f"{description}: {elapsed:.2f} s")
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert slow == [], f"{name} ({_source(pattern)[:80]!r}) is slow on: " + "; ".join(slow)


def test_discovery_finds_the_patterns_that_matter() -> None:
    # The two that backtracked quadratically, and the engine each runs on now.
    assert isinstance(MODULE_PATTERNS["service.domain.excerpt._PERSONAL"], re2._Regexp)
    threat = [p for name, p in POLICY_PATTERNS.items() if name.startswith("civility.threat")]
    assert threat and all(isinstance(p, re2._Regexp) for p in threat)
    assert any(name.startswith("lexicons/") for name in POLICY_PATTERNS)
    assert len(MODULE_PATTERNS) >= 20


def _regex_calls_outside_module_level(path: Path) -> list[str]:
    """Calls of re/re2 pattern functions that are not a module-level ``NAME = …``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    at_module_level: set[int] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            at_module_level.update(id(node) for node in ast.walk(statement))
    allowed = DYNAMIC_BUILDERS.get(path.relative_to(ROOT).as_posix(), set())
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and function.name in allowed:
            at_module_level.update(id(node) for node in ast.walk(function))
    stray = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("re", "re2")
            and node.func.attr in REGEX_FUNCTIONS
            and id(node) not in at_module_level
        ):
            stray.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return stray


def test_every_pattern_is_compiled_where_the_time_test_finds_it() -> None:
    stray = [
        where
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for where in _regex_calls_outside_module_level(path)
    ]
    assert stray == [], (
        "compile these at module level under a name (or build them in a registered "
        f"builder) so the time test covers them: {stray}"
    )
