"""Apply a policy to one text: which rules match, what happens, what the author is told.

Pure and deterministic: the same policy, scores, text and strike weight always give the
same outcome, which is what lets anyone re-check a logged decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from typing import NamedTuple

from policies.language import choose
from policies.mentions import MentionJudge
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
    Translations,
    most_severe,
)
from policies.regex import Match

MAX_SPANS_PER_PATTERN = 64
"""How many matches of one regex condition are kept as spans: enough to show what matched,
and a bound on the time and log space a text full of matches can take."""

LEXICON_HIT = 0.5
"""A word list counts as matched at this score or above (the lexicon classifier gives 1.0)."""

# Strikes of equal weight are ranked by how far their expiry reaches from a fixed date, so
# the choice never depends on when the decision is made.
_EXPIRY_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)

_ACCOUNT_PHRASES = {
    "restrict_account": "your account is restricted",
    "suspend_account": "your account is suspended",
}
_ACCOUNT_PHRASES_FRENCH = {
    "restrict_account": "votre compte est restreint",
    "suspend_account": "votre compte est suspendu",
}

Span = tuple[int, int]


@dataclass(frozen=True)
class RuleMatch:
    """A rule that matched, with what made it match: the score and ``lexicon:`` labels
    whose conditions held (in rule order, without repeats; conditions under ``not`` never
    count) and the spans of the original text its regexes found (the first
    ``MAX_SPANS_PER_PATTERN`` of each)."""

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
    language: str | None = None,
) -> Outcome:
    """Decide what ``policy`` does with ``text`` given the classifier's ``scores`` and the
    author's current active strike weight; the notice is in ``language`` when the policy
    has it.

    Every label the policy reads must be in ``scores`` (``KeyError`` otherwise: a missing
    score is a wiring mistake, never a zero).
    """
    return decide(
        policy, match_rules(policy, scores, text), active_strike_weight, language=language
    )


def match_rules(policy: Policy, scores: Mapping[str, float], text: str) -> tuple[RuleMatch, ...]:
    """The rules of ``policy`` that hold for ``text``, in policy order.

    Depends on the text and its scores only, never on the author's history, so it can
    run before the author's strikes are known.
    """
    # Every rule is evaluated (no early exit) so a missing score always raises.
    found = [match_rule(rule, scores, text) for rule in policy.rules]
    return tuple(m for m in found if m is not None)


def decide(
    policy: Policy,
    matches: tuple[RuleMatch, ...],
    active_strike_weight: int = 0,
    *,
    weight_is_exact: bool = True,
    language: str | None = None,
) -> Outcome:
    """The outcome of ``matches`` (from ``match_rules``) for an author whose active
    strikes weigh ``active_strike_weight``.

    ``weight_is_exact=False`` says the weight was counted only up to the ladder's top
    step (see ``ladder_top``), so it is a lower bound: the outcome is the same, and the
    notice says "at least". The notice is in ``language`` (a canonical BCP 47 tag) when
    the policy has it, else in the policy's own language."""
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
        chosen, notice = localized(policy, first.notice, first.translations, language)
        if step is not None:
            if step.notice is not None:
                # The rule's notice settled the language; the step follows it.
                _, sentence = localized(policy, step.notice, step.translations, chosen)
            else:
                sentence = _escalation_sentence(step, total, weight_is_exact, chosen)
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


def localized(
    policy: Policy, own: str, translations: Translations, language: str | None
) -> tuple[str, str]:
    """``(language, text)`` of a notice of ``policy`` (``own`` in the policy's language,
    ``translations`` in others) for a reader of ``language``: the closest translation by
    BCP 47 lookup (``fr-CA`` finds ``fr``), else the policy's own text."""
    return choose({policy.language: own, **dict(translations)}, language, policy.language)


def match_rule(rule: Rule, scores: Mapping[str, float], text: str) -> RuleMatch | None:
    """The match of ``rule`` against ``text`` and ``scores``, or None if it does not hold.

    Every score the rule reads must be in ``scores`` (``KeyError`` naming it otherwise),
    whichever branches the text happens to take.
    """
    labels_read, check = _compiled(rule)
    for label in labels_read:
        if label not in scores:
            raise KeyError(label)
    result = check(scores, text)
    if not result.held:
        return None
    return RuleMatch(
        rule=rule,
        labels=tuple(dict.fromkeys(result.labels)),
        spans=tuple(sorted(set(result.spans))),
    )


_Check = Callable[[Mapping[str, float], str], _Result]
# Compiled rules by identity: hashing a frozen rule walks its whole condition tree, which
# would cost more than the check itself. The rule is kept alongside, so an id is never
# reused while its entry lives.
_COMPILED: dict[int, tuple[Rule, frozenset[str], _Check]] = {}
_COMPILED_LIMIT = 4096


def _compiled(rule: Rule) -> tuple[frozenset[str], _Check]:
    entry = _COMPILED.get(id(rule))
    if entry is None or entry[0] is not rule:
        if len(_COMPILED) >= _COMPILED_LIMIT:
            _COMPILED.clear()
        entry = (rule, _labels_read(rule.when), _compile(rule.when))
        _COMPILED[id(rule)] = entry
    return entry[1], entry[2]


