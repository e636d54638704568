"""Build the text model from the training corpora, deterministically.

``train_model`` reads every corpus under ``data_dir`` (see ``classifiers.datasets``),
adds the identity templates (weighted per term, Dixon et al. 2018), fits the shared
TF-IDF features, and for each label: cross-validates the regularisation strength on that
label's rows, fits a Platt calibrator on the out-of-fold log-odds, picks the decision
threshold that maximises F1 on the out-of-fold probabilities, and fits the final model on
all its rows. The explanation cut-off is chosen on the training Toxic Spans posts.
Nothing under ``eval/`` is read.

Two runs with the same data and seed write byte-identical artifacts: row order is the
corpora's own, vocabularies are sorted, no set order reaches the artifact, and everything
runs single-threaded with fixed seeds. Nothing machine-specific (paths, times) is stored.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from classifiers.datasets import ABUSE_LABELS, LABELS, Example, read_span_posts, read_training_data
from classifiers.datasets import span_gold_offsets as gold_offsets
from classifiers.identity_templates import (
    TEMPLATE_SOURCE,
    balancing_weights,
    template_examples,
    terms_in,
)
from classifiers.linear import (
    ARTIFACT_NAME,
    CARD_NAME,
    SHA_LINE,
    FeatureConfig,
    LinearTextClassifier,
    config_dict,
    fit_calibrator,
    fit_label,
    fit_vectorizers,
    select_spans,
)
from classifiers.spans import SPAN_LABELS, mean_span_f1

C_GRID: tuple[float, ...] = (1.0, 4.0)
"""Inverse L2 strengths tried per label; the one with the lowest out-of-fold log loss wins.
(C = 0.5 and 16 lost on every abuse label in earlier cross-validation, recorded in the
model card, and were dropped to keep a training run within five minutes.)"""
CV_FOLDS = 3
TEMPLATE_WEIGHT_SCALE = 10.0
"""Every identity template's weight is this times its Dixon balancing weight (≥ 1).
Chosen by cross-validation on train (figures in the model card): the smallest of 1, 3,
10, 30 whose held-out templates are flagged ≤ 5% overall and ≤ 15% for every term."""
THRESHOLD_GRID = tuple(round(0.01 * i, 2) for i in range(1, 100))
EXPLAIN_SHARE_GRID = tuple(round(0.1 * i, 1) for i in range(0, 10))

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    del message


@dataclass
class LabelRows:
    """The rows one label is trained on: indices into the shared text list."""

    text_index: np.ndarray
    targets: np.ndarray
    sources: list[str]
    is_template: np.ndarray
    template_group: np.ndarray
    """The template number of each template row (-1 for corpus rows)."""
    weights: np.ndarray
    """Training weight per row: 1 for corpus rows; identity templates get the weight of
    :func:`classifiers.identity_templates.balancing_weights` for this label."""


@dataclass
class TrainingSet:
    """Unique texts plus, per label, the rows that carry that label."""

    texts: list[str]
    labels: dict[str, LabelRows]
    source_counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    template_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    template_terms: dict[int, str] = field(default_factory=dict)
    """Text index → identity term, for the template sentences."""


def _subsample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    if limit is None or len(examples) <= limit:
        return examples
    keep = np.sort(np.random.RandomState(seed).permutation(len(examples))[:limit])
    return [examples[i] for i in keep]


def assemble(
    data_dir: Path, limit: int | None = None, seed: int = 0, log: Log = _quiet
) -> TrainingSet:
    """Read every training corpus (each cut to ``limit`` rows, if given) and the
    identity templates into per-label rows.

    A text that occurs more than once for a label keeps its majority value; a tie drops
    it from that label (the corpora disagree with themselves).
    """
    examples: list[Example] = []
    for folder, found in read_training_data(data_dir):
        kept = _subsample(found, limit, seed)
        log(
            f"read {folder}: {len(found)} rows"
            + (f", using {len(kept)}" if kept is not found else "")
        )
        examples.extend(kept)
    templates = template_examples()
    log(f"identity templates: {len(templates)} sentences")
    examples.extend(example for example, _, _ in templates)
    term_of = {example.text: term for example, term, _ in templates}
    template_of = {example.text: number for example, _, number in templates}
    template_count = dict(Counter(term for _, term, _ in templates))

    position: dict[str, int] = {}
    for example in examples:
        position.setdefault(example.text, len(position))
    texts = list(position)

    labels: dict[str, LabelRows] = {}
    source_counts: dict[str, dict[str, list[int]]] = {}
    template_weights: dict[str, dict[str, float]] = {}
    term_sets = [terms_in(text) for text in texts]
    for label in LABELS:
        votes: dict[int, list[int]] = {}
        first_source: dict[int, str] = {}
        for example in examples:
            value = example.targets.get(label)
            if value is None:
                continue
            index = position[example.text]
            votes.setdefault(index, []).append(value)
            first_source.setdefault(index, example.source)
        rows, targets, sources = [], [], []
        for index, values in votes.items():
            positives = sum(values)
            if 2 * positives == len(values):
                continue
            rows.append(index)
            targets.append(int(2 * positives > len(values)))
            sources.append(first_source[index])
        counts: dict[str, list[int]] = {}
        for source, target in zip(sources, targets, strict=True):
            counts.setdefault(source, [0, 0])[target] += 1
        source_counts[label] = counts
        is_template = np.array([s == TEMPLATE_SOURCE for s in sources], dtype=bool)
        text_index = np.array(rows, dtype=np.int64)
        target_array = np.array(targets, dtype=np.int64)
        weights = np.ones(len(rows))
        template_group = np.array(
            [template_of[texts[i]] if t else -1 for i, t in zip(rows, is_template, strict=True)],
            dtype=np.int64,
        )
        if is_template.any():
            corpus = text_index[~is_template]
            term_weights = balancing_weights(
                [term_sets[i] for i in corpus], target_array[~is_template], template_count
            )
            template_weights[label] = {t: round(w, 3) for t, w in term_weights.items() if w > 1.0}
            for row in np.flatnonzero(is_template):
                weights[row] = TEMPLATE_WEIGHT_SCALE * term_weights[term_of[texts[text_index[row]]]]
            heavy = sorted(
                ((w, t) for t, w in term_weights.items() if w > 1.0), key=lambda x: (-x[0], x[1])
            )
            if heavy:
                log(
                    f"label {label}: template weights "
                    + ", ".join(f"{t} {w:.1f}" for w, t in heavy[:8])
                    + (f" and {len(heavy) - 8} more" if len(heavy) > 8 else "")
                )
        labels[label] = LabelRows(
            text_index, target_array, sources, is_template, template_group, weights
        )
        log(f"label {label}: {len(rows)} rows, {sum(targets)} positive")
    template_terms = {position[text]: term for text, term in term_of.items()}
    return TrainingSet(texts, labels, source_counts, template_weights, template_terms)


def expected_calibration_error(
    probabilities: np.ndarray, targets: np.ndarray, bins: int = 10
) -> float:
    """Weighted mean |mean predicted − observed rate| over equal-width probability bins."""
    edges = np.minimum((probabilities * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = edges == b
        if mask.any():
            total += mask.sum() * abs(probabilities[mask].mean() - targets[mask].mean())
    return float(total / len(targets))


def best_f1_threshold(probabilities: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """The grid threshold (0.01 … 0.99, positive when p ≥ t) with the highest F1, and
    that F1. Ties go to the higher threshold, the more conservative choice."""
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


def platt_cross_validated(log_odds: np.ndarray, targets: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold Platt-scaled probabilities for out-of-fold log-odds: the calibrator is
    itself cross-validated, so the figures are not flattered by fitting on what it scores."""
    calibrated = np.zeros(len(log_odds))
    minority = int(min(targets.sum(), len(targets) - targets.sum()))
    folds = StratifiedKFold(n_splits=max(2, min(5, minority)), shuffle=True, random_state=seed)
    for fit_rows, held_rows in folds.split(log_odds.reshape(-1, 1), targets):
        calibrator = fit_calibrator(log_odds[fit_rows], targets[fit_rows])
        calibrated[held_rows] = calibrator.predict_proba(log_odds[held_rows].reshape(-1, 1))[:, 1]
    return calibrated


