"""Decision thresholds from out-of-fold probabilities.

A label's threshold is where its score becomes an action in the default policy. It is
chosen on training data only, by a false-positive budget: the lowest threshold at which
at most a given share of the label's out-of-fold negatives would be flagged. A
false-positive rate does not depend on how many positives the training mixture happens
to hold (precision and F1 do: toxicity is 60% of its training rows, threat 0.5%), and it
is the figure a person wrongly acted on cares about. Harsher actions get smaller budgets.
"""

from __future__ import annotations

import numpy as np

THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(1, 100))
"""Candidate thresholds; a text is positive when its probability is at least the threshold."""

FPR_BUDGET: dict[str, float] = {
    "threat": 0.001,
    "identity_attack": 0.001,
    "insult": 0.01,
    "spam": 0.01,
    "toxicity": 0.02,
    "profanity": 0.02,
}
"""The share of a label's training negatives its threshold may flag, out of fold.

Fixed before any threshold was computed, by the action the default ``civility`` policy
was to take on the label: ``remove`` with a strike (threat, identity_attack) 0.1%;
``label`` or ``hold_for_review`` with a strike (insult, spam) 1%; ``label`` without a
strike (toxicity, profanity) 2%. (In the policy as written, toxicity counts only together
with a named group, in the identity rule.)"""


def threshold_at_fpr(probabilities: np.ndarray, targets: np.ndarray, budget: float) -> float:
    """The lowest grid threshold whose false-positive rate on the negatives among
    ``probabilities`` is at most ``budget`` (the top of the grid when none is)."""
    negatives = probabilities[targets == 0]
    for threshold in THRESHOLD_GRID:
        if float((negatives >= threshold).mean()) <= budget:
            return threshold
    return THRESHOLD_GRID[-1]


def best_f1_threshold(probabilities: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """The grid threshold with the highest F1, and that F1. Ties go to the higher
    threshold, the more conservative choice."""
    best = (0.5, -1.0)
    positives = targets.sum()
    for threshold in THRESHOLD_GRID:
        predicted = probabilities >= threshold
        hits = float((predicted & (targets == 1)).sum())
        denominator = predicted.sum() + positives
        f1 = 2 * hits / denominator if denominator else 0.0
        if f1 >= best[1]:
            best = (threshold, f1)
    return best


def confusion_figures(
    probabilities: np.ndarray, targets: np.ndarray, threshold: float
) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate at ``threshold``."""
    predicted = probabilities >= threshold
    positive = targets == 1
    hits = float((predicted & positive).sum())
    flagged = float(predicted.sum())
    precision = hits / flagged if flagged else 0.0
    recall = hits / max(float(positive.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    false_positive_rate = float((predicted & ~positive).sum()) / max(float((~positive).sum()), 1.0)
    return {"precision": precision, "recall": recall, "f1": f1, "fpr": false_positive_rate}
