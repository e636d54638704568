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
import time
from collections import Counter
from collections.abc import Callable, Sequence
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
from classifiers.marked_block import with_block
from classifiers.spam_templates import SOURCE as SPAM_TEMPLATE_SOURCE
from classifiers.spam_templates import spam_template_examples
from classifiers.spans import SPAN_LABELS, mean_span_f1
from classifiers.thresholds import (
    FPR_BUDGET,
    best_f1_threshold,
    confusion_figures,
    threshold_at_fpr,
)


@dataclass(frozen=True)
class Setting:
    """One way to fit a label: the inverse L2 strength, and whether the features are
    scaled by their log-count ratio first (NB-LR, :func:`classifiers.linear.fit_label`)."""

    c: float
    nb: bool = False

    @property
    def name(self) -> str:
        return f"{'NB ' if self.nb else ''}C={self.c:g}"


SETTINGS: tuple[Setting, ...] = (Setting(1.0), Setting(4.0), Setting(1.0, True), Setting(4.0, True))
"""Tried per label; the one with the lowest out-of-fold log loss wins. Plain C = 0.5 and
16 lost on every abuse label in earlier cross-validation (model card); NB-LR at C = 0.5,
8 and 16 lost to C = 1 to 4 on toxicity."""
CV_FOLDS = 3
TEMPLATE_WEIGHT_SCALE = 1.0
"""Every identity template's weight is this times its Dixon balancing weight (≥ 1), so
1 is Dixon et al.'s balancing as published. Chosen by cross-validation on train among
1, 3, 10 and 30 (``fairwitness classifiers template-scales``; rule and figures in the
model card)."""
SPAM_GROUP_OFFSET = 10_000
"""Spam template numbers are shifted by this, so they never share a number with an
identity template."""
TEMPLATE_SOURCES = (TEMPLATE_SOURCE, SPAM_TEMPLATE_SOURCE)
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
    """True for identity-template rows: negatives that only shape the model and never
    count in a label's figures or thresholds."""
    group: np.ndarray
    """For rows written from templates (identity or spam), the number of the template
    they came from, unique across both; -1 for corpus rows. Cross-validation keeps a
    template's sentences together in one fold."""
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
    text_sources: list[str] = field(default_factory=list)
    """The corpus each text was first read from."""


def _subsample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    if limit is None or len(examples) <= limit:
        return examples
    keep = np.sort(np.random.RandomState(seed).permutation(len(examples))[:limit])
    return [examples[i] for i in keep]