def _label_report(
    probabilities: np.ndarray, targets: np.ndarray, sources: list[str]
) -> dict[str, Any]:
    threshold, f1 = best_f1_threshold(probabilities, targets)
    predicted = probabilities >= threshold
    true_positives = float((predicted & (targets == 1)).sum())
    per_source = {}
    for source in sorted(set(sources)):
        mask = np.array([s == source for s in sources])
        if 0 < targets[mask].sum() < mask.sum():
            per_source[source] = round(float(roc_auc_score(targets[mask], probabilities[mask])), 4)
    return {
        "roc_auc": float(roc_auc_score(targets, probabilities)),
        "average_precision": float(average_precision_score(targets, probabilities)),
        "log_loss": float(log_loss(targets, probabilities, labels=[0, 1])),
        "brier": float(np.mean((probabilities - targets) ** 2)),
        "ece": expected_calibration_error(probabilities, targets),
        "threshold": threshold,
        "f1": f1,
        "precision": true_positives / max(float(predicted.sum()), 1.0),
        "recall": true_positives / max(float(targets.sum()), 1.0),
        "roc_auc_by_source": per_source,
    }


def _template_folds(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per template row: whole templates go to one fold, so a held-out
    fold's sentences come from phrasings the model never saw."""
    unique = np.unique(groups)
    order = np.random.RandomState(seed).permutation(len(unique))
    fold_of = {int(unique[k]): position % folds for position, k in enumerate(order)}
    return np.array([fold_of[int(g)] for g in groups], dtype=np.int64)


def cross_validate_label(
    features: sp.csr_matrix, rows: LabelRows, seed: int, log: Log = _quiet
) -> dict[str, Any]:
    """Cross-validate one label.

    Corpus rows are split into stratified folds; identity templates are split by
    template, so each fold holds out whole phrasings. For each C in :data:`C_GRID`:
    out-of-fold log-odds, raw probabilities, and Platt-scaled probabilities (the
    calibrator cross-validated too). The chosen C has the lowest log loss of whichever
    probabilities are better calibrated; the Platt calibrator is kept when it lowers
    that C's log loss. The threshold maximises F1 on the kept probabilities of the
    corpus rows (templates never count in the figures, except as the held-out
    false-positive check). The result holds the figures and the out-of-fold log-odds.
    """
    real = np.flatnonzero(~rows.is_template)
    templates = np.flatnonzero(rows.is_template)
    targets = rows.targets[real]
    sources = [rows.sources[i] for i in real]
    minority = int(min(targets.sum(), len(targets) - targets.sum()))
    folds = min(CV_FOLDS, minority)
    if folds < 2:
        log("  too few examples of one class to cross-validate; C=2, threshold 0.5, no calibration")
        return {
            "c": 2.0,
            "threshold": 0.5,
            "folds": 0,
            "grid": {},
            "chosen": None,
            "calibrate": False,
            "log_odds": None,
            "targets": None,
            "template_log_odds": None,
        }
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(real, targets))
    template_fold = _template_folds(rows.template_group[templates], folds, seed)
    grid: dict[str, dict[str, Any]] = {}
    log_odds_by_c: dict[float, np.ndarray] = {}
    template_log_odds_by_c: dict[float, np.ndarray] = {}
    for c in C_GRID:
        started = time.perf_counter()
        log_odds = np.zeros(len(real))
        template_log_odds = np.zeros(len(templates))
        for fold, (fit_part, held_part) in enumerate(splits):
            fit_rows = np.concatenate([real[fit_part], templates[template_fold != fold]])
            model = fit_label(
                features[rows.text_index[fit_rows]],
                rows.targets[fit_rows],
                c,
                seed,
                rows.weights[fit_rows],
            )
            log_odds[held_part] = model.decision_function(
                features[rows.text_index[real[held_part]]]
            )
            held_templates = template_fold == fold
            if held_templates.any():
                template_log_odds[held_templates] = model.decision_function(
                    features[rows.text_index[templates[held_templates]]]
                )
        log_odds_by_c[c] = log_odds
        template_log_odds_by_c[c] = template_log_odds
        raw = expit(log_odds)
        platt = platt_cross_validated(log_odds, targets, seed)
        grid[str(c)] = {
            "roc_auc": float(roc_auc_score(targets, log_odds)),
            "log_loss": float(log_loss(targets, raw, labels=[0, 1])),
            "platt_log_loss": float(log_loss(targets, platt, labels=[0, 1])),
        }
        log(
            f"  C={c}: out-of-fold ROC-AUC {grid[str(c)]['roc_auc']:.4f}, log loss "
            f"{grid[str(c)]['log_loss']:.4f} (Platt {grid[str(c)]['platt_log_loss']:.4f}) "
            f"({time.perf_counter() - started:.0f}s)"
        )

    def best_loss(c: float) -> float:
        return min(grid[str(c)]["log_loss"], grid[str(c)]["platt_log_loss"])

    chosen_c = min(C_GRID, key=lambda c: (best_loss(c), c))
    log_odds = log_odds_by_c[chosen_c]
    raw = expit(log_odds)
    platt = platt_cross_validated(log_odds, targets, seed)
    calibrate = grid[str(chosen_c)]["platt_log_loss"] < grid[str(chosen_c)]["log_loss"]
    report = _label_report(platt if calibrate else raw, targets, sources)
    report["raw_log_loss"] = grid[str(chosen_c)]["log_loss"]
    report["raw_ece"] = expected_calibration_error(raw, targets)
    log(
        f"  chose C={chosen_c}, Platt calibration {'on' if calibrate else 'off'}: threshold "
        f"{report['threshold']:.2f} (out-of-fold F1 {report['f1']:.4f}), ECE "
        f"{report['ece']:.4f} (uncalibrated {report['raw_ece']:.4f})"
    )
    return {
        "c": chosen_c,
        "calibrate": calibrate,
        "threshold": report["threshold"],
        "folds": folds,
        "grid": grid,
        "chosen": report,
        "rows": len(real),
        "positives": int(targets.sum()),
        "template_rows": len(templates),
        "log_odds": log_odds,
        "targets": targets,
        "template_log_odds": template_log_odds_by_c[chosen_c],
    }


