"""Character-offset span F1 (SemEval-2021 Task 5, "Toxic Spans Detection") and the
span predictor the text model is measured with.

The task scores each post by the F1 of the predicted against the gold set of toxic
character offsets, with F1 = 1 when both are empty and 0 when only one is, and reports
the mean over posts (Pavlopoulos et al. 2021).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from classifiers.protocol import Span

SPAN_LABELS: tuple[str, ...] = ("insult", "threat", "identity_attack", "profanity")
"""Labels whose explanations make a toxic-span prediction: the span types annotators
chose in Toxic Spans (Insult, Threat, Identity based Attack, Profane/Obscene)."""


def span_f1(predicted: Iterable[int], gold: Iterable[int]) -> float:
    """F1 of two sets of character offsets; 1.0 when both are empty, 0.0 when one is."""
    predicted_set = set(predicted)
    gold_set = set(gold)
    if not gold_set:
        return 1.0 if not predicted_set else 0.0
    if not predicted_set:
        return 0.0
    overlap = len(predicted_set & gold_set)
    return 2.0 * overlap / (len(predicted_set) + len(gold_set))


def mean_span_f1(pairs: Iterable[tuple[Iterable[int], Iterable[int]]]) -> float:
    """Mean of :func:`span_f1` over ``(predicted, gold)`` pairs (0.0 for no pairs)."""
    scores = [span_f1(predicted, gold) for predicted, gold in pairs]
    return float(np.mean(scores)) if scores else 0.0


def offsets(spans: Iterable[Span]) -> set[int]:
    """Every character offset covered by ``spans``."""
    covered: set[int] = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    return covered


class _Explaining(Protocol):
    labels: tuple[str, ...]
    thresholds: dict[str, float]

    def score(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, float]]: ...

    def explain(self, text: str, label: str) -> list[Span]: ...


def predict_offsets(model: _Explaining, text: str, labels: Sequence[str] = SPAN_LABELS) -> set[int]:
    """Toxic offsets of ``text``: the union of ``model.explain`` spans over the
    ``labels`` whose score reaches the model's threshold (none → no offsets)."""
    scores = model.score([text])[0]
    predicted: set[int] = set()
    for label in labels:
        if scores[label] >= model.thresholds[label]:
            predicted |= offsets(model.explain(text, label))
    return predicted
