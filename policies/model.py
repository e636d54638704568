"""What a loaded policy is: immutable values, validated once by ``policies.load``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from policies.duration import Duration
from policies.regex import LinearPattern

ACTIONS: tuple[str, ...] = (
    "allow",
    "label",
    "reduce_visibility",
    "hold_for_review",
    "remove",
    "restrict_account",
    "suspend_account",
)
"""Every action, least to most severe."""

CONTENT_ACTIONS: tuple[str, ...] = ACTIONS[:5]
"""Actions on one piece of content; the only actions a rule may take."""

ACCOUNT_ACTIONS: tuple[str, ...] = ACTIONS[5:]
"""Actions on a whole account; only the escalation ladder takes them, always for a time."""

PublicExcerpt = Literal["none", "redacted", "full"]
PUBLIC_EXCERPTS: tuple[PublicExcerpt, ...] = ("none", "redacted", "full")

_SEVERITY = {action: rank for rank, action in enumerate(ACTIONS)}


def severity(action: str) -> int:
    """Rank of ``action`` on the ladder (``allow`` is 0); ``ValueError`` if unknown."""
    try:
        return _SEVERITY[action]
    except KeyError:
        raise ValueError(
            f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}"
        ) from None


def most_severe(actions: Iterable[str]) -> str:
    """The most severe of ``actions``; ``allow`` when there are none."""
    return max(actions, key=severity, default="allow")


@dataclass(frozen=True)
class ScoreCondition:
    """Holds when ``scores[label] >= at_least`` or ``scores[label] < below`` (exactly one
    of the two is set)."""

    label: str
    at_least: float | None = None
    below: float | None = None


@dataclass(frozen=True)
class LexiconCondition:
    """Holds when the word list ``name`` matched, i.e. ``scores["lexicon:<name>"]`` is
    at least 0.5 (the lexicon classifier gives 1.0 for a hit)."""

    name: str

    @property
    def label(self) -> str:
        return f"lexicon:{self.name}"


@dataclass(frozen=True)
class RegexCondition:
    """Holds when ``pattern`` (RE2, compiled by ``policies.regex``) is found anywhere in
    the original text; with ``skip_mentions``, only where it is not quoted or reported
    (``policies.mentions``)."""

    source: str
    pattern: LinearPattern
    skip_mentions: bool = False


@dataclass(frozen=True)
class LengthCondition:
    """Holds when ``at_least <= len(text) <= at_most`` (bounds that are set), counting
    Unicode code points."""

    at_least: int | None = None
    at_most: int | None = None


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    condition: Condition


Condition = (
    ScoreCondition | LexiconCondition | RegexCondition | LengthCondition | AllOf | AnyOf | Not
)


@dataclass(frozen=True)
class Strike:
    """A mark against the author, counted by the escalation ladder until it expires."""

    weight: int
    expires_after: Duration


@dataclass(frozen=True)
class Examples:
    """Texts a rule must match and texts it must not; ``policy test`` runs them."""

    match: tuple[str, ...]
    no_match: tuple[str, ...]


Translations = tuple[tuple[str, str], ...]
"""A notice in languages other than its policy's own: (canonical BCP 47 tag, text) pairs,
in the order written."""


@dataclass(frozen=True)
class Rule:
    """``notice`` is in the policy's language; ``translations`` give it in others."""

    id: str
    title: str
    when: Condition
    action: str
    notice: str
    strike: Strike | None
    examples: Examples
    description: str | None = None
    translations: Translations = ()


@dataclass(frozen=True)
class EscalationStep:
    """Applies when a decision that issues a strike brings the author's active strike
    weight to ``active_strikes`` or more; ``for_`` is how long the account action lasts."""

    active_strikes: int
    action: str
    for_: Duration | None
    notice: str | None = None
    translations: Translations = ()


@dataclass(frozen=True)
class AppealSettings:
    """``window``: how long after a decision it can be appealed (at least six months);
    ``decide_within``: how soon an appeal is promised an outcome."""

    window: Duration
    decide_within: Duration


@dataclass(frozen=True)
class Policy:
    id: str
    title: str
    summary: str
    classifier: str
    rules: tuple[Rule, ...]
    escalation: tuple[EscalationStep, ...]
    appeals: AppealSettings
    public_excerpt: PublicExcerpt
    version: str
    source: bytes
    path: str
    language: str = "en"
    """The language of the policy's own notices: the fallback for every other language."""

    def labels(self) -> frozenset[str]:
        """Every classifier label the rules read: score labels and ``lexicon:<name>``."""
        return frozenset(
            cond.label
            for rule in self.rules
            for cond in walk(rule.when)
            if isinstance(cond, ScoreCondition | LexiconCondition)
        )

    def lexicons(self) -> frozenset[str]:
        """Names of the word lists the rules use."""
        return frozenset(
            cond.name
            for rule in self.rules
            for cond in walk(rule.when)
            if isinstance(cond, LexiconCondition)
        )

    def rule(self, rule_id: str) -> Rule:
        """The rule with id ``rule_id``; ``KeyError`` if there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


@dataclass(frozen=True)
class PolicySet:
    """The policies of one directory and the word lists they share."""

    directory: Path
    policies: Mapping[str, Policy]
    lexicons: Mapping[str, tuple[str, ...]]


def walk(condition: Condition) -> Iterable[Condition]:
    """``condition`` and every condition nested in it, depth first, in written order."""
    yield condition
    if isinstance(condition, AllOf | AnyOf):
        for child in condition.conditions:
            yield from walk(child)
    elif isinstance(condition, Not):
        yield from walk(condition.condition)
