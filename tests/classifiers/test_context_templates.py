"""The context templates: both languages, both sides of every stance, and a validation
set that shares no sentence, group, topic or insult word with the training set."""

from __future__ import annotations

from collections import Counter

from classifiers import context_templates as ct


def test_validation_shares_nothing_with_training() -> None:
    training = {example.text for example, _, _ in ct.context_examples()}
    validation = {example.text for example, _, _ in ct.validation_examples()}
    assert training and validation
    assert not training & validation
    for trained, held_out in (
        (ct._EN_GROUPS, ct._EN_VALIDATION_GROUPS),
        (ct._EN_TOPICS, ct._EN_VALIDATION_TOPICS),
        (ct._EN_WORDS, ct._EN_VALIDATION_WORDS),
        (ct._FR_GROUPS, ct._FR_VALIDATION_GROUPS),
        (ct._FR_TOPICS, ct._FR_VALIDATION_TOPICS),
        (ct._FR_WORDS, ct._FR_VALIDATION_WORDS),
    ):
        assert not {t.lower() for t in trained} & {t.lower() for t in held_out}


def test_every_kind_is_written_in_both_languages() -> None:
    kinds = Counter(kind for _, kind, _ in ct.context_examples())
    families = {kind.rsplit(" (", 1)[0] for kind in kinds}
    for family in families:
        assert kinds[f"{family} (en)"] > 0 and kinds[f"{family} (fr)"] > 0, family


def test_opponent_insults_and_civil_opinions_mirror_each_other() -> None:
    # Each stance pattern is filled for both sides of every topic, so the labels cannot
    # learn a side.
    for stances, topics in ((ct._EN_STANCES, ct._EN_TOPICS), (ct._FR_STANCES, ct._FR_TOPICS)):
        texts = [e.text for e, kind, _ in ct.context_examples() if "opponent" in kind]
        for topic in topics:
            counts = [sum(f"{stance} {topic}" in text for text in texts) for stance in stances]
            assert counts[0] == counts[1] > 0, topic


def test_targets_follow_the_kind() -> None:
    for example, kind, _ in ct.context_examples() + ct.validation_examples():
        family = kind.rsplit(" (", 1)[0]
        abusive = family in {"dehumanising", "stereotype", "threat", "opponent-insult"}
        assert example.targets["toxicity"] == int(abusive), example.text
        assert example.targets["identity_attack"] == int(
            family in {"dehumanising", "stereotype", "threat"}
        )
        assert example.targets["threat"] == int(family == "threat")
