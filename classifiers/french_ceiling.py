"""How well the French training corpora can be learnt at all, on train only.

Each task is cross-validated inside one corpus (5 stratified folds, seed 0) with three
models: (a) the sentence embedding with a logistic regression, (b) French TF-IDF
(character 2–5-grams within words and word 1–2-grams) with a logistic regression, and
(c) the embedding stacked with (b)'s log-odds, computed out of fold inside each training
fold; and the mean of (a)'s and (b)'s probabilities. Each out-of-fold ROC-AUC comes with
a bootstrap 95% interval. A target above what a corpus supports in-domain cannot be met by
training on it, whatever the model; this puts a number on that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from classifiers import datasets
from classifiers.evaluate import bootstrap_auc_interval

FOLDS = 5
C_GRID: tuple[float, ...] = (0.3, 1.0, 3.0)
STACKED_C = 1.0
"""C of the TF-IDF model whose inner out-of-fold log-odds feed (c), and of (c) itself."""

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Task:
    name: str
    texts: list[str]
    targets: np.ndarray


def tasks(train_dir: Path) -> list[Task]:
    """MLMA hostile vs normal and hateful vs normal, and FTR racist vs not, with the label
    readings the heads are trained on (:mod:`classifiers.datasets`)."""
    mlma = datasets.read_mlma_fr(train_dir / "mlma_fr")
    ftr = datasets.read_ftr_fr(train_dir / "ftr_fr")
    hateful = [e for e in mlma if "identity_attack" in e.targets]
    return [
        Task(
            "MLMA, hostile vs normal (toxicity)",
            [e.text for e in mlma],
            np.array([e.targets["toxicity"] for e in mlma]),
        ),
        Task(
            "MLMA, hateful vs normal (identity_attack)",
            [e.text for e in hateful],
            np.array([e.targets["identity_attack"] for e in hateful]),
        ),
        Task(
            "FTR, racist vs not (identity_attack)",
            [e.text for e in ftr],
            np.array([e.targets["identity_attack"] for e in ftr]),
        ),
    ]


def _tfidf(fit: list[str], apply: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    vectorizers = (
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True),
    )
    fitted = [v.fit_transform(fit) for v in vectorizers]
    applied = [v.transform(apply) for v in vectorizers]
    return sp.hstack(fitted, format="csr"), sp.hstack(applied, format="csr")


def _tfidf_model(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, solver="liblinear", max_iter=3000)


def out_of_fold(task: Task, embeddings: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities per model and C (keys like ``"embedding C=1"``)."""
    texts, targets = task.texts, task.targets
    found: dict[str, np.ndarray] = {}

    def put(name: str, held: np.ndarray, values: np.ndarray) -> None:
        found.setdefault(name, np.zeros(len(targets)))[held] = values

    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for fit, held in splitter.split(texts, targets):
        fit_texts = [texts[i] for i in fit]
        tfidf_fit, tfidf_held = _tfidf(fit_texts, [texts[i] for i in held])
        for c in C_GRID:
            embedding_model = LogisticRegression(C=c, max_iter=3000)
            embedding_model.fit(embeddings[fit], targets[fit])
            put(f"embedding C={c:g}", held, embedding_model.predict_proba(embeddings[held])[:, 1])
            tfidf_model = _tfidf_model(c).fit(tfidf_fit, targets[fit])
            put(f"TF-IDF C={c:g}", held, tfidf_model.predict_proba(tfidf_held)[:, 1])
        # (c): the TF-IDF log-odds the stacked model trains on are out of fold inside the
        # training folds, as the shipped heads' n-gram log-odds are.
        inner = np.zeros(len(fit))
        inner_splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed + 1)
        for inner_fit, inner_held in inner_splitter.split(fit_texts, targets[fit]):
            a, b = _tfidf([fit_texts[i] for i in inner_fit], [fit_texts[i] for i in inner_held])
            inner[inner_held] = (
                _tfidf_model(STACKED_C).fit(a, targets[fit][inner_fit]).decision_function(b)
            )
        outer = _tfidf_model(STACKED_C).fit(tfidf_fit, targets[fit]).decision_function(tfidf_held)
        stacked = LogisticRegression(C=STACKED_C, max_iter=3000)
        stacked.fit(np.hstack([embeddings[fit], inner[:, None]]), targets[fit])
        put(
            f"stacked C={STACKED_C:g}",
            held,
            stacked.predict_proba(np.hstack([embeddings[held], outer[:, None]]))[:, 1],
        )
    return found


def ceiling(task: Task, embeddings: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """ROC-AUC with its interval per model; the mean of the best (a) and best (b)."""
    probabilities = out_of_fold(task, embeddings, seed)

    def figures(values: np.ndarray) -> dict[str, Any]:
        low, high = bootstrap_auc_interval(task.targets, values)
        return {"roc_auc": float(roc_auc_score(task.targets, values)), "ci": [low, high]}

    results = {name: figures(values) for name, values in probabilities.items()}

    def best(prefix: str) -> str:
        names = [name for name in results if name.startswith(prefix)]
        return max(names, key=lambda name: float(results[name]["roc_auc"]))

    a, b = best("embedding"), best("TF-IDF")
    results[f"mean of {a} and {b}"] = figures((probabilities[a] + probabilities[b]) / 2)
    return {
        "task": task.name,
        "rows": len(task.targets),
        "positives": int(task.targets.sum()),
        "models": results,
    }


def measure(train_dir: Path, embed: Embed, seed: int = 0) -> list[dict[str, Any]]:
    return [ceiling(task, embed(task.texts), seed) for task in tasks(train_dir)]