def _compile(condition: Condition) -> _Check:
    """``condition`` as one function of (scores, text), built once per rule."""
    compile_condition = _COMPILERS.get(type(condition))
    if compile_condition is None:
        raise TypeError(f"not a condition: {condition!r}")
    return compile_condition(condition)


def _compile_score(condition: ScoreCondition) -> _Check:
    label, held = condition.label, _Result(True, (condition.label,))
    if condition.at_least is not None:
        at_least = condition.at_least
        return lambda scores, _text: held if scores[label] >= at_least else _NOT_HELD
    assert condition.below is not None, "a score condition has one bound"
    below = condition.below
    return lambda scores, _text: held if scores[label] < below else _NOT_HELD


def _compile_lexicon(condition: LexiconCondition) -> _Check:
    label, held = condition.label, _Result(True, (condition.label,))
    return lambda scores, _text: held if scores[label] >= LEXICON_HIT else _NOT_HELD


def _compile_regex(condition: RegexCondition) -> _Check:
    search, finditer = condition.pattern.search, condition.pattern.finditer
    skip_mentions = condition.skip_mentions

    def check(_scores: Mapping[str, float], text: str) -> _Result:
        # Most texts match no pattern: one search settles that without building a list.
        if search(text) is None:
            return _NOT_HELD
        matches: Iterator[Match] = finditer(text)
        if skip_mentions:
            judge = MentionJudge(text)
            matches = (m for m in matches if not judge.is_mention(m.start(), m.end()))
        found = list(islice(matches, MAX_SPANS_PER_PATTERN))
        if not found:  # every match was a mention
            return _NOT_HELD
        # An empty match holds the rule but marks no characters.
        return _Result(True, spans=tuple(m.span() for m in found if m.end() > m.start()))

    return check


def _compile_length(condition: LengthCondition) -> _Check:
    low = 0 if condition.at_least is None else condition.at_least
    high = condition.at_most
    held, not_held = _Result(True), _NOT_HELD

    def check(_scores: Mapping[str, float], text: str) -> _Result:
        n = len(text)
        return held if n >= low and (high is None or n <= high) else not_held

    return check


def _compile_not(condition: Not) -> _Check:
    inner, held = _compile(condition.condition), _Result(True)
    return lambda scores, text: _NOT_HELD if inner(scores, text).held else held


def _scans(condition: Condition) -> int:
    """How many regexes ``condition`` may run on the text: the rest cost a comparison."""
    if isinstance(condition, RegexCondition):
        return 1
    if isinstance(condition, Not):
        return _scans(condition.condition)
    if isinstance(condition, AllOf | AnyOf):
        return sum(_scans(c) for c in condition.conditions)
    return 0


def _compile_all(condition: AllOf) -> _Check:
    children = [_compile(c) for c in condition.conditions]
    # The first child that fails decides, and conditions are pure, so the cheap ones go
    # first; the explanation still lists the children in the order they are written.
    order = sorted(range(len(children)), key=lambda i: _scans(condition.conditions[i]))

    def check(scores: Mapping[str, float], text: str) -> _Result:
        # Every slot is filled before the join: ``order`` is a permutation of the children.
        results = [_NOT_HELD] * len(children)
        for i in order:
            result = children[i](scores, text)
            if not result.held:
                return _NOT_HELD
            results[i] = result
        return _joined(results)

    return check


def _compile_any(condition: AnyOf) -> _Check:
    children = [_compile(c) for c in condition.conditions]

    def check(scores: Mapping[str, float], text: str) -> _Result:
        # Every child is evaluated, so the explanation lists every branch that held.
        kept = [r for r in (child(scores, text) for child in children) if r.held]
        return _joined(kept) if kept else _NOT_HELD

    return check


def _joined(kept: list[_Result]) -> _Result:
    return _Result(
        True,
        tuple(label for r in kept for label in r.labels),
        tuple(span for r in kept for span in r.spans),
    )


_COMPILERS: dict[type, Callable[..., _Check]] = {
    ScoreCondition: _compile_score,
    LexiconCondition: _compile_lexicon,
    RegexCondition: _compile_regex,
    LengthCondition: _compile_length,
    Not: _compile_not,
    AllOf: _compile_all,
    AnyOf: _compile_any,
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


def _escalation_sentence(
    step: EscalationStep, total: int, exact: bool = True, language: str = "en"
) -> str:
    if language.split("-")[0] == "fr":
        return _escalation_sentence_french(step, total, exact)
    strikes = f"{'' if exact else 'at least '}{total} active strike{'s' if total != 1 else ''}"
    consequence = _ACCOUNT_PHRASES.get(step.action, f"the action is {step.action}")
    if step.for_ is not None:
        consequence += f" for {step.for_.describe()}"
    return f"You now have {strikes}, so {consequence}."


def _escalation_sentence_french(step: EscalationStep, total: int, exact: bool) -> str:
    plural = "s" if total > 1 else ""
    strikes = f"{'' if exact else 'au moins '}{total} avertissement{plural} actif{plural}"
    consequence = _ACCOUNT_PHRASES_FRENCH.get(step.action, f"l’action est {step.action}")
    if step.for_ is not None:
        consequence += f" pour {step.for_.describe_french()}"
    return f"Vous avez maintenant {strikes}, donc {consequence}."
