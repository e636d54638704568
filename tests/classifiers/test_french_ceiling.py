"""The in-domain ceiling measurement: every model gets an out-of-fold ROC-AUC inside its
interval, and a task the features separate scores near 1."""

from __future__ import annotations

import numpy as np

from classifiers.french_ceiling import Task, ceiling


def test_a_separable_task_reaches_the_top_and_every_figure_has_an_interval() -> None:
    rng = np.random.RandomState(0)
    texts = [f"c'est nul et méchant {i}" for i in range(40)] + [
        f"merci beaucoup, très gentil {i}" for i in range(40)
    ]
    targets = np.array([1] * 40 + [0] * 40)
    embeddings = np.hstack([targets[:, None] + 0.1 * rng.randn(80, 1), rng.randn(80, 3)])
    result = ceiling(Task("toy", texts, targets), embeddings)
    assert result["rows"] == 80 and result["positives"] == 40
    names = set(result["models"])
    assert {"embedding C=1", "TF-IDF C=1", "stacked C=1"} <= names
    assert any(name.startswith("mean of embedding") for name in names)
    for figures in result["models"].values():
        low, high = figures["ci"]
        assert low <= figures["roc_auc"] <= high
        assert figures["roc_auc"] > 0.95