def assemble(
    data_dir: Path,
    limit: int | None = None,
    seed: int = 0,
    log: Log = _quiet,
    template_scale: float | None = None,
) -> TrainingSet:
    """Read every training corpus (each cut to ``limit`` rows, if given), the identity
    templates and the spam templates into per-label rows.

    Identity templates are weighted ``template_scale`` (default
    :data:`TEMPLATE_WEIGHT_SCALE`) times their term's Dixon balancing weight.

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
    scale = TEMPLATE_WEIGHT_SCALE if template_scale is None else template_scale
    templates = template_examples()
    log(f"identity templates: {len(templates)} sentences")
    examples.extend(example for example, _, _ in templates)
    term_of = {example.text: term for example, term, _ in templates}
    group_of = {example.text: number for example, _, number in templates}
    template_count = dict(Counter(term for _, term, _ in templates))
    spam = spam_template_examples()
    log(f"spam templates: {len(spam)} sentences")
    examples.extend(example for example, _ in spam)
    group_of.update((example.text, SPAM_GROUP_OFFSET + number) for example, number in spam)

    position: dict[str, int] = {}
    text_sources: list[str] = []
    for example in examples:
        if example.text not in position:
            position[example.text] = len(position)
            text_sources.append(example.source)
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
        group = np.array(
            [
                group_of[texts[i]] if source in TEMPLATE_SOURCES else -1
                for i, source in zip(rows, sources, strict=True)
            ],
            dtype=np.int64,
        )
        if is_template.any():
            corpus = text_index[~is_template]
            term_weights = balancing_weights(
                [term_sets[i] for i in corpus], target_array[~is_template], template_count
            )
            template_weights[label] = {t: round(w, 3) for t, w in term_weights.items() if w > 1.0}
            for row in np.flatnonzero(is_template):
                weights[row] = scale * term_weights[term_of[texts[text_index[row]]]]
            heavy = sorted(
                ((w, t) for t, w in term_weights.items() if w > 1.0), key=lambda x: (-x[0], x[1])
            )
            if heavy:
                log(
                    f"label {label}: template weights "
                    + ", ".join(f"{t} {w:.1f}" for w, t in heavy[:8])
                    + (f" and {len(heavy) - 8} more" if len(heavy) > 8 else "")
                )
        labels[label] = LabelRows(text_index, target_array, sources, is_template, group, weights)
        log(f"label {label}: {len(rows)} rows, {sum(targets)} positive")
    template_terms = {position[text]: term for text, term in term_of.items()}
    return TrainingSet(texts, labels, source_counts, template_weights, template_terms, text_sources)


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
    probabilities: np.ndarray, targets: np.ndarray, sources: list[str], threshold: float
) -> dict[str, Any]:
    best_threshold, best_f1 = best_f1_threshold(probabilities, targets)
    return {
        "roc_auc": float(roc_auc_score(targets, probabilities)),
        "average_precision": float(average_precision_score(targets, probabilities)),
        "log_loss": float(log_loss(targets, probabilities, labels=[0, 1])),
        "brier": float(np.mean((probabilities - targets) ** 2)),
        "ece": expected_calibration_error(probabilities, targets),
        "threshold": threshold,
        **confusion_figures(probabilities, targets, threshold),
        "best_f1_threshold": best_threshold,
        "best_f1": best_f1,
        "roc_auc_by_source": roc_auc_by_source(probabilities, targets, sources),
    }


def roc_auc_by_source(
    probabilities: np.ndarray, targets: np.ndarray, sources: list[str]
) -> dict[str, float]:
    """ROC-AUC (4 decimals) within each source that has examples of both classes."""
    per_source = {}
    for source in sorted(set(sources)):
        mask = np.array([s == source for s in sources])
        if 0 < targets[mask].sum() < mask.sum():
            per_source[source] = round(float(roc_auc_score(targets[mask], probabilities[mask])), 4)
    return per_source


@dataclass
class LabelCrossValidation:
    """What cross-validating one label gives. The same fields whether or not the label
    could be cross-validated: with too few examples of one class, ``folds`` is 0, the
    setting and threshold are fixed defaults, ``chosen`` is None and so are the
    out-of-fold arrays."""

    setting: Setting
    calibrate: bool
    """Whether a Platt calibrator lowers the chosen setting's out-of-fold log loss."""
    threshold: float
    fpr_budget: float
    folds: int
    grid: dict[str, dict[str, float]]
    """Per setting tried: out-of-fold ROC-AUC, log loss and Platt log loss."""
    chosen: dict[str, Any] | None
    """The chosen setting's out-of-fold figures (``_label_report``)."""
    rows: int
    """Corpus rows (templates excluded), and how many of them are positive."""
    positives: int
    template_rows: int
    log_odds: np.ndarray | None
    """Out-of-fold log-odds of the label's corpus rows (and their ``targets``), of its
    identity-template rows, and, for every other text, the mean log-odds of the fold
    models (none of which saw it)."""
    targets: np.ndarray | None
    template_log_odds: np.ndarray | None
    other_log_odds: np.ndarray | None

    def summary(self) -> dict[str, Any]:
        """The figures kept in the artifact's metadata (no per-row arrays)."""
        return {
            "c": self.setting.c,
            "nb": self.setting.nb,
            "calibrate": self.calibrate,
            "threshold": self.threshold,
            "fpr_budget": self.fpr_budget,
            "folds": self.folds,
            "grid": self.grid,
            "chosen": self.chosen,
            "rows": self.rows,
            "positives": self.positives,
            "template_rows": self.template_rows,
            "setting": self.setting.name,
        }


