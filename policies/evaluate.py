"""Apply a policy to one text: which rules match, what happens, what the author is told.

Pure and deterministic: the same policy, scores, text and strike weight always give the
same outcome, which is what lets anyone re-check a logged decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

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


@dataclass(frozen=True)
class _Result:
    held: bool
    labels: tuple[str, ...] = ()
    spans: tuple[Span, ...] = ()


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
    if active_strike_weight < 0:
        raise ValueError("active_strike_weight cannot be negative")
    # Every rule is evaluated (no early exit) so a missing score always raises.
    found = [match_rule(rule, scores, text) for rule in policy.rules]
    matches = tuple(m for m in found if m is not None)
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
            notice = f"{notice.rstrip()} {step.notice or _escalation_sentence(step, total)}"
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
    """The match of ``rule`` against ``text`` and ``scores``, or None if it does not hold."""
    result = _check(rule.when, scores, text)
    if not result.held:
        return None
    return RuleMatch(
        rule=rule,
        labels=tuple(dict.fromkeys(result.labels)),
        spans=tuple(sorted(set(result.spans))),
    )


def _check(condition: Condition, scores: Mapping[str, float], text: str) -> _Result:
    if isinstance(condition, ScoreCondition):
        value = scores[condition.label]
        if condition.at_least is not None:
            held = value >= condition.at_least
        else:
            assert condition.below is not None, "a score condition has one bound"
            held = value < condition.below
        return _Result(held, (condition.label,) if held else ())
    if isinstance(condition, LexiconCondition):
        held = scores[condition.label] >= LEXICON_HIT
        return _Result(held, (condition.label,) if held else ())
    if isinstance(condition, RegexCondition):
        spans = tuple(m.span() for m in condition.pattern.finditer(text) if m.end() > m.start())
        return _Result(condition.pattern.search(text) is not None, spans=spans)
    if isinstance(condition, LengthCondition):
        n = len(text)
        low_ok = condition.at_least is None or n >= condition.at_least
        high_ok = condition.at_most is None or n <= condition.at_most
        return _Result(low_ok and high_ok)
    if isinstance(condition, Not):
        return _Result(not _check(condition.condition, scores, text).held)
    if isinstance(condition, AllOf | AnyOf):
        # All children are evaluated even when the answer is known, so explanations list
        # every branch that held and a missing score never hides behind a short circuit.
        results = [_check(child, scores, text) for child in condition.conditions]
        if isinstance(condition, AllOf):
            held = all(r.held for r in results)
            kept = results if held else []
        else:
            kept = [r for r in results if r.held]
            held = bool(kept)
        return _Result(
            held,
            tuple(label for r in kept for label in r.labels),
            tuple(span for r in kept for span in r.spans),
        )
    raise TypeError(f"not a condition: {condition!r}")


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


def _escalation_sentence(step: EscalationStep, total: int) -> str:
    strikes = f"{total} active strike{'s' if total != 1 else ''}"
    consequence = _ACCOUNT_PHRASES.get(step.action, f"the action is {step.action}")
    if step.for_ is not None:
        consequence += f" for {step.for_.describe()}"
    return f"You now have {strikes}, so {consequence}."
