"""SemEval-2021 Task 5 character-offset F1 on hand-made cases."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from classifiers.protocol import Span
from classifiers.spans import mean_span_f1, offsets, predict_offsets, span_f1


def test_both_empty_is_a_perfect_score() -> None:
    assert span_f1([], []) == 1.0


def test_one_side_empty_scores_zero() -> None:
    assert span_f1([], [3, 4, 5]) == 0.0
    assert span_f1([3, 4, 5], []) == 0.0


def test_identical_offsets_score_one() -> None:
    assert span_f1(range(10, 15), range(10, 15)) == 1.0


def test_partial_overlap_matches_the_task_definition() -> None:
    # The task's own doctest: 2·|{0, 1}| / (4 + 3).
    assert span_f1([0, 1, 4, 5], [0, 1, 6]) == pytest.approx(4 / 7)


def test_repeated_offsets_count_once() -> None:
    assert span_f1([0, 0, 1, 1], [0, 1]) == 1.0


def test_mean_is_over_posts() -> None:
    pairs = [([], []), ([1], [2]), ([0, 1, 4, 5], [0, 1, 6])]
    assert mean_span_f1(pairs) == pytest.approx((1.0 + 0.0 + 4 / 7) / 3)
    assert mean_span_f1([]) == 0.0


def test_offsets_cover_half_open_spans() -> None:
    assert offsets([Span(2, 4), Span(7, 8)]) == {2, 3, 7}


class _FixedModel:
    labels: tuple[str, ...] = ("insult", "threat", "identity_attack", "profanity")

    def __init__(self) -> None:
        self.thresholds = dict.fromkeys(self.labels, 0.5)

    def score(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, float]]:
        return [{"insult": 0.9, "threat": 0.1, "identity_attack": 0.2, "profanity": 0.7}]

    def explain(self, text: str, label: str) -> list[Span]:
        return {"insult": [Span(0, 3)], "threat": [Span(10, 12)], "profanity": [Span(5, 7)]}.get(
            label, []
        )


def test_predicted_offsets_use_only_labels_over_threshold() -> None:
    assert predict_offsets(_FixedModel(), "abc de fg hij") == {0, 1, 2, 5, 6}
