"""Evaluating a policy: conditions, the action ladder, strikes, escalation and notices."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.duration import parse_duration
from policies.evaluate import MAX_SPANS_PER_PATTERN, evaluate, match_rule
from policies.load import load_policy_file
from policies.model import (
    AllOf,
    AnyOf,
    AppealSettings,
    Condition,
    EscalationStep,
    Examples,
    LengthCondition,
    LexiconCondition,
    Not,
    Policy,
    RegexCondition,
    Rule,
    ScoreCondition,
    Strike,
    most_severe,
    severity,
)
from policies.regex import compile_pattern

EXAMPLES = Examples(match=("a",), no_match=("b",))


def make_rule(
    rule_id: str,
    when: Condition,
    action: str = "label",
    strike: Strike | None = None,
    notice: str | None = None,
) -> Rule:
    return Rule(
        id=rule_id,
        title=rule_id.title(),
        when=when,
        action=action,
        notice=notice or f"Notice of {rule_id}.",
        strike=strike,
        examples=EXAMPLES,
    )


def make_policy(*rules: Rule, escalation: tuple[EscalationStep, ...] = ()) -> Policy:
    return Policy(
        id="test",
        title="Test",
        summary="S",
        classifier="text-linear",
        rules=rules,
        escalation=escalation,
        appeals=AppealSettings(parse_duration("P6M"), parse_duration("P7D")),
        public_excerpt="none",
        version="sha256:" + "0" * 64,
        source=b"",
        path="test.yaml",
    )


def strike(weight: int, expires: str) -> Strike:
    return Strike(weight=weight, expires_after=parse_duration(expires))


def regex(
    pattern: str, *, case_sensitive: bool = False, skip_mentions: bool = False
) -> RegexCondition:
    return RegexCondition(
        source=pattern,
        pattern=compile_pattern(pattern, case_sensitive=case_sensitive),
        skip_mentions=skip_mentions,
    )


def test_severity_ladder() -> None:
    assert severity("allow") < severity("label") < severity("reduce_visibility")
    assert severity("hold_for_review") < severity("remove") < severity("restrict_account")
    assert severity("restrict_account") < severity("suspend_account")
    assert most_severe(["label", "remove", "hold_for_review"]) == "remove"
    assert most_severe([]) == "allow"
    with pytest.raises(ValueError, match="unknown action 'ban'"):
        severity("ban")


@pytest.mark.parametrize(
    ("condition", "score", "held"),
    [
        (ScoreCondition("insult", at_least=0.8), 0.8, True),
        (ScoreCondition("insult", at_least=0.8), 0.79, False),
        (ScoreCondition("insult", below=0.2), 0.19, True),
        (ScoreCondition("insult", below=0.2), 0.2, False),
    ],
)
def test_score_condition_bounds(condition: ScoreCondition, score: float, held: bool) -> None:
    match = match_rule(make_rule("r", condition), {"insult": score}, "text")
    assert (match is not None) == held
    if match is not None:
        assert match.labels == ("insult",) and match.spans == ()


def test_lexicon_condition_reads_its_label() -> None:
    rule = make_rule("r", LexiconCondition("rude"))
    match = match_rule(rule, {"lexicon:rude": 1.0}, "you jerk")
    assert match is not None and match.labels == ("lexicon:rude",)
    assert match_rule(rule, {"lexicon:rude": 0.0}, "hello") is None


def test_regex_condition_gives_spans_in_the_original_text() -> None:
    rule = make_rule("r", regex(r"buy\s+now"))
    text = "BUY now, really: buy  now"
    match = match_rule(rule, {}, text)
    assert match is not None
    assert [text[s:e] for s, e in match.spans] == ["BUY now", "buy  now"]
    assert match.labels == ()
    sensitive = make_rule("r", regex("buy now", case_sensitive=True))
    assert match_rule(sensitive, {}, "BUY NOW") is None


def test_a_text_full_of_matches_keeps_the_first_spans_only() -> None:
    rule = make_rule("r", regex(r"\bbuy\b"))
    text = "buy " * 100_000
    match = match_rule(rule, {}, text)
    assert match is not None
    assert len(match.spans) == MAX_SPANS_PER_PATTERN
    assert match.spans[0] == (0, 3) and match.spans[-1] == (4 * 63, 4 * 63 + 3)


def test_spans_are_in_characters_whatever_the_script() -> None:
    # RE2 matches UTF-8 bytes; the spans it reports are converted to characters.
    rule = make_rule("r", regex(r"idiot"))
    text = "ты 🙂 IDIOT 𝔞 idiot"
    match = match_rule(rule, {}, text)
    assert match is not None
    assert [text[s:e] for s, e in match.spans] == ["IDIOT", "idiot"]


@pytest.mark.parametrize(
    ("text", "held"), [("ab", False), ("abc", True), ("abcde", True), ("abcdef", False)]
)
def test_length_condition_bounds_are_inclusive(text: str, held: bool) -> None:
    rule = make_rule("r", LengthCondition(at_least=3, at_most=5))
    assert (match_rule(rule, {}, text) is not None) == held


def test_any_collects_every_branch_that_held() -> None:
    when = AnyOf(
        (
            ScoreCondition("insult", at_least=0.5),
            LexiconCondition("rude"),
            ScoreCondition("threat", at_least=0.5),
            regex("jerk"),
            ScoreCondition("insult", at_least=0.1),
        )
    )
    scores = {"insult": 0.9, "lexicon:rude": 1.0, "threat": 0.0}
    match = match_rule(make_rule("r", when), scores, "you jerk")
    assert match is not None
    assert match.labels == ("insult", "lexicon:rude")  # in order, without repeats
    assert match.spans == ((4, 8),)


def test_all_needs_every_branch_and_not_never_counts_its_labels() -> None:
    when = AllOf((LexiconCondition("rude"), Not(ScoreCondition("joke", at_least=0.5))))
    rule = make_rule("r", when)
    held = match_rule(rule, {"lexicon:rude": 1.0, "joke": 0.1}, "x")
    assert held is not None and held.labels == ("lexicon:rude",)
    assert match_rule(rule, {"lexicon:rude": 1.0, "joke": 0.9}, "x") is None
    assert match_rule(rule, {"lexicon:rude": 0.0, "joke": 0.1}, "x") is None


def test_labels_of_a_failed_all_inside_any_do_not_count() -> None:
    when = AnyOf(
        (AllOf((ScoreCondition("insult", at_least=0.5), regex("never"))), LexiconCondition("rude"))
    )
    match = match_rule(make_rule("r", when), {"insult": 0.9, "lexicon:rude": 1.0}, "x")
    assert match is not None and match.labels == ("lexicon:rude",)


def test_a_missing_score_is_a_key_error_even_behind_a_decided_branch() -> None:
    policy = make_policy(
        make_rule("r", AnyOf((regex("x"), ScoreCondition("absent", at_least=0.5))))
    )
    with pytest.raises(KeyError, match="absent"):
        evaluate(policy, {}, "x")


def test_nothing_matched_is_allow_without_notice() -> None:
    policy = make_policy(make_rule("r", LexiconCondition("rude"), strike=strike(1, "P1D")))
    outcome = evaluate(policy, {"lexicon:rude": 0.0}, "hello", active_strike_weight=5)
    assert outcome.action == outcome.content_action == "allow"
    assert outcome.matches == () and outcome.strike is None and outcome.escalation is None
    assert outcome.notice is None
    assert outcome.active_strike_weight == 5


def test_most_severe_action_wins_and_its_first_rule_gives_the_notice() -> None:
    policy = make_policy(
        make_rule("label_it", regex("a"), "label"),
        make_rule("hold_it", regex("b"), "hold_for_review", notice="Held first."),
        make_rule("remove_it", regex("c"), "remove", notice="Removed first."),
        make_rule("remove_too", regex("d"), "remove", notice="Removed second."),
        make_rule("quiet", regex("e"), "reduce_visibility"),
    )
    outcome = evaluate(policy, {}, "a b c d e")
    assert outcome.action == outcome.content_action == "remove"
    assert [m.rule.id for m in outcome.matches] == [
        "label_it",
        "hold_it",
        "remove_it",
        "remove_too",
        "quiet",
    ]
    assert outcome.notice == "Removed first."
    assert evaluate(policy, {}, "a e b").notice == "Held first."


def test_heaviest_strike_is_issued() -> None:
    policy = make_policy(
        make_rule("light", regex("a"), strike=strike(1, "P1Y")),
        make_rule("heavy", regex("b"), strike=strike(3, "P1D")),
        make_rule("none", regex("c"), "remove"),
    )
    assert evaluate(policy, {}, "a b c").strike == strike(3, "P1D")
    assert evaluate(policy, {}, "a c").strike == strike(1, "P1Y")
    assert evaluate(policy, {}, "c").strike is None


def test_strike_ties_go_to_longest_expiry_then_policy_order() -> None:
    # P1M reaches 31 days from the fixed origin (1 January), further than P30D.
    policy = make_policy(
        make_rule("thirty_days", regex("a"), strike=strike(2, "P30D")),
        make_rule("one_month", regex("b"), strike=strike(2, "P1M")),
        make_rule("also_month", regex("c"), strike=Strike(2, parse_duration("P1M"))),
    )
    assert evaluate(policy, {}, "a b").strike == strike(2, "P1M")
    first = make_policy(
        make_rule("one", regex("a"), strike=strike(2, "P7D")),
        make_rule("two", regex("b"), strike=strike(2, "PT168H")),
    )
    kept = evaluate(first, {}, "a b").strike
    assert kept is not None
    assert kept.expires_after.text == "P7D"


LADDER = (
    EscalationStep(3, "restrict_account", parse_duration("P7D")),
    EscalationStep(
        6, "suspend_account", parse_duration("P1M"), notice="Your account is paused for a month."
    ),
)


@pytest.mark.parametrize(
    ("before", "action", "threshold"),
    [
        (0, "remove", None),  # 2: below the first step
        (1, "restrict_account", 3),  # 3: at the first step
        (2, "restrict_account", 3),  # 4: between steps
        (4, "suspend_account", 6),  # 6: at the second step
        (10, "suspend_account", 6),  # 12: above every step
    ],
)
def test_escalation_takes_the_highest_step_reached(
    before: int, action: str, threshold: int | None
) -> None:
    policy = make_policy(
        make_rule("threat", regex("kill"), "remove", strike=strike(2, "P90D")),
        escalation=LADDER,
    )
    outcome = evaluate(policy, {}, "kill", active_strike_weight=before)
    assert outcome.action == action
    assert outcome.content_action == "remove"
    assert outcome.active_strike_weight == before
    found = outcome.escalation.active_strikes if outcome.escalation else None
    assert found == threshold


def test_no_escalation_without_a_new_strike() -> None:
    policy = make_policy(
        make_rule("profanity", regex("damn"), "label"),
        escalation=LADDER,
    )
    outcome = evaluate(policy, {}, "damn", active_strike_weight=10)
    assert outcome.action == "label"
    assert outcome.escalation is None and outcome.strike is None


def test_escalation_notice_is_generated_or_taken_from_the_step() -> None:
    policy = make_policy(
        make_rule("insult", regex("jerk"), "label", strike=strike(1, "P30D"), notice="Labelled."),
        escalation=LADDER,
    )
    restricted = evaluate(policy, {}, "jerk", active_strike_weight=2)
    assert restricted.notice == (
        "Labelled. You now have 3 active strikes, so your account is restricted for 7 days."
    )
    suspended = evaluate(policy, {}, "jerk", active_strike_weight=5)
    assert suspended.notice == "Labelled. Your account is paused for a month."
    assert evaluate(policy, {}, "jerk").notice == "Labelled."


def test_negative_strike_weight_is_refused() -> None:
    policy = make_policy(make_rule("r", regex("a")))
    with pytest.raises(ValueError, match="cannot be negative"):
        evaluate(policy, {}, "a", active_strike_weight=-1)


def test_evaluation_is_deterministic() -> None:
    policy = make_policy(
        make_rule("a", AnyOf((regex("x"), LexiconCondition("rude"))), strike=strike(1, "P1D")),
        make_rule("b", regex("y"), "remove", strike=strike(1, "P2D")),
        escalation=LADDER,
    )
    scores = {"lexicon:rude": 1.0}
    assert evaluate(policy, scores, "x y x", 2) == evaluate(policy, scores, "x y x", 2)


def test_loaded_policy_evaluates_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "forum.yaml"
    path.write_text(
        """\
