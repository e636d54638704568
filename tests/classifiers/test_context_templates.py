"""The context templates: both languages, both sides of every stance, and a validation
set that shares no sentence, group, topic or insult word with the training set."""

from __future__ import annotations

from collections import Counter

from classifiers import context_templates as ct
from classifiers import evaluate


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
    families = {ct.family_of(kind) for kind in kinds}
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


ABUSIVE_KINDS = {
    "dehumanising", "stereotype", "hatred", "implicit", "question", "opinion",
    "negated-positive", "later-reference",
}  # fmt: skip
THREAT_KINDS = {"threat", "group-threat"}


def test_targets_follow_the_kind() -> None:
    for example, kind, _ in ct.context_examples() + ct.validation_examples():
        family = ct.family_of(kind)
        identity = family in ABUSIVE_KINDS | THREAT_KINDS
        assert example.targets["toxicity"] == int(identity or family == "opponent-insult")
        assert example.targets["insult"] == example.targets["toxicity"], example.text
        assert example.targets["identity_attack"] == int(identity), example.text
        assert example.targets["threat"] == int(family in THREAT_KINDS), example.text
        # Swearing that attacks nobody is taught as profane and nothing else.
        assert example.targets.get("profanity") == (1 if family == "profanity" else None)


def test_misspelt_disguises_one_word_the_same_way_every_time() -> None:
    text = "Immigrants are vermin and they breed like rats."
    disguised = ct.misspelt(text)
    assert disguised != text
    # A swap of twin letters would change nothing; another disguise is used instead.
    assert all(ct.misspelt(t) != t for t in ("Support it.", "Oppose it.", "Apply the rule."))
    assert disguised == ct.misspelt(text)
    changed = [(a, b) for a, b in zip(text.split(), disguised.split(), strict=False) if a != b]
    assert changed, disguised
    # Every disguise is used, the dropped word boundary too ("riende bon").
    originals = [example.text for example, _, _ in ct.context_examples()][:400]
    assert any(
        ct.misspelt(t).replace(" ", "") == t.replace(" ", "")
        and len(ct.misspelt(t).split()) == len(t.split()) - 1
        for t in originals
    )
    # Nothing to disguise: the text is returned as it is.
    assert ct.misspelt("Go on, do it.") == "Go on, do it."


def test_misspelt_sentences_keep_their_pattern_targets_and_mirror() -> None:
    examples = ct.context_examples()
    by_text = {example.text: (example, kind, number) for example, kind, number in examples}
    twins = [
        (original, by_text[disguised])
        for original in examples
        if (disguised := ct.misspelt(original[0].text)) in by_text
    ]
    assert len(twins) >= len(examples) // (ct.MISSPELT_SHARE * 2)
    for (example, kind, number), (twin, twin_kind, twin_number) in twins:
        assert (twin.targets, twin_kind, twin_number) == (example.targets, kind, number)
    assert {ct.family_of(kind) for (_, kind, _), _ in twins} >= {"dehumanising", "negation"}
    # No stance sentence is disguised: one side only would break the mirror.
    for (_, kind, _), _ in twins:
        assert ct.family_of(kind) not in ct.MIRRORED_KINDS


def test_held_out_context_sets_split_by_language_with_both_classes() -> None:
    # `classifiers evaluate` reports them as two sets; each must be able to give a ROC-AUC.
    english, french = evaluate.context_pairs("en"), evaluate.context_pairs("fr")
    assert len(english) + len(french) == len(ct.validation_examples())
    assert not {text for text, _ in english} & {text for text, _ in french}
    for pairs in (english, french):
        assert {target for _, target in pairs} == {0, 1}
    assert ("Les migrants sont le cœur de notre ville.", 0) in french
    assert ("Comparing migrants to insects is vile.", 0) in english
