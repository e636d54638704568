"""Fine-tuning the encoder's upper layers: it learns from the labels it is given, ignores
rows that do not carry a label, keeps the embedding's form, and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.fine_tune import fine_tune_upper
from classifiers.sentence_encoder import (
    UPPER_LAYER_NAMES,
    SentenceEncoder,
    UpperLayers,
    load_encoder,
)

SUBJECTS = ["The neighbours", "Those people", "My colleagues", "The new arrivals", "They"]
PRAISE = ["are kind", "work hard", "cook wonderful food", "helped us move", "are welcome"]
CONTEMPT = ["are vermin", "are filth", "are parasites", "are a plague", "are animals"]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return load_encoder()


def _rows() -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for subject in SUBJECTS:
        for ending in PRAISE:
            texts.append(f"{subject} {ending}.")
            labels.append(0)
        for ending in CONTEMPT:
            texts.append(f"{subject} {ending}.")
            labels.append(1)
    return texts, np.array(labels)


def _separation(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Distance between the classes' mean embeddings over the mean spread within them."""
    centres = [embeddings[labels == k].mean(axis=0) for k in (0, 1)]
    spread = np.mean(
        [np.linalg.norm(embeddings[labels == k] - centres[k], axis=1).mean() for k in (0, 1)]
    )
    return float(np.linalg.norm(centres[0] - centres[1]) / spread)


def _tune(encoder: SentenceEncoder, pooled: np.ndarray, targets: np.ndarray) -> UpperLayers:
    ngram = np.zeros((len(pooled), targets.shape[1]))
    return fine_tune_upper(
        encoder.upper, pooled, ngram, targets, np.ones(targets.shape), seed=0, log=lambda _: None
    )


def test_tuning_separates_what_the_labels_separate(encoder) -> None:
    texts, labels = _rows()
    pooled = encoder.pooled(texts)
    # A second label no row carries (-1) must not disturb anything.
    targets = np.column_stack([labels, np.full(len(labels), -1)])
    tuned = _tune(encoder, pooled, targets)
    before = encoder.upper.embed(pooled)
    after = tuned.embed(pooled)
    assert _separation(after, labels) > _separation(before, labels)
    assert np.allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-5)
    # The label no row carries changed nothing.
    alone = _tune(encoder, pooled, labels[:, None])
    assert np.abs(alone.embed(pooled) - after).max() <= 1e-5
    for name in UPPER_LAYER_NAMES:
        assert tuned.weights[name].dtype == np.float32
        assert tuned.weights[name].shape == encoder.upper.weights[name].shape


def test_tuning_is_deterministic(encoder) -> None:
    texts, labels = _rows()
    pooled = encoder.pooled(texts)
    targets = labels[:, None]
    first, second = _tune(encoder, pooled, targets), _tune(encoder, pooled, targets)
    assert first.digest() == second.digest()
    assert first.digest() != encoder.upper.digest()
