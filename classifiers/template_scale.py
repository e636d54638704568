"""Choosing how much the identity templates weigh, on training data only.

Each candidate scale multiplies every template's Dixon balancing weight. For each scale,
the four abuse labels are cross-validated as ``train`` does (with the setting ``train``
chose for each label, so only the scale varies) and measured on what the scale is meant
to change: how often non-abusive text naming an identity group is flagged "abusive"
(any of toxicity, insult, identity_attack, threat at its threshold), on held-out
templates and on corpus texts labelled non-toxic, beside what it may cost: each label's
out-of-fold ROC-AUC per corpus.

The rule, fixed before any scale was measured: the smallest scale whose held-out
templates are flagged at most half the evaluation targets (2.5% overall, 7.5% for every
term; half, because sentences of our own are easier than anyone else's), and whose
non-toxic corpus texts naming a group are flagged at most 1.5 times as often as all
non-toxic corpus texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from classifiers import train
from classifiers.datasets import ABUSE_LABELS
from classifiers.linear import FeatureConfig, fit_calibrator, fit_vectorizers
from classifiers.thresholds import FPR_BUDGET

CANDIDATES: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
TEMPLATE_OVERALL_LIMIT = 0.025
TEMPLATE_TERM_LIMIT = 0.075
NAMING_RATIO_LIMIT = 1.5

Log = Callable[[str], None]


def measure_scale(
    data: train.TrainingSet,
    features: Any,
    settings: dict[str, train.Setting],
    seed: int = 0,
) -> dict[str, Any]:
    """Cross-validate the abuse labels on ``data`` and measure the identity checks."""
    probabilities, thresholds, by_source = {}, {}, {}
    for label in ABUSE_LABELS:
        result = train.cross_validate_label(
            features, data.labels[label], seed, FPR_BUDGET[label], settings=(settings[label],)
        )
        if result.log_odds is None or result.targets is None or result.chosen is None:
            raise ValueError(f"{label} has too few examples of one class to cross-validate")
        calibrator = fit_calibrator(result.log_odds, result.targets) if result.calibrate else None
        probabilities[label] = train.out_of_sample_probabilities(data, label, result, calibrator)
        thresholds[label] = result.threshold
        by_source[label] = result.chosen["roc_auc_by_source"]
    flagged = np.logical_or.reduce(
        [probabilities[label] >= thresholds[label] for label in ABUSE_LABELS]
    )
    identity = train.identity_false_positives(data, flagged)
    return {"thresholds": thresholds, "roc_auc_by_source": by_source, "identity": identity}


def passes(figures: dict[str, Any]) -> bool:
    """Whether one scale's figures meet the rule's limits."""
    templates, corpus = figures["identity"]["templates"], figures["identity"]["corpus"]
    worst_term = max(templates["per_term"].values(), default=0.0)
    return (
        templates["overall"] <= TEMPLATE_OVERALL_LIMIT
        and worst_term <= TEMPLATE_TERM_LIMIT
        and corpus["naming_a_group"] <= NAMING_RATIO_LIMIT * corpus["overall"]
    )


def compare_scales(
    data_dir: Path,
    settings: dict[str, train.Setting],
    scales: Sequence[float] = CANDIDATES,
    seed: int = 0,
    log: Log = lambda message: None,
) -> dict[float, dict[str, Any]]:
    """The figures of :func:`measure_scale` for every scale (features fitted once: the
    texts do not depend on the scale)."""
    results: dict[float, dict[str, Any]] = {}
    features = None
    with threadpool_limits(limits=1):
        for scale in scales:
            data = train.assemble(data_dir, seed=seed, template_scale=scale)
            if features is None:
                _, _, features = fit_vectorizers(data.texts, FeatureConfig())
            results[scale] = measure_scale(data, features, settings, seed)
            log(f"scale {scale:g}: {'passes' if passes(results[scale]) else 'fails'}")
    return results


def choose(results: dict[float, dict[str, Any]]) -> float | None:
    """The smallest passing scale, or None if none passes."""
    passing = [scale for scale in sorted(results) if passes(results[scale])]
    return passing[0] if passing else None


def markdown(results: dict[float, dict[str, Any]]) -> str:
    """One row per scale: the identity checks, and per label the mean over corpora of its
    out-of-fold ROC-AUC within each corpus."""
    lines = [
        "| scale | held-out templates flagged | worst terms | non-toxic corpus texts flagged "
        "(naming a group / all) | "
        + " | ".join(f"{label} ROC-AUC" for label in ABUSE_LABELS)
        + " | passes |",
        "|---|---|---|---|" + "---|" * len(ABUSE_LABELS) + "---|",
    ]
    for scale, figures in sorted(results.items()):
        templates = figures["identity"]["templates"]
        corpus = figures["identity"]["corpus"]
        worst = sorted(templates["per_term"].items(), key=lambda item: (-item[1], item[0]))[:3]
        aucs = [
            np.mean(list(figures["roc_auc_by_source"][label].values())) for label in ABUSE_LABELS
        ]
        lines.append(
            f"| {scale:g} | {templates['overall']:.2%} | "
            + ", ".join(f"{term} {rate:.1%}" for term, rate in worst)
            + f" | {corpus['naming_a_group']:.2%} / {corpus['overall']:.2%} | "
            + " | ".join(f"{auc:.4f}" for auc in aucs)
            + f" | {'yes' if passes(figures) else 'no'} |"
        )
    return "\n".join(lines)