def _template_folds(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per template row: whole templates go to one fold, so a held-out
    fold's sentences come from phrasings the model never saw."""
    unique = np.unique(groups)
    order = np.random.RandomState(seed).permutation(len(unique))
    fold_of = {int(unique[k]): position % folds for position, k in enumerate(order)}
    return np.array([fold_of[int(g)] for g in groups], dtype=np.int64)


def cross_validate_label(
    features: sp.csr_matrix,
    rows: LabelRows,
    seed: int,
    budget: float,
    log: Log = _quiet,
    settings: Sequence[Setting] = SETTINGS,
) -> LabelCrossValidation:
    """Cross-validate one label.

    Corpus rows are split into stratified folds; identity and spam templates are split
    by template, so each fold holds out whole phrasings. For each of ``settings``:
    out-of-fold log-odds, raw probabilities, and Platt-scaled probabilities (the
    calibrator cross-validated too). The chosen setting has the lowest log loss of
    whichever probabilities are better calibrated; the Platt calibrator is kept when it
    lowers that setting's log loss. The threshold is the lowest whose out-of-fold
    false-positive rate on the label's negatives is within ``budget``
    (:func:`classifiers.thresholds.threshold_at_fpr`). Identity templates never count in
    a label's figures or threshold. The result holds the figures, the out-of-fold
    log-odds of the label's rows, and, for every other text, the mean log-odds of the
    fold models (none of which saw it), so other checks can use out-of-sample scores.
    A label with fewer than two examples of one class is not cross-validated (C = 2,
    threshold 0.5, no calibration, ``folds`` 0); the result has the same fields.
    """
    real = np.flatnonzero(~rows.is_template)
    templates = np.flatnonzero(rows.is_template)
    targets = rows.targets[real]
    sources = [rows.sources[i] for i in real]
    grouped = rows.group[real] >= 0
    corpus_targets = targets[~grouped]
    minority = int(min(corpus_targets.sum(), len(corpus_targets) - corpus_targets.sum()))
    folds = min(CV_FOLDS, minority)
    if folds < 2:
        log("  too few examples of one class to cross-validate; C=2, threshold 0.5, no calibration")
        return LabelCrossValidation(
            setting=Setting(2.0),
            calibrate=False,
            threshold=0.5,
            fpr_budget=budget,
            folds=0,
            grid={},
            chosen=None,
            rows=len(real),
            positives=int(targets.sum()),
            template_rows=len(templates),
            log_odds=None,
            targets=None,
            template_log_odds=None,
            other_log_odds=None,
        )
    # Corpus rows go to stratified folds; sentences written from templates (spam
    # templates here) go to folds by template, like the identity templates below.
    real_fold = np.zeros(len(real), dtype=np.int64)
    corpus = np.flatnonzero(~grouped)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, held) in enumerate(splitter.split(corpus, corpus_targets)):
        real_fold[corpus[held]] = fold
    if grouped.any():
        real_fold[grouped] = _template_folds(rows.group[real][grouped], folds, seed)
    template_fold = _template_folds(rows.group[templates], folds, seed)
    in_label = np.zeros(features.shape[0], dtype=bool)
    in_label[rows.text_index] = True
    others = np.flatnonzero(~in_label)
    grid: dict[str, dict[str, float]] = {}
    outputs: dict[Setting, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for setting in settings:
        started = time.perf_counter()
        log_odds = np.zeros(len(real))
        template_log_odds = np.zeros(len(templates))
        other_log_odds = np.zeros(len(others))
        for fold in range(folds):
            fit_rows = np.concatenate([real[real_fold != fold], templates[template_fold != fold]])
            model = fit_label(
                features[rows.text_index[fit_rows]],
                rows.targets[fit_rows],
                setting.c,
                seed,
                rows.weights[fit_rows],
                nb=setting.nb,
            )
            held = real_fold == fold
            log_odds[held] = model.decision_function(features[rows.text_index[real[held]]])
            held_templates = template_fold == fold
            if held_templates.any():
                template_log_odds[held_templates] = model.decision_function(
                    features[rows.text_index[templates[held_templates]]]
                )
            other_log_odds += model.decision_function(features[others]) / folds
        outputs[setting] = (log_odds, template_log_odds, other_log_odds)
        raw = expit(log_odds)
        platt = platt_cross_validated(log_odds, targets, seed)
        grid[setting.name] = {
            "roc_auc": float(roc_auc_score(targets, log_odds)),
            "log_loss": float(log_loss(targets, raw, labels=[0, 1])),
            "platt_log_loss": float(log_loss(targets, platt, labels=[0, 1])),
        }
        log(
            f"  {setting.name}: out-of-fold ROC-AUC {grid[setting.name]['roc_auc']:.4f}, log "
            f"loss {grid[setting.name]['log_loss']:.4f} (Platt "
            f"{grid[setting.name]['platt_log_loss']:.4f}) "
            f"({time.perf_counter() - started:.0f}s)"
        )

    def best_loss(setting: Setting) -> float:
        return min(grid[setting.name]["log_loss"], grid[setting.name]["platt_log_loss"])

    chosen = min(settings, key=best_loss)
    log_odds, template_log_odds, other_log_odds = outputs[chosen]
    raw = expit(log_odds)
    platt = platt_cross_validated(log_odds, targets, seed)
    calibrate = grid[chosen.name]["platt_log_loss"] < grid[chosen.name]["log_loss"]
    probabilities = platt if calibrate else raw
    threshold = threshold_at_fpr(probabilities, targets, budget)
    report = _label_report(probabilities, targets, sources, threshold)
    report["raw_log_loss"] = grid[chosen.name]["log_loss"]
    report["raw_ece"] = expected_calibration_error(raw, targets)
    log(
        f"  chose {chosen.name}, Platt calibration {'on' if calibrate else 'off'}: threshold "
        f"{threshold:.2f} (out-of-fold FPR {report['fpr']:.4f}, precision "
        f"{report['precision']:.3f}, recall {report['recall']:.3f}), ECE {report['ece']:.4f} "
        f"(uncalibrated {report['raw_ece']:.4f})"
    )
    return LabelCrossValidation(
        setting=chosen,
        calibrate=calibrate,
        threshold=threshold,
        fpr_budget=budget,
        folds=folds,
        grid=grid,
        chosen=report,
        rows=len(real),
        positives=int(targets.sum()),
        template_rows=len(templates),
        log_odds=log_odds,
        targets=targets,
        template_log_odds=template_log_odds,
        other_log_odds=other_log_odds,
    )


def out_of_sample_probabilities(
    data: TrainingSet,
    label: str,
    result: LabelCrossValidation,
    calibrator: LogisticRegression | None,
) -> np.ndarray:
    """One probability of ``label`` per training text from a model that did not train
    on it: out of fold for the label's own rows, the fold models' mean for the rest.
    ``result`` must come from a label that was cross-validated."""
    if result.log_odds is None or result.template_log_odds is None:
        raise ValueError(f"{label} was not cross-validated: no out-of-fold scores")
    if result.other_log_odds is None:
        raise ValueError(f"{label} was not cross-validated: no out-of-fold scores")
    rows = data.labels[label]
    log_odds = np.zeros(len(data.texts))
    in_label = np.zeros(len(data.texts), dtype=bool)
    in_label[rows.text_index] = True
    log_odds[~in_label] = result.other_log_odds
    log_odds[rows.text_index[~rows.is_template]] = result.log_odds
    log_odds[rows.text_index[rows.is_template]] = result.template_log_odds
    probabilities: np.ndarray = (
        expit(log_odds)
        if calibrator is None
        else calibrator.predict_proba(log_odds.reshape(-1, 1))[:, 1]
    )
    return probabilities


MIN_TERM_ROWS = 30
"""Identity terms named by fewer non-toxic corpus rows than this are left out of the
per-term table: their rate is noise."""


def identity_false_positives(
    data: TrainingSet, flagged: np.ndarray, labels: tuple[str, ...] = ABUSE_LABELS
) -> dict[str, Any]:
    """How often the "abusive" decision (``flagged``: any of ``labels`` at its
    threshold, from out-of-sample probabilities) falls on texts that are not abusive and
    name an identity group: held-out identity templates, and corpus texts labelled
    non-toxic. Overall and per term."""
    template_rows: dict[str, list[bool]] = {}
    for text_index, term in data.template_terms.items():
        template_rows.setdefault(term, []).append(bool(flagged[text_index]))
    toxicity = data.labels["toxicity"]
    corpus = toxicity.text_index[(~toxicity.is_template) & (toxicity.targets == 0)]
    corpus_rows: dict[str, list[bool]] = {}
    mentioning = []
    for text_index in corpus:
        terms = terms_in(data.texts[text_index])
        if terms:
            mentioning.append(bool(flagged[text_index]))
        for term in terms:
            corpus_rows.setdefault(term, []).append(bool(flagged[text_index]))
    templates_total = [hit for hits in template_rows.values() for hit in hits]
    return {
        "templates": {
            "overall": float(np.mean(templates_total)) if templates_total else 0.0,
            "sentences": len(templates_total),
            "per_term": {t: float(np.mean(h)) for t, h in sorted(template_rows.items())},
        },
        "corpus": {
            "overall": float(flagged[corpus].mean()) if len(corpus) else 0.0,
            "texts": len(corpus),
            "naming_a_group": float(np.mean(mentioning)) if mentioning else 0.0,
            "texts_naming_a_group": len(mentioning),
            "per_term": {
                t: {"rate": float(np.mean(h)), "n": len(h)}
                for t, h in sorted(corpus_rows.items())
                if len(h) >= MIN_TERM_ROWS
            },
        },
    }


def spam_flags_elsewhere(data: TrainingSet, flagged: np.ndarray) -> dict[str, float]:
    """Share of each corpus that says nothing about spam (every corpus but SMS and the
    spam templates) flagged as spam, from out-of-sample probabilities. These corpora
    were never screened for spam, so this is not a false-positive rate, but nearly all of
    their texts are ordinary posts: a high share would mean the spam label fires on
    ordinary comments."""
    spam_rows = np.zeros(len(data.texts), dtype=bool)
    spam_rows[data.labels["spam"].text_index] = True
    shares: dict[str, list[bool]] = {}
    for text_index, source in enumerate(data.text_sources):
        if not spam_rows[text_index] and source not in TEMPLATE_SOURCES:
            shares.setdefault(source, []).append(bool(flagged[text_index]))
    return {source: float(np.mean(hits)) for source, hits in shares.items()}


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
    out_of_sample: dict[str, np.ndarray] = {}
    for label in LABELS:
        rows = data.labels[label]
        log(f"label {label}: cross-validating on {int((~rows.is_template).sum())} rows")
        result = cross_validate_label(features, rows, seed, FPR_BUDGET[label], log)
        setting = result.setting
        thresholds[label] = result.threshold
        models[label] = fit_label(
            features[rows.text_index], rows.targets, setting.c, seed, rows.weights, nb=setting.nb
        )
        # The calibrator maps out-of-fold log-odds to outcomes, as scikit-learn's
        # CalibratedClassifierCV(method="sigmoid", ensemble=False) does.
        calibrators[label] = (
            fit_calibrator(result.log_odds, result.targets)
            if result.calibrate and result.log_odds is not None and result.targets is not None
            else None
        )
        if result.folds:
            out_of_sample[label] = out_of_sample_probabilities(
                data, label, result, calibrators[label]
            )
        cv[label] = result.summary()
    identity = None
    if all(label in out_of_sample for label in ABUSE_LABELS):
        flagged = np.logical_or.reduce(
            [out_of_sample[label] >= thresholds[label] for label in ABUSE_LABELS]
        )
        identity = identity_false_positives(data, flagged)
        templates = identity["templates"]
        worst = max(templates["per_term"].items(), key=lambda item: item[1], default=("-", 0.0))
        log(
            f"held-out identity templates flagged abusive: {templates['overall']:.2%} (worst "
            f"term {worst[0]} {worst[1]:.1%}); non-toxic corpus texts naming a group: "
            f"{identity['corpus']['naming_a_group']:.2%}"
        )
    spam_elsewhere = None
    if "spam" in out_of_sample:
        spam_elsewhere = spam_flags_elsewhere(data, out_of_sample["spam"] >= thresholds["spam"])
    metadata: dict[str, Any] = {
        "seed": seed,
        "template_weight_scale": TEMPLATE_WEIGHT_SCALE,
        "identity_false_positives": identity,
        "spam_flags_elsewhere": spam_elsewhere,
        "limit": limit,
        "features": config_dict(config),
        "settings": [setting.name for setting in SETTINGS],
        "cv_folds": CV_FOLDS,
        "solver": "liblinear (L2 logistic regression)",
        "sklearn_version": sklearn.__version__,
        "fpr_budget": dict(FPR_BUDGET),
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


def _percent(value: float) -> str:
    return f"{value:.1%}" if value >= 0.001 or value == 0 else f"{value:.2%}"


def training_markdown(metadata: dict[str, Any], digest: str, size: int) -> str:
    """The card's training section: data per label, chosen settings, thresholds, CV
    figures, identity-term and spam checks."""
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
        "Out of fold, at the chosen setting. The threshold is the lowest whose false-positive "
        "rate on the label's negatives is within its budget; P, R, F1 and FPR are measured "
        "there. The best-F1 threshold is shown for comparison only.",
        "",
        "| label | rows (pos) | setting | Platt | ROC-AUC | AP | log loss (raw) | ECE (raw) "
        "| FPR budget | threshold | P | R | F1 | FPR | best-F1 threshold (F1) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, cv in metadata["cross_validation"].items():
        chosen = cv.get("chosen")
        if not chosen:
            lines.append(
                f"| {label} | – | {cv['setting']} | not cross-validated | | | | | | "
                f"{cv['threshold']:.2f} | | | | | |"
            )
            continue
        lines.append(
            f"| {label} | {cv['rows']:,} ({cv['positives']:,}) | {cv['setting']} | "
            f"{'yes' if cv['calibrate'] else 'no'} | "
            f"{chosen['roc_auc']:.4f} | {chosen['average_precision']:.4f} | "
            f"{chosen['log_loss']:.4f} ({chosen['raw_log_loss']:.4f}) | "
            f"{chosen['ece']:.4f} ({chosen['raw_ece']:.4f}) | {_percent(cv['fpr_budget'])} | "
            f"{cv['threshold']:.2f} | {chosen['precision']:.3f} | {chosen['recall']:.3f} | "
            f"{chosen['f1']:.3f} | {_percent(chosen['fpr'])} | "
            f"{chosen['best_f1_threshold']:.2f} ({chosen['best_f1']:.3f}) |"
        )
    settings = metadata["settings"]
    lines += [
        "",
        "Settings tried (NB = features scaled by their log-count ratio), out-of-fold ROC-AUC / "
        "log loss raw / log loss after Platt; the lowest log loss wins:",
        "",
        "| label | " + " | ".join(settings) + " |",
        "|---|" + "---|" * len(settings),
    ]
    for label, cv in metadata["cross_validation"].items():
        cells = [
            f"{cv['grid'][name]['roc_auc']:.4f} / {cv['grid'][name]['log_loss']:.4f} / "
            f"{cv['grid'][name]['platt_log_loss']:.4f}"
            if name in cv["grid"]
            else "–"
            for name in settings
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
    identity = metadata.get("identity_false_positives")
    if identity:
        templates, corpus = identity["templates"], identity["corpus"]
        worst = sorted(templates["per_term"].items(), key=lambda item: (-item[1], item[0]))[:6]
        corpus_terms = sorted(
            corpus["per_term"].items(), key=lambda item: (-item[1]["rate"], item[0])
        )
        lines += [
            "",
            f"Identity terms. Identity templates weigh {metadata['template_weight_scale']} × "
            'their Dixon balancing weight. "Abusive" = any of toxicity, insult, '
            "identity_attack, threat at its threshold, from out-of-sample probabilities. "
            f"Held out by template, {_percent(templates['overall'])} of "
            f"{templates['sentences']:,} template sentences were flagged abusive; highest "
            "terms: " + ", ".join(f"{term} {_percent(rate)}" for term, rate in worst) + ". "
            f"Of the {corpus['texts']:,} corpus texts labelled non-toxic, "
            f"{_percent(corpus['overall'])} were flagged abusive; of the "
            f"{corpus['texts_naming_a_group']:,} among them that name an identity group, "
            f"{_percent(corpus['naming_a_group'])}. Per term (≥ {MIN_TERM_ROWS} texts):",
            "",
            "| term | non-toxic corpus texts | flagged abusive |",
            "|---|---|---|",
        ]
        for term, figures in corpus_terms:
            lines.append(f"| {term} | {figures['n']:,} | {_percent(figures['rate'])} |")
    spam = metadata.get("spam_flags_elsewhere")
    if spam:
        lines += [
            "",
            "Spam flags on corpora that say nothing about spam (never screened for it, but "
            "nearly all ordinary posts): "
            + ", ".join(f"{source} {_percent(share)}" for source, share in spam.items())
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
    text = with_block(text, TRAIN_BEGIN, TRAIN_END, block)
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
