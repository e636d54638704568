"""The committed text-linear model: integrity check, score ranges, fast path against
scikit-learn, and explanations."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest

from classifiers.linear import (
    ARTIFACT_NAME,
    CARD_NAME,
    LinearTextClassifier,
    ModelIntegrityError,
    default_model_dir,
    load_model,
)
from classifiers.protocol import Classifier

LABELS = {"toxicity", "insult", "threat", "identity_attack", "profanity", "spam"}

VARIED = [
    "",
    " ",
    "\n\t",
    "ok",
    "Thanks, that fixed it!",
    "you are a complete idiot and everyone knows it",
    "I will find you and make you regret this",
    "WIN a FREE cruise!!! txt YES to 80085 now",
    "This damn printer never works",
    "My neighbour is a gay teacher who plays the cello",
    "🙂🙂🙂 👍",
    "İstanbul'da güzel bir gün",
    "Ünïcödé çhäràctérs ånd ß",
    "tabs\tand\nnewlines\r\nmixed   spaces",
    "a" * 300,
    "repeat repeat repeat repeat repeat",
    "@USER @USER URL #hashtag",
    "1234567890 !!!! ???? ....",
    "lol " * 2500,  # 10k characters
]


@pytest.fixture(scope="module")
def model() -> LinearTextClassifier:
    return load_model(default_model_dir())


def test_it_is_a_classifier(model: LinearTextClassifier) -> None:
    assert isinstance(model, Classifier)
    assert model.name == "text-linear"
    assert set(model.labels) == LABELS
    digest = hashlib.sha256((default_model_dir() / ARTIFACT_NAME).read_bytes()).hexdigest()
    assert model.version == f"sha256:{digest}"
    assert set(model.thresholds) == LABELS
    assert all(0.0 < value < 1.0 for value in model.thresholds.values())


def test_scores_are_probabilities_for_every_label(model: LinearTextClassifier) -> None:
    scores = model.score(VARIED)
    assert len(scores) == len(VARIED)
    for row in scores:
        assert set(row) == LABELS
        assert all(isinstance(value, float) and 0.0 <= value <= 1.0 for value in row.values())
    assert model.score([]) == []


@pytest.mark.parametrize("size", [1, 3, len(VARIED)])
def test_fast_path_equals_scikit_learn(model: LinearTextClassifier, size: int) -> None:
    # A few texts take plain array arithmetic, many take sparse products: both checked.
    for start in range(0, len(VARIED), size):
        texts = VARIED[start : start + size]
        fast = model.score(texts)
        reference = model.score_reference(texts)
        for ours, theirs in zip(fast, reference, strict=True):
            for label in LABELS:
                assert abs(ours[label] - theirs[label]) <= 1e-9


def test_fast_path_is_the_same_one_at_a_time_and_in_a_batch(model: LinearTextClassifier) -> None:
    batch = model.score(VARIED)
    for text, row in zip(VARIED, batch, strict=True):
        single = model.score([text])[0]
        assert all(abs(single[label] - row[label]) <= 1e-12 for label in LABELS)


def test_contributions_add_up_to_the_log_odds(model: LinearTextClassifier) -> None:
    texts = [text for text in VARIED if text.strip()][:10]
    decisions = model.decision(texts)
    intercepts = model.decision([""])[0]  # an empty text has no features
    for text, decision in zip(texts, decisions, strict=True):
        _, contributions = model.chunk_contributions(text)
        assert np.allclose(contributions.sum(axis=0) + intercepts, decision, atol=1e-9)


def test_insults_score_higher_than_small_talk(model: LinearTextClassifier) -> None:
    rude, polite = model.score(["you are a stupid idiot", "thank you for the lovely dinner"])
    assert rude["insult"] > 0.5 > polite["insult"]
    assert rude["toxicity"] > polite["toxicity"]


@pytest.mark.parametrize(
    ("text", "label", "word"),
    [
        ("Honestly, you are an idiot!", "insult", "idiot"),
        ("well this is damn annoying", "profanity", "damn"),
        ("Claim your prize now: txt WIN to 80085", "spam", "txt"),
    ],
)
def test_explain_points_at_the_word_that_drives_the_label(
    model: LinearTextClassifier, text: str, label: str, word: str
) -> None:
    spans = model.explain(text, label)
    assert spans, "expected at least one span"
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    covered = [text[s.start : s.end].lower() for s in spans]
    assert any(word in part for part in covered)
    chunks, contributions = model.chunk_contributions(text)
    column = model.labels.index(label)
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        assert span.weight > 0
        # The span is made of whole chunks, each of which raises the label.
        inside = [
            i for i, (start, end) in enumerate(chunks) if start < span.end and end > span.start
        ]
        assert inside
        assert all(contributions[i, column] > 0 for i in inside)
        assert text[span.start].isalnum() and text[span.end - 1].isalnum()
        assert span.start == 0 or not text[span.start - 1].isalnum()
        assert span.end == len(text) or not text[span.end].isalnum()


def test_explain_never_returns_negative_spans(model: LinearTextClassifier) -> None:
    for text in VARIED:
        for label in model.labels:
            for span in model.explain(text, label):
                assert span.weight > 0
                assert 0 <= span.start < span.end <= len(text)


def test_explain_keeps_offsets_of_the_original_text(model: LinearTextClassifier) -> None:
    # "İ" lower-cases to two code points; offsets must still point into the original.
    text = "İİİ you are an idiot"
    spans = model.explain(text, "insult")
    assert any(text[s.start : s.end].endswith("idiot") for s in spans)


# --- integrity -------------------------------------------------------------------------------


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    for name in (ARTIFACT_NAME, CARD_NAME):
        shutil.copyfile(default_model_dir() / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickled an artifact that failed its check")

    monkeypatch.setattr(joblib, "load", refuse)


def test_a_flipped_byte_is_refused_before_unpickling(copied: Path, no_unpickling: None) -> None:
    data = bytearray((copied / ARTIFACT_NAME).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copied / ARTIFACT_NAME).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        load_model(copied)


def test_an_edited_card_is_refused(copied: Path, no_unpickling: None) -> None:
    card = copied / CARD_NAME
    text = card.read_text(encoding="utf-8")
    digest = hashlib.sha256((copied / ARTIFACT_NAME).read_bytes()).hexdigest()
    card.write_text(text.replace(digest, "f" * 64), encoding="utf-8")
    with pytest.raises(ModelIntegrityError):
        load_model(copied)


def test_a_missing_card_is_refused(copied: Path, no_unpickling: None) -> None:
    (copied / CARD_NAME).unlink()
    with pytest.raises(ModelIntegrityError, match="no model card"):
        load_model(copied)


def test_a_card_without_the_line_is_refused(copied: Path, no_unpickling: None) -> None:
    card = copied / CARD_NAME
    kept = [
        line for line in card.read_text(encoding="utf-8").splitlines() if "SHA-256: " not in line
    ]
    card.write_text("\n".join(kept), encoding="utf-8")
    with pytest.raises(ModelIntegrityError):
        load_model(copied)


def test_integrity_error_is_a_value_error() -> None:
    assert issubclass(ModelIntegrityError, ValueError)
