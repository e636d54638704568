"""The sentences written for training: identity templates and comment spam."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import identity_templates, template_scale
from classifiers.spam_templates import spam_template_examples
from classifiers.train import Setting
from tests.classifiers.test_train import write_tiny_corpora


def test_every_identity_sentence_names_its_term() -> None:
    sentences = identity_templates.template_sentences()
    assert len({text for text, _, _ in sentences}) == len(sentences)
    for text, term, _ in sentences:
        assert term in identity_templates.terms_in(text), text


def test_plural_group_nouns_count_under_their_term() -> None:
    assert identity_templates.terms_in("Jews and Muslims share this street") == {"jew", "muslim"}
    assert identity_templates.terms_in("my African American neighbours") == {"african american"}


def test_spam_templates_have_both_classes_and_no_text_twice() -> None:
    examples = spam_template_examples()
    texts = [example.text for example, _ in examples]
    assert len(set(texts)) == len(texts)
    labels = {example.targets["spam"] for example, _ in examples}
    assert labels == {0, 1}
    assert all(set(example.targets) == {"spam"} for example, _ in examples)
    spam_groups = {group for example, group in examples if example.targets["spam"] == 1}
    ham_groups = {group for example, group in examples if example.targets["spam"] == 0}
    assert not spam_groups & ham_groups


@pytest.mark.slow
def test_template_scales_are_compared_on_training_data(tmp_path: Path) -> None:
    data = write_tiny_corpora(tmp_path / "corpora")
    settings = {label: Setting(1.0) for label in ("toxicity", "insult", "identity_attack")}
    settings["threat"] = Setting(1.0)
    results = template_scale.compare_scales(data, settings, scales=(1.0, 3.0))
    assert set(results) == {1.0, 3.0}
    table = template_scale.markdown(results)
    assert table.count("\n") == 3  # header, rule, one row per scale
    chosen = template_scale.choose(results)
    assert chosen is None or chosen in results