def held_out_template_fpr(
    data: TrainingSet,
    results: dict[str, dict[str, Any]],
    calibrators: dict[str, LogisticRegression | None],
    labels: tuple[str, ...] = ABUSE_LABELS,
) -> dict[str, Any]:
    """False-positive rate on held-out identity templates (all negatives): a template
    counts when any of ``labels`` reaches its threshold. Overall and per term."""
    flagged: dict[int, bool] = {}
    for label in labels:
        rows, result = data.labels[label], results[label]
        if result.get("template_log_odds") is None:
            continue
        log_odds = result["template_log_odds"]
        calibrator = calibrators[label]
        probabilities = (
            calibrator.predict_proba(log_odds.reshape(-1, 1))[:, 1]
            if calibrator is not None
            else expit(log_odds)
        )
        hits = probabilities >= result["threshold"]
        for text_index, hit in zip(rows.text_index[rows.is_template], hits, strict=True):
            flagged[int(text_index)] = flagged.get(int(text_index), False) or bool(hit)
    per_term: dict[str, list[int]] = {}
    for text_index, hit in flagged.items():
        counts = per_term.setdefault(data.template_terms[text_index], [0, 0])
        counts[0] += int(hit)
        counts[1] += 1
    total = sum(counts[1] for counts in per_term.values())
    return {
        "overall": sum(counts[0] for counts in per_term.values()) / max(total, 1),
        "per_term": {term: hit / n for term, (hit, n) in sorted(per_term.items())},
        "sentences": total,
    }


