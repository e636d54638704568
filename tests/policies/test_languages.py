"""Notices in several languages: loaded with precise errors, chosen by BCP 47 lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.evaluate import evaluate
from policies.language import canonical_tag, lookup_chain
from policies.load import load_policy_dir
from tests.policies.test_load import load_error, write_dir

POLICY = """\
id: tiny
title: Tiny
summary: One rule about rude words.
{language}rules:
  - id: rude
    title: Rude words
    when: {{lexicon: rude}}
    action: label
    strike: {{weight: 1, expires_after: P30D}}
    notice:
{notice}
    examples:
      match: [you jerk]
      no_match: [hello]
escalation:
  - {{active_strikes: 1, action: restrict_account, for: P1W}}
"""
BOTH = "      en: Your post is labelled.\n      fr: Votre publication porte une mention."


def policy_text(notice: str = BOTH, language: str = "") -> str:
    return POLICY.format(notice=notice, language=f"language: {language}\n" if language else "")


def load(tmp_path: Path, text: str):
    return load_policy_dir(write_dir(tmp_path, {"tiny.yaml": text})).policies["tiny"]


def test_translations_load_beside_the_policys_own_notice(tmp_path: Path) -> None:
    policy = load(tmp_path, policy_text())
    assert policy.language == "en"
    [rule] = policy.rules
    assert rule.notice == "Your post is labelled."
    assert rule.translations == (("fr", "Votre publication porte une mention."),)


def test_notice_follows_the_language_with_lookup_and_fallback(tmp_path: Path) -> None:
    policy = load(tmp_path, policy_text())
    scores = {"lexicon:rude": 1.0}
    french = evaluate(policy, scores, "you jerk", language="fr-ca")
    assert french.notice is not None
    assert french.notice.startswith("Votre publication porte une mention.")
    assert french.notice.endswith(
        "Vous avez maintenant 1 avertissement actif, donc votre compte est restreint "
        "pour 1 semaine."
    )
    german = evaluate(policy, scores, "you jerk", language="de")
    assert german.notice is not None
    assert german.notice.startswith("Your post is labelled.")
    assert german.notice.endswith(
        "You now have 1 active strike, so your account is restricted for 1 week."
    )
    assert evaluate(policy, scores, "you jerk").notice == german.notice


def test_a_policy_in_another_language_falls_back_to_it(tmp_path: Path) -> None:
    policy = load(tmp_path, policy_text("      fr: Mention.\n      EN-gb: Labelled.", "fr"))
    assert policy.language == "fr"
    assert policy.rules[0].translations == (("en-gb", "Labelled."),)
    scores = {"lexicon:rude": 1.0}
    exact = evaluate(policy, scores, "x", language="en-GB").notice
    fallback = evaluate(policy, scores, "x", language="en").notice
    assert exact is not None and exact.startswith("Labelled.")
    assert fallback is not None and fallback.startswith("Mention.")


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            policy_text("      fr: Mention."),
            "notice",
            "has no text in the policy's language 'en'",
        ),
        (
            policy_text("      en: A.\n      fr_FR: B."),
            "notice.fr_FR",
            "is not a well-formed BCP 47 language tag",
        ),
        (
            policy_text("      en: A.\n      fr: B.\n      FR: C."),
            "notice.FR",
            "language 'fr' is given twice (first as 'fr')",
        ),
        (policy_text("      en: A.\n      und: B."), "notice.und", "names no language"),
        (policy_text("      en: A.\n      fr: ''"), "notice.fr", "must not be empty"),
        (policy_text("      en: A.\n      12: B."), "notice", "keys are language tags"),
        (policy_text(language="english_uk"), "language", "is not a well-formed BCP 47"),
        (policy_text("      en: A.", "fr"), "notice", "has no text in the policy's language 'fr'"),
    ],
)
def test_malformed_translations_are_refused_precisely(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    error = load_error(tmp_path, text)
    assert error.field == field
    assert message in error.message
    assert error.line is not None


def test_escalation_notices_take_translations(tmp_path: Path) -> None:
    text = policy_text().replace(
        "for: P1W}",
        "for: P1W, notice: {en: Restricted for a week., fr: Compte restreint une semaine.}}",
    )
    policy = load(tmp_path, text)
    [step] = policy.escalation
    assert step.translations == (("fr", "Compte restreint une semaine."),)
    outcome = evaluate(policy, {"lexicon:rude": 1.0}, "x", language="fr")
    assert outcome.notice == "Votre publication porte une mention. Compte restreint une semaine."


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [("fr", "fr"), ("en-GB", "en-gb"), ("zh-Hant-TW", "zh-hant-tw"), ("x-private", "x-private")],
)
def test_well_formed_tags_are_lowered(tag: str, canonical: str) -> None:
    assert canonical_tag(tag) == canonical


@pytest.mark.parametrize("tag", ["", "f", "fr_FR", "fr-", "fr--ca", "ſr", "fr-\u212ar", "a" * 65])
def test_malformed_tags_are_refused(tag: str) -> None:
    with pytest.raises(ValueError):
        canonical_tag(tag)


def test_lookup_drops_subtags_and_dangling_singletons() -> None:
    assert lookup_chain("zh-hant-tw") == ["zh-hant-tw", "zh-hant", "zh"]
    assert lookup_chain("de-ch-u-co-phonebk") == [
        "de-ch-u-co-phonebk",
        "de-ch-u-co",
        "de-ch",
        "de",
    ]
