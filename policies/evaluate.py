"""Apply a policy to one text: which rules match, what happens, what the author is told.

Pure and deterministic: the same policy, scores, text and strike weight always give the
same outcome, which is what lets anyone re-check a logged decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from policies.model import (
    AllOf,
    AnyOf,
    Condition,
    EscalationStep,
    LengthCondition,
    LexiconCondition,
    Not,
    Policy,
    RegexCondition,
    Rule,
    ScoreCondition,
    Strike,
    most_severe,
)

LEXICON_HIT = 0.5
"""A word list counts as matched at this score or above (the lexicon classifier gives 1.0)."""

# Strikes of equal weight are ranked by how far their expiry reaches from a fixed date, so
# the choice never depends on when the decision is made.
_EXPIRY_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)

_ACCOUNT_PHRASES = {
    "restrict_account": "your account is restricted",
    "suspend_account": "your account is suspended",
}

Span = tuple[int, int]


@dataclass(frozen=True)
class RuleMatch:
    """A rule that matched, with what made it match: the score and ``lexicon:`` labels
    whose conditions held (in rule order, without repeats; conditions under ``not`` never
    count) and the spans of the original text its regexes found."""

    rule: Rule
    labels: tuple[str, ...]
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class Outcome:
    """The decision for one text.

    ``content_action`` is what the matched rules ask for; ``action`` is the final action
    after the escalation ladder. ``active_strike_weight`` is the author's weight *before*
    this decision; ``strike`` is the one strike this decision issues, if any.
    """

    action: str
    content_action: str
    matches: tuple[RuleMatch, ...]
    strike: Strike | None
    escalation: EscalationStep | None
    active_strike_weight: int
    notice: str | None


class _Result(NamedTuple):
    # A tuple, not a dataclass: a policy check builds one per condition per text.
    held: bool
    labels: tuple[str, ...] = ()
    spans: tuple[Span, ...] = ()


_NOT_HELD = _Result(False)


def evaluate(
    policy: Policy,
    scores: Mapping[str, float],
    text: str,
    active_strike_weight: int = 0,
) -> Outcome:
    """Decide what ``policy`` does with ``text`` given the classifier's ``scores`` and the
    author's current active strike weight.

    Every label the policy reads must be in ``scores`` (``KeyError`` otherwise: a missing
    score is a wiring mistake, never a zero).
    """
    return decide(policy, match_rules(policy, scores, text), active_strike_weight)


def match_rules(policy: Policy, scores: Mapping[str, float],
                text: str) -> tuple[RuleMatch, ...]:
    """The rules of ``policy`` that hold for ``text``, in policy order.

    Depends on the text and its scores only, never on the author's history, so it can
    run before the author's strikes are known.
    """
    # Every rule is evaluated (no early exit) so a missing score always raises.
    found = [match_rule(rule, scores, text) for rule in policy.rules]
    return tuple(m for m in found if m is not None)


def decide(policy: Policy, matches: tuple[RuleMatch, ...],
           active_strike_weight: int = 0, *, weight_is_exact: bool = True) -> Outcome:
    """The outcome of ``matches`` (from ``match_rules``) for an author whose active
    strikes weigh ``active_strike_weight``.

    ``weight_is_exact=False`` says the weight was counted only up to the ladder's top
    step (see ``ladder_top``), so it is a lower bound: the outcome is the same, and the
    notice says "at least"."""
    if active_strike_weight < 0:
        raise ValueError("active_strike_weight cannot be negative")
    content_action = most_severe(m.rule.action for m in matches)
    strike = _heaviest_strike(matches)

    # Only a decision that issues a strike climbs the ladder: being judged again for the
    # same old strikes must not restrict anyone.
    total = active_strike_weight + (strike.weight if strike else 0)
    reached = [s for s in policy.escalation if s.active_strikes <= total] if strike else []
    step = reached[-1] if reached else None
    action = most_severe([content_action, step.action]) if step else content_action

    notice = None
    if action != "allow":
        first = next(m.rule for m in matches if m.rule.action == content_action)
        notice = first.notice
        if step is not None:
            sentence = step.notice or _escalation_sentence(step, total, weight_is_exact)
            notice = f"{notice.rstrip()} {sentence}"
    return Outcome(
        action=action,
        content_action=content_action,
        matches=matches,
        strike=strike,
        escalation=step,
        active_strike_weight=active_strike_weight,
        notice=notice,
    )


def match_rule(rule: Rule, scores: Mapping[str, float], text: str) -> RuleMatch | None:
    """The match of ``rule`` against ``text`` and ``scores``, or None if it does not hold.

    Every score the rule reads must be in ``scores`` (``KeyError`` naming it otherwise),
    whichever branches the text happens to take.
    """
    for label in _labels_read(rule.when):
        if label not in scores:
            raise KeyError(label)
    result = _check(rule.when, scores, text)
    if not result.held:
        return None
    return RuleMatch(
        rule=rule,
        labels=tuple(dict.fromkeys(result.labels)),
        spans=tuple(sorted(set(result.spans))),
    )


def _check(condition: Condition, scores: Mapping[str, float], text: str) -> _Result:
    check = _CHECKS.get(type(condition))
    if check is None:
        raise TypeError(f"not a condition: {condition!r}")
    return check(condition, scores, text)


def _check_score(condition: ScoreCondition, scores: Mapping[str, float],
                 _text: str) -> _Result:
    value = scores[condition.label]
    if condition.at_least is not None:
        held = value >= condition.at_least
    else:
        assert condition.below is not None, "a score condition has one bound"
        held = value < condition.below
    return _Result(True, (condition.label,)) if held else _NOT_HELD


def _check_lexicon(condition: LexiconCondition, scores: Mapping[str, float],
                   _text: str) -> _Result:
    if scores[condition.label] >= LEXICON_HIT:
        return _Result(True, (condition.label,))
    return _NOT_HELD


def _check_regex(condition: RegexCondition, _scores: Mapping[str, float],
                 text: str) -> _Result:
    found = list(condition.pattern.finditer(text))
    if not found:
        return _NOT_HELD
    # An empty match holds the rule but marks no characters.
    return _Result(True, spans=tuple(m.span() for m in found if m.end() > m.start()))


def _check_length(condition: LengthCondition, _scores: Mapping[str, float],
                  text: str) -> _Result:
    n = len(text)
    low_ok = condition.at_least is None or n >= condition.at_least
    high_ok = condition.at_most is None or n <= condition.at_most
    return _Result(low_ok and high_ok)


def _check_not(condition: Not, scores: Mapping[str, float], text: str) -> _Result:
    return _Result(not _check(condition.condition, scores, text).held)


def _check_all(condition: AllOf, scores: Mapping[str, float], text: str) -> _Result:
    # The first child that fails decides: a failed ``all`` explains nothing, and missing
    # scores were already looked for (``match_rule``).
    results = []
    for child in condition.conditions:
        result = _check(child, scores, text)
        if not result.held:
            return _NOT_HELD
        results.append(result)
    return _joined(results)


def _check_any(condition: AnyOf, scores: Mapping[str, float], text: str) -> _Result:
    # Every child is evaluated, so the explanation lists every branch that held.
    kept = [r for r in (_check(c, scores, text) for c in condition.conditions) if r.held]
    return _joined(kept) if kept else _NOT_HELD


def _joined(kept: list[_Result]) -> _Result:
    return _Result(
        True,
        tuple(label for r in kept for label in r.labels),
        tuple(span for r in kept for span in r.spans),
    )


_CHECKS: dict[type, Callable[..., _Result]] = {
    ScoreCondition: _check_score,
    LexiconCondition: _check_lexicon,
    RegexCondition: _check_regex,
    LengthCondition: _check_length,
    Not: _check_not,
    AllOf: _check_all,
    AnyOf: _check_any,
}


@lru_cache(maxsize=1024)
def _labels_read(condition: Condition) -> frozenset[str]:
    """Every score label ``condition`` reads, under ``not`` and in every branch."""
    if isinstance(condition, ScoreCondition | LexiconCondition):
        return frozenset((condition.label,))
    if isinstance(condition, Not):
        return _labels_read(condition.condition)
    if isinstance(condition, AllOf | AnyOf):
        return frozenset().union(*(_labels_read(c) for c in condition.conditions))
    return frozenset()


def _heaviest_strike(matches: tuple[RuleMatch, ...]) -> Strike | None:
    """The heaviest strike among matched rules; ties go to the longest expiry, then to
    the rule written first."""
    best: Strike | None = None
    for match in matches:
        strike = match.rule.strike
        if strike is None:
            continue
        if best is None or _strike_rank(strike) > _strike_rank(best):
            best = strike
    return best


def _strike_rank(strike: Strike) -> tuple[int, datetime]:
    return strike.weight, strike.expires_after.add_to(_EXPIRY_ORIGIN)


def ladder_top(policy: Policy) -> int:
    """The strike weight at which the ladder's last step is reached (0: no ladder).
    Beyond it more strikes change nothing, so no one needs to count further."""
    return max((step.active_strikes for step in policy.escalation), default=0)


def _escalation_sentence(step: EscalationStep, total: int, exact: bool = True) -> str:
    strikes = f"{'' if exact else 'at least '}{total} active strike{'s' if total != 1 else ''}"
    consequence = _ACCOUNT_PHRASES.get(step.action, f"the action is {step.action}")
    if step.for_ is not None:
        consequence += f" for {step.for_.describe()}"
    return f"You now have {strikes}, so {consequence}."