def choose_explain_share(
    model: LinearTextClassifier, data_dir: Path, limit: int | None, seed: int, log: Log = _quiet
) -> dict[str, Any]:
    """The ``explain_min_share`` with the best mean span F1 on the *training* Toxic
    Spans posts, predicting spans as :func:`classifiers.spans.predict_offsets` does."""
    posts = read_span_posts(data_dir / "toxic_spans")
    if limit is not None and len(posts) > limit:
        keep = np.sort(np.random.RandomState(seed).permutation(len(posts))[:limit])
        posts = [posts[i] for i in keep]
    columns = [model.labels.index(label) for label in SPAN_LABELS]
    thresholds = np.array([model.thresholds[label] for label in SPAN_LABELS])
    probabilities = model.probabilities([post.text for post in posts])
    predictions: dict[float, list[set[int]]] = {share: [] for share in EXPLAIN_SHARE_GRID}
    golds = []
    for post, row in zip(posts, probabilities, strict=True):
        golds.append(gold_offsets(post))
        firing = [c for c, p, t in zip(columns, row[columns], thresholds, strict=True) if p >= t]
        if firing:
            chunks, contributions = model.chunk_contributions(post.text)
        for share in EXPLAIN_SHARE_GRID:
            predicted: set[int] = set()
            for column in firing:
                for span in select_spans(post.text, chunks, contributions[:, column], share):
                    predicted.update(range(span.start, span.end))
            predictions[share].append(predicted)
    scores = {
        str(share): mean_span_f1(zip(predictions[share], golds, strict=True))
        for share in EXPLAIN_SHARE_GRID
    }
    best = max(EXPLAIN_SHARE_GRID, key=lambda share: (scores[str(share)], -share))
    log(
        f"explain cut-off: min share {best} (train span F1 {scores[str(best)]:.4f} "
        f"on {len(posts)} posts)"
    )
    return {"min_share": best, "train_span_f1": scores, "posts": len(posts)}