id: forum
title: Forum
summary: Threats removed, rude words labelled.
classifier: text-linear
rules:
  - id: threat
    title: Threats
    when: {any: [{score: {label: threat, at_least: 0.8}}, {regex: 'watch your back'}]}
    action: remove
    strike: {weight: 2, expires_after: P90D}
    notice: Removed as a threat.
    examples: {match: [a], no_match: [b]}
  - id: rude
    title: Rude
    when: {all: [{lexicon: rude}, {not: {score: {label: joke, at_least: 0.5}}}]}
    action: label
    notice: Labelled as rude.
    examples: {match: [a], no_match: [b]}
escalation:
  - {active_strikes: 2, action: restrict_account, for: P1D}
""",
        encoding="utf-8",
    )
    policy = load_policy_file(path, {"rude": ("jerk",)})
    scores = {"threat": 0.3, "lexicon:rude": 1.0, "joke": 0.0}
    outcome = evaluate(policy, scores, "Watch your back, jerk")
    assert [m.rule.id for m in outcome.matches] == ["threat", "rude"]
    assert outcome.matches[0].spans == ((0, 15),) and outcome.matches[0].labels == ()
    assert outcome.matches[1].labels == ("lexicon:rude",)
    assert outcome.action == "restrict_account" and outcome.content_action == "remove"
    assert outcome.notice == (
        "Removed as a threat. You now have 2 active strikes, so your account is "
        "restricted for 1 day."
    )


HATE = r"\b(?:immigrants|muslims|jews|refugees)\s+are\s+(?:vermin|animals|rats|parasites)\b"


@pytest.mark.parametrize(
    "text",
    [
        "Saying 'immigrants are vermin' is disgusting.",
        '"Jews are rats" is Nazi propaganda, plain and simple.',
        "Dire « muslims are animals », c'est ignoble.",  # guillemets
        "When he said Muslims are animals, I reported him.",
        "I'm sick of people claiming that refugees are parasites.",
        "Anyone who says immigrants are vermin should read some history.",
        "He posted that Jews are rats. I blocked him.",
        "The lie that immigrants are vermin has a long and ugly history.",
        "Nobody should say immigrants are vermin.",
        "I heard him say Muslims are animals, and I walked out.",
        # Denied, whoever denies it.
        "I don't agree that immigrants are vermin.",
        "It's a lie that Muslims are animals.",
    ],
)
def test_a_statement_quoted_or_reported_to_object_to_it_is_skipped(text: str) -> None:
    rule = make_rule("r", regex(HATE, skip_mentions=True))
    assert match_rule(rule, {}, text) is None
    # Without skip_mentions the same pattern matches: the option is what changed.
    assert match_rule(make_rule("r", regex(HATE)), {}, text) is not None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Immigrants are vermin.", "Immigrants are vermin"),
        # Each match on its own: an objection in front does not launder the statement.
        (
            "Saying 'immigrants are vermin' is wrong, but honestly immigrants are vermin",
            "immigrants are vermin",
        ),
        # The writer's own words, however introduced.
        ("I say Muslims are animals.", "Muslims are animals"),
        ("I said it before and I'll say it again: Jews are rats.", "Jews are rats"),
        ("As I always say, refugees are parasites.", "refugees are parasites"),
        ("I keep saying immigrants are vermin.", "immigrants are vermin"),
        ("Everyone knows refugees are parasites.", "refugees are parasites"),
        ("Don't you think immigrants are vermin?", "immigrants are vermin"),
        # Scare quotes elsewhere in the sentence do not make the statement a quotation,
        # nor do apostrophes.
        ("The 'experts' won't admit it, but Jews are rats", "Jews are rats"),
        ("Don't kid yourself, refugees are parasites", "refugees are parasites"),
        # A sentence boundary ends the quotation or the report before it.
        ("He said so. Muslims are animals.", "Muslims are animals"),
        # A quotation with nothing said about it is a statement.
        ('"Muslims are animals"', "Muslims are animals"),
        # A denial denied asserts.
        ("It's not a lie that Muslims are animals.", "Muslims are animals"),
        ("I don't disagree that refugees are parasites.", "refugees are parasites"),
        # A denial asked as a question asserts.
        ("Who could disagree that refugees are parasites?", "refugees are parasites"),
    ],
)
def test_a_statement_made_is_matched_where_it_is_made(text: str, said: str) -> None:
    match = match_rule(make_rule("r", regex(HATE, skip_mentions=True)), {}, text)
    assert match is not None
    assert [text[s:e] for s, e in match.spans] == [said]


@pytest.mark.parametrize(
    "text",
    [
        "They say Muslims are animals, and they're right.",
        "My uncle says immigrants are vermin and I agree with him.",
        "Ils disent que 'jews are rats' et ils ont raison.",
        '"Immigrants are vermin." Couldn\'t agree more.',
        '"Jews are rats" - me, just now.',
    ],
)
def test_a_report_the_text_agrees_with_is_the_writers_own_statement(text: str) -> None:
    assert match_rule(make_rule("r", regex(HATE, skip_mentions=True)), {}, text) is not None


def test_a_hostile_run_of_quoted_statements_is_judged_match_by_match() -> None:
    # Each match looks at a bounded stretch either side of it, and whether the text agrees
    # is searched once, so a text of many mentions costs what a plain text of its length
    # costs; the statement made after them is still found.
    text = "Saying 'immigrants are vermin' is vile. " * 5_000 + " " * 100_000 + "Jews are rats"
    match = match_rule(make_rule("r", regex(HATE, skip_mentions=True)), {}, text)
    assert match is not None and [text[s:e] for s, e in match.spans] == ["Jews are rats"]