def train_model(
    data_dir: Path,
    seed: int = 0,
    limit: int | None = None,
    config: FeatureConfig | None = None,
    log: Log = _quiet,
) -> tuple[LinearTextClassifier, dict[str, Any]]:
    """Train on ``data_dir`` (the ``train/`` folder); return the model and its report."""
    config = config or FeatureConfig()
    started = time.perf_counter()
    data = assemble(data_dir, limit, seed, log)
    log(f"fitting TF-IDF features on {len(data.texts)} unique texts")
    word, char, features = fit_vectorizers(data.texts, config)
    log(
        f"features: {len(word.vocabulary_)} word n-grams + {len(char.vocabulary_)} character "
        f"n-grams ({time.perf_counter() - started:.0f}s)"
    )
    models: dict[str, LogisticRegression] = {}
    calibrators: dict[str, LogisticRegression | None] = {}
    thresholds: dict[str, float] = {}
    cv: dict[str, Any] = {}
    template_results: dict[str, dict[str, Any]] = {}
    for label in LABELS:
        rows = data.labels[label]
        log(f"label {label}: cross-validating C on {int((~rows.is_template).sum())} corpus rows")
        result = cross_validate_label(features, rows, seed, log)
        log_odds, targets = result.pop("log_odds"), result.pop("targets")
        template_results[label] = {
            "template_log_odds": result.pop("template_log_odds"),
            "threshold": result["threshold"],
        }
        cv[label] = result
        thresholds[label] = result["threshold"]
        models[label] = fit_label(
            features[rows.text_index], rows.targets, result["c"], seed, rows.weights
        )
        # The calibrator maps out-of-fold log-odds to outcomes, as scikit-learn's
        # CalibratedClassifierCV(method="sigmoid", ensemble=False) does.
        calibrators[label] = fit_calibrator(log_odds, targets) if result["calibrate"] else None
    template_fpr = held_out_template_fpr(data, template_results, calibrators)
    worst = max(template_fpr["per_term"].items(), key=lambda item: item[1], default=("-", 0.0))
    log(
        f"held-out identity templates flagged abusive: {template_fpr['overall']:.1%} "
        f"(worst term {worst[0]} {worst[1]:.1%})"
    )
    metadata: dict[str, Any] = {
        "seed": seed,
        "template_weight_scale": TEMPLATE_WEIGHT_SCALE,
        "held_out_template_fpr": template_fpr,
        "limit": limit,
        "features": config_dict(config),
        "c_grid": list(C_GRID),
        "cv_folds": CV_FOLDS,
        "solver": "liblinear (L2 logistic regression)",
        "sklearn_version": sklearn.__version__,
        "cross_validation": cv,
        "training_rows": data.source_counts,
        "identity_template_weights": data.template_weights,
        "explain_min_share": 0.0,
    }
    log(f"final models fitted ({time.perf_counter() - started:.0f}s)")
    draft = LinearTextClassifier.from_parts(word, char, models, calibrators, thresholds, metadata)
    explain = choose_explain_share(draft, data_dir, limit, seed, log)
    metadata["explain_min_share"] = explain["min_share"]
    metadata["explain_selection"] = explain
    model = LinearTextClassifier.from_parts(word, char, models, calibrators, thresholds, metadata)
    log(f"trained in {time.perf_counter() - started:.0f}s")
    return model, metadata


# --- the model card -------------------------------------------------------------------------

TRAIN_BEGIN = "<!-- train:begin (written by `fairwitness classifiers train`) -->"
TRAIN_END = "<!-- train:end -->"

_NEW_CARD = """# Model card: text-linear

SHA-256: {digest}

{train_block}
"""


def training_markdown(metadata: dict[str, Any], digest: str, size: int) -> str:
    """The card's training section: data per label, chosen C, thresholds, CV figures."""
    lines = [TRAIN_BEGIN, "", "### Training figures (cross-validation on train only)", ""]
    lines.append(
        f"Artifact `{ARTIFACT_NAME}`: {size:,} bytes, SHA-256 `{digest}`; "
        f"seed {metadata['seed']}"
        + (f", limit {metadata['limit']} rows per corpus" if metadata["limit"] else "")
        + f"; scikit-learn {metadata['sklearn_version']}."
    )
    features = metadata["features"]
    lines += [
        "",
        f"Features: word 1–2-grams (≤ {features['word_max_features']:,}, min df "
        f"{features['word_min_df']}) + char_wb {features['char_min_n']}–{features['char_max_n']}"
        f"-grams (≤ {features['char_max_features']:,}, min df {features['char_min_df']}), "
        "sublinear tf, L2 per block. Solver: " + metadata["solver"] + ".",
        "",
        "| label | rows (pos) | C | Platt | OOF ROC-AUC | OOF AP | log loss (raw) "
        "| ECE (raw) | threshold | OOF F1 | P | R |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, cv in metadata["cross_validation"].items():
        chosen = cv.get("chosen")
        if not chosen:
            lines.append(
                f"| {label} | – | {cv['c']} | not cross-validated | | | | | "
                f"{cv['threshold']:.2f} | | | |"
            )
            continue
        lines.append(
            f"| {label} | {cv['rows']:,} ({cv['positives']:,}) | {cv['c']} | "
            f"{'yes' if cv['calibrate'] else 'no'} | "
            f"{chosen['roc_auc']:.4f} | {chosen['average_precision']:.4f} | "
            f"{chosen['log_loss']:.4f} ({chosen['raw_log_loss']:.4f}) | "
            f"{chosen['ece']:.4f} ({chosen['raw_ece']:.4f}) | {cv['threshold']:.2f} | "
            f"{chosen['f1']:.4f} | {chosen['precision']:.3f} | {chosen['recall']:.3f} |"
        )
    lines += ["", "C grid, out-of-fold ROC-AUC / log loss raw / log loss after Platt:", ""]
    lines.append("| label | " + " | ".join(f"C={c}" for c in metadata["c_grid"]) + " |")
    lines.append("|---|" + "---|" * len(metadata["c_grid"]))
    for label, cv in metadata["cross_validation"].items():
        cells = [
            f"{cv['grid'][str(c)]['roc_auc']:.4f} / {cv['grid'][str(c)]['log_loss']:.4f} / "
            f"{cv['grid'][str(c)]['platt_log_loss']:.4f}"
            if str(c) in cv["grid"]
            else "–"
            for c in metadata["c_grid"]
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Out-of-fold ROC-AUC by corpus (where a corpus has both classes):", ""]
    for label, cv in metadata["cross_validation"].items():
        if cv.get("chosen"):
            per_source = ", ".join(
                f"{source} {auc:.3f}" for source, auc in cv["chosen"]["roc_auc_by_source"].items()
            )
            lines.append(f"- {label}: {per_source or '–'}")
    lines += ["", "Training rows per label and corpus (negatives / positives):", ""]
    for label, counts in metadata["training_rows"].items():
        parts = ", ".join(f"{source} {neg:,}/{pos:,}" for source, (neg, pos) in counts.items())
        lines.append(f"- {label}: {parts}")
    template_fpr = metadata["held_out_template_fpr"]
    worst = sorted(template_fpr["per_term"].items(), key=lambda item: (-item[1], item[0]))[:6]
    lines += [
        "",
        f"Identity templates: weight = {metadata['template_weight_scale']} × Dixon balancing "
        "weight. Held out by template in the same folds, "
        f"{template_fpr['overall']:.1%} of {template_fpr['sentences']:,} template sentences "
        "were flagged abusive (any of toxicity, insult, identity_attack, threat at its "
        "threshold); highest terms: "
        + ", ".join(f"{term} {rate:.1%}" for term, rate in worst)
        + ".",
    ]
    explain = metadata["explain_selection"]
    shares = ", ".join(f"{share}: {f1:.3f}" for share, f1 in explain["train_span_f1"].items())
    lines += [
        "",
        f"Explanation cut-off `explain_min_share` = {explain['min_share']}, chosen by mean span "
        f"F1 on {explain['posts']:,} training Toxic Spans posts ({shares}).",
        "",
        TRAIN_END,
    ]
    return "\n".join(lines)


def write_card(directory: Path, metadata: dict[str, Any], digest: str, size: int) -> Path:
    """Create or update ``MODEL_CARD.md``: set its ``SHA-256:`` line and replace the
    training section; everything else in an existing card is left as written."""
    card = directory / CARD_NAME
    block = training_markdown(metadata, digest, size)
    if not card.exists():
        card.write_text(_NEW_CARD.format(digest=digest, train_block=block), encoding="utf-8")
        return card
    text = card.read_text(encoding="utf-8")
    if len(SHA_LINE.findall(text)) == 1:
        text = SHA_LINE.sub(f"SHA-256: {digest}", text)
    else:
        text = f"SHA-256: {digest}\n\n" + SHA_LINE.sub("", text)
    pattern = re.compile(re.escape(TRAIN_BEGIN) + r".*?" + re.escape(TRAIN_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    card.write_text(text, encoding="utf-8")
    return card


def train_and_save(
    data_dir: Path, out_dir: Path, seed: int = 0, limit: int | None = None, log: Log = _quiet
) -> str:
    """Train, write ``model.joblib`` and update ``MODEL_CARD.md`` in ``out_dir``;
    return the artifact's SHA-256 hex digest."""
    # One thread: the machine is shared, and it keeps floating-point sums in one order.
    with threadpool_limits(limits=1):
        model, metadata = train_model(data_dir, seed=seed, limit=limit, log=log)
    data = model.artifact_bytes()
    digest = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ARTIFACT_NAME).write_bytes(data)
    card = write_card(out_dir, metadata, digest, len(data))
    log(f"wrote {out_dir / ARTIFACT_NAME} ({len(data):,} bytes, SHA-256 {digest})")
    log(f"updated {card}")
    return digest
