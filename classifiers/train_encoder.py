"""Fit the text-encoder heads from the training corpora, deterministically.

Rows: everything the n-gram model trains on (``classifiers.train.assemble``: the
corpora, identity and spam templates), plus the French corpora and the context
templates (:mod:`classifiers.context_templates`). Nothing under ``eval/`` is read.

Every text goes to one of :data:`FOLDS` folds (sentences written from one template stay
together). Stacking needs the n-gram model's log-odds for texts it has not seen, so for
each fold the n-gram label models are refitted, with the settings the committed
text-linear model chose, on the other folds' rows and its texts are scored by them; the
French and context texts, which the committed model never read, are scored by it.

The encoder's upper layers are fine-tuned (:mod:`classifiers.fine_tune`) once without each
fold and once on every text; in cross-validation, fold ``k``'s heads read the embeddings
from the layers tuned without fold ``k``, and the shipped heads those from the layers tuned
on every text, which the artifact carries.

Per label, the heads' regularisation is chosen by out-of-fold log loss over
:data:`C_GRID`, and so is the combination: the stacked head, or the mean of the
encoder-only and n-gram-only heads' probabilities; the threshold is the lowest whose
out-of-fold false-positive rate on the label's corpus negatives is within its budget
(:data:`classifiers.thresholds.FPR_BUDGET`, the same budgets as text-linear); the final
heads are fitted on all rows.

French heads (:func:`fit_language_heads`): per label whose French training corpora hold both
classes, the same variants (chosen by out-of-fold ROC-AUC, over a C grid of their own) and
the same false-positive budget, on French rows only (the French corpora and the French
context templates) and their folds; the French threshold is the one the French heads'
scores are mapped onto the shared threshold from.

Pooled token sums and out-of-fold log-odds are cached under ``.cache/text-encoder`` (keyed by
what determines them); the heads are fitted single-threaded with fixed seeds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from classifiers import context_templates, identity_templates, linear
from classifiers.datasets import (
    ABUSE_LABELS,
    ENCODER_ONLY_READERS,
    LABELS,
    Example,
    read_training_data,
)
from classifiers.encoder import (
    ARTIFACT_NAME,
    LOG_ODDS_CLIP,
    MEAN,
    MEAN_WITH_NETWORK,
    STACKED,
    STACKED_WITH_NETWORK,
    EncoderTextClassifier,
    stacked_features,
)
from classifiers.fine_tune import fine_tune_upper, fine_tuning_settings
from classifiers.marked_block import with_block
from classifiers.sentence_encoder import POOLED_WIDTH, SentenceEncoder, UpperLayers, load_encoder
from classifiers.thresholds import FPR_BUDGET, confusion_figures, threshold_at_fpr
from classifiers.train import TEMPLATE_SOURCES, _subsample, assemble, roc_auc_by_source

Log = Callable[[str], None]

FOLDS = 3
C_GRID: tuple[float, ...] = (0.05,)
"""Inverse L2 strength of a head, on standardised features. On a 200-rows-per-corpus
run, C = 0.05 beat 0.5 on every label by out-of-fold log loss (model card); the full run
keeps the one value, since each fit over 500 dense features costs about a minute here."""
COMPARISON_C = 0.05
"""The C at which the encoder-only and n-gram-only variants are cross-validated."""
NETWORK_HIDDEN = 256
NETWORK_ALPHA = 0.01
"""The network candidate: one hidden layer of this many ReLU units over the standardised
features, L2 strength ``alpha``, Adam with early stopping on a seeded tenth of its rows.
On the cross-validation samples 256 units at alpha 0.01 matched 512 units and alpha 0.001
by out-of-fold log loss at half the cost (model card, "What was tried")."""
CV_ROWS = 15_000
"""Cross-validation (choice of variant, figures and thresholds) runs on a uniform random
sample of at most this many of a label's rows, which keeps its base rate; the final head
is fitted on all of them."""
CONTEXT_TEMPLATE_WEIGHT = 3.0
"""Training weight of a context-template sentence (corpus rows weigh 1). There are a few
thousand of them beside a hundred thousand corpus rows."""
IDENTITY_TEMPLATE_WEIGHT_CAP = 3.0
"""The heads weigh an identity-template sentence at most this much (the n-gram model's
Dixon balancing gives some up to 132). Among no cap, 10 and 3, a cap of 3 had the lowest
out-of-fold log loss for identity_attack and changed no other label (model card); the
templates only ever say "naming a group is not abuse", and at full weight they pulled
down every sentence that names one, abusive comparisons included."""
CONTEXT_GROUP_OFFSET = 20_000
SYNTHETIC_SOURCES = (*TEMPLATE_SOURCES, context_templates.SOURCE)
HEAD_ROWS_PER_CORPUS: int | None = None
"""When set, the heads read at most this many rows of each English corpus (a seeded sample,
the same one ``--limit`` takes), and every French row and template sentence, while the
n-gram log-odds they stack on still come from models fitted on every row. None: every row
(the shipped heads)."""
DEFAULT_CACHE = Path(".cache") / "text-encoder"
_CHUNK = 2048
_CHUNKS_PER_SAVE = 8


def _quiet(message: str) -> None:
    del message


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class CachedEncoder:
    """A :class:`SentenceEncoder` whose pooled token sums are kept on disk by text digest,
    so training and evaluation runs do not recompute them (the upper layers are cheap and
    run each time). Same ``pooled``, ``embed``, ``upper`` and version."""

    def __init__(self, encoder: SentenceEncoder, directory: Path, log: Log = _quiet) -> None:
        self.encoder = encoder
        self.version = encoder.version
        self.version_parts = encoder.version_parts
        self.upper = encoder.upper
        self._path = Path(directory) / f"pooled-{encoder.version[7:23]}.npz"
        self._log = log
        self._rows: dict[bytes, int] = {}
        self._matrix = np.zeros((0, POOLED_WIDTH), dtype=np.float32)
        if self._path.exists():
            with np.load(self._path) as stored:
                keys, self._matrix = stored["keys"], stored["pooled"]
            # Digests are stored as fixed 32-byte strings, which NumPy reads back without
            # their trailing zero bytes.
            self._rows = {bytes(key).ljust(32, b"\0"): i for i, key in enumerate(keys)}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.upper.embed(self.pooled(texts))

    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        digests = [_digest(text) for text in texts]
        missing = list(dict.fromkeys(d for d in digests if d not in self._rows))
        if missing:
            first = dict(zip(digests, texts, strict=True))
            started = time.perf_counter()
            fresh: list[np.ndarray] = []
            done = 0
            for start in range(0, len(missing), _CHUNK):
                part = missing[start : start + _CHUNK]
                fresh.append(self.encoder.pooled([first[d] for d in part]))
                self._log(
                    f"  encoded {start + len(part):,}/{len(missing):,} texts "
                    f"({time.perf_counter() - started:.0f}s)"
                )
                if len(fresh) == _CHUNKS_PER_SAVE or start + _CHUNK >= len(missing):
                    # Saved as it goes, so an interrupted run keeps what it computed.
                    base = len(self._matrix)
                    self._matrix = np.vstack([self._matrix, *fresh])
                    saved = missing[done : start + len(part)]
                    self._rows.update((d, base + i) for i, d in enumerate(saved))
                    done = start + len(part)
                    fresh = []
                    self._save()
        return self._matrix[[self._rows[d] for d in digests]]

    def _save(self) -> None:
        # Rows are written in the order of their keys (a text encoded again after its key
        # went missing would otherwise leave an orphan row and shift every later key).
        items = sorted(self._rows.items(), key=lambda item: item[1])
        self._matrix = self._matrix[[row for _, row in items]]
        self._rows = {key: i for i, (key, _) in enumerate(items)}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array([key for key, _ in items], dtype="S32")
        temporary = self._path.with_suffix(".tmp.npz")
        np.savez(temporary, keys=keys, pooled=self._matrix)
        temporary.replace(self._path)


@dataclass
class HeadRows:
    """The rows one label's head is trained on (indices into the shared texts)."""

    text_index: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    synthetic: np.ndarray
    """True for sentences written from templates: they shape the head but never count in
    its figures or threshold."""
    sources: list[str]


@dataclass
class HeadData:
    texts: list[str]
    ngram_texts: int
    """The first ``ngram_texts`` texts are the n-gram model's own training texts."""
    fold: np.ndarray
    rows: dict[str, HeadRows]
    ngram_rows: dict[str, Any]
    source_counts: dict[str, dict[str, list[int]]]
    language: np.ndarray
    """Per text: ``fr`` for the French corpora and French context templates, else ``en``."""


def assemble_heads(data_dir: Path, limit: int | None, seed: int, log: Log) -> HeadData:
    """The n-gram model's rows, then the French corpora and the context templates."""
    base = assemble(data_dir, limit, seed, log)
    texts = list(base.texts)
    position = {text: i for i, text in enumerate(texts)}
    group = np.full(len(texts), -1, dtype=np.int64)
    for label_rows in base.labels.values():
        template_rows = label_rows.group >= 0
        group[label_rows.text_index[template_rows]] = label_rows.group[template_rows]
    extra: list[tuple[Example, int]] = []
    french: set[str] = set()
    for folder, reader in ENCODER_ONLY_READERS.items():
        found = reader(data_dir / folder)
        if limit is not None and len(found) > limit:
            keep = np.sort(np.random.RandomState(seed).permutation(len(found))[:limit])
            found = [found[i] for i in keep]
        log(f"read {folder}: {len(found)} rows (encoder heads only)")
        extra.extend((example, -1) for example in found)
        french.update(example.text for example in found)
    context = context_templates.context_examples()
    log(f"context templates: {len(context)} sentences")
    extra.extend((example, CONTEXT_GROUP_OFFSET + number) for example, _, number in context)
    french.update(
        example.text
        for example, _, number in context
        if context_templates.language_of_number(number) == "fr"
    )
    ngram_texts = len(texts)
    extra_rows: dict[str, list[tuple[int, int, str]]] = {label: [] for label in LABELS}
    for example, number in extra:
        if example.text in position and position[example.text] < ngram_texts:
            continue  # the n-gram rows already decide this text
        if example.text not in position:
            position[example.text] = len(texts)
            texts.append(example.text)
            group = np.append(group, number)
        index = position[example.text]
        for label, value in example.targets.items():
            extra_rows[label].append((index, value, example.source))
    # Folds: a template's sentences together, everything else at random.
    random = np.random.RandomState(seed)
    fold = random.randint(0, FOLDS, size=len(texts))
    templated = group >= 0
    numbers = np.unique(group[templated])
    order = np.random.RandomState(seed + 1).permutation(len(numbers))
    fold_of = {int(numbers[k]): p % FOLDS for p, k in enumerate(order)}
    fold[templated] = [fold_of[int(g)] for g in group[templated]]

    rows: dict[str, HeadRows] = {}
    counts: dict[str, dict[str, list[int]]] = {}
    for label in LABELS:
        own = base.labels[label]
        seen: dict[int, int] = {}
        added_index, added_targets, added_sources = [], [], []
        for index, value, source in extra_rows[label]:
            if index in seen:
                continue  # first reading wins (duplicates inside a corpus are rare)
            seen[index] = value
            added_index.append(index)
            added_targets.append(value)
            added_sources.append(source)
        sources = list(own.sources) + added_sources
        own_weights = np.where(
            np.array(own.sources) == identity_templates.TEMPLATE_SOURCE,
            np.minimum(own.weights, IDENTITY_TEMPLATE_WEIGHT_CAP),
            own.weights,
        )
        weights = np.concatenate(
            [
                own_weights,
                [
                    CONTEXT_TEMPLATE_WEIGHT if s == context_templates.SOURCE else 1.0
                    for s in added_sources
                ],
            ]
        )
        synthetic = np.array([s in SYNTHETIC_SOURCES for s in sources], dtype=bool)
        rows[label] = HeadRows(
            np.concatenate([own.text_index, np.array(added_index, dtype=np.int64)]),
            np.concatenate([own.targets, np.array(added_targets, dtype=np.int64)]),
            weights,
            synthetic,
            sources,
        )
        per_source: dict[str, list[int]] = {}
        for source, target in zip(sources, rows[label].targets, strict=True):
            per_source.setdefault(source, [0, 0])[int(target)] += 1
        counts[label] = per_source
        log(f"label {label}: {len(sources):,} rows, {int(rows[label].targets.sum()):,} positive")
    language = np.array(
        ["fr" if i >= ngram_texts and text in french else "en" for i, text in enumerate(texts)]
    )
    return HeadData(texts, ngram_texts, fold, rows, base.labels, counts, language)


def head_texts(data_dir: Path, per_corpus: int | None, seed: int) -> set[str]:
    """The texts of the English corpora the heads read: each corpus cut to ``per_corpus``
    rows by the same seeded sample as ``classifiers.train.assemble(limit=...)``."""
    texts: set[str] = set()
    for _, found in read_training_data(data_dir):
        texts.update(example.text for example in _subsample(found, per_corpus, seed))
    return texts


def _restrict(rows: HeadRows, keep: np.ndarray) -> HeadRows:
    """The rows whose text is kept (``keep`` is a mask over the shared texts)."""
    mask = keep[rows.text_index]
    return HeadRows(
        rows.text_index[mask],
        rows.targets[mask],
        rows.weights[mask],
        rows.synthetic[mask],
        [source for source, kept in zip(rows.sources, mask, strict=True) if kept],
    )


def out_of_fold_ngram(
    data: HeadData, ngram: linear.LinearTextClassifier, seed: int, cache: Path, log: Log
) -> np.ndarray:
    """The n-gram model's log-odds for every text, each from a model that did not see it
    (see the module docstring)."""
    key = hashlib.sha256()
    key.update(ngram.version.encode())
    key.update(f"{seed} {FOLDS}".encode())
    for text, fold in zip(data.texts, data.fold, strict=True):
        key.update(_digest(text))
        key.update(bytes([int(fold)]))
    path = cache / f"ngram-oof-{key.hexdigest()[:16]}.npy"
    if path.exists():
        log(f"out-of-fold n-gram log-odds from {path}")
        stored: np.ndarray = np.load(path)
        return stored
    started = time.perf_counter()
    result = np.zeros((len(data.texts), len(ngram.labels)))
    own = slice(0, data.ngram_texts)
    features = ngram.features(data.texts[own])
    log(f"n-gram features for {data.ngram_texts:,} texts ({time.perf_counter() - started:.0f}s)")
    own_fold = data.fold[own]
    for column, label in enumerate(ngram.labels):
        rows = data.ngram_rows[label]
        setting = ngram.metadata["cross_validation"][label]
        row_fold = own_fold[rows.text_index]
        for fold in range(FOLDS):
            fit = row_fold != fold
            held = np.flatnonzero(own_fold == fold)
            if len(np.unique(rows.targets[fit])) < 2:
                # Only in runs cut by ``limit``: too few positives to refit on.
                result[held, column] = ngram.decision([data.texts[i] for i in held])[:, column]
                continue
            model = linear.fit_label(
                features[rows.text_index[fit]],
                rows.targets[fit],
                setting["c"],
                seed,
                rows.weights[fit],
                nb=setting["nb"],
            )
            result[held, column] = model.decision_function(features[held])
        log(f"  {label}: out-of-fold n-gram log-odds ({time.perf_counter() - started:.0f}s)")
    if len(data.texts) > data.ngram_texts:
        result[data.ngram_texts :] = ngram.decision(data.texts[data.ngram_texts :])
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, result)
    return result


def _fit_head(
    features: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    c: float,
    seed: int,
    start: LogisticRegression | None = None,
    columns: slice | None = None,
) -> LogisticRegression:
    """An L2 logistic regression; with ``start``, lbfgs begins from its weights (on
    ``columns``). The problem is strictly convex, so the start changes only how many
    iterations it takes, not the answer (to the solver's tolerance)."""
    head = LogisticRegression(
        C=c, solver="lbfgs", max_iter=2000, random_state=seed, warm_start=start is not None
    )
    if start is not None:
        head.coef_ = start.coef_[:, columns if columns is not None else slice(None)].copy()
        head.intercept_ = start.intercept_.copy()
    return head.fit(features, targets, sample_weight=weights)


def _fit_network(
    features: np.ndarray, targets: np.ndarray, weights: np.ndarray, seed: int
) -> MLPClassifier:
    """The network candidate (``NETWORK_HIDDEN``), seeded (training runs it on one BLAS
    thread, so a rerun fits the same weights)."""
    network = MLPClassifier(
        hidden_layer_sizes=(NETWORK_HIDDEN,),
        alpha=NETWORK_ALPHA,
        early_stopping=True,
        n_iter_no_change=5,
        max_iter=200,
        random_state=seed,
    )
    network.fit(features, targets, sample_weight=weights)
    # What only further training reads (Adam's moments, the early-stopping copy of the
    # best weights) would triple the artifact; prediction reads the weights alone.
    network._optimizer = None
    for name in ("_best_coefs", "_best_intercepts", "_no_improvement_count"):
        if hasattr(network, name):
            delattr(network, name)
    return network


def _network_out_of_fold(
    fit_features: Sequence[np.ndarray],
    fit_rows: HeadRows,
    fit_fold: np.ndarray,
    held_features: Sequence[np.ndarray],
    held_fold: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Probabilities on the held rows, each from a network fitted on the fit rows outside
    its fold (the same rows, or a label's every row for a subset of them). Features are
    per fold (see :func:`_out_of_fold`)."""
    probabilities = np.zeros(len(held_fold))
    for k in range(FOLDS):
        held = held_fold == k
        if held.any():
            fit = fit_fold != k
            network = _fit_network(
                fit_features[k][fit], fit_rows.targets[fit], fit_rows.weights[fit], seed
            )
            probabilities[held] = network.predict_proba(held_features[k][held])[:, 1]
    return probabilities


def _out_of_fold(
    features: Sequence[np.ndarray],
    rows: HeadRows,
    fold: np.ndarray,
    c: float,
    seed: int,
    start: LogisticRegression | None = None,
    columns: slice | None = None,
) -> np.ndarray:
    """Probabilities on every row, each from a head fitted on the rows outside its fold.
    ``features[k]`` is what fold ``k``'s head reads: the features through the upper layers
    tuned without fold ``k`` (:func:`tune_upper_layers`), so a held row is embedded, like
    a new text, by layers that never saw it."""
    probabilities = np.zeros(len(rows.targets))
    for k in range(FOLDS):
        fit, held = fold != k, fold == k
        if held.any():
            head = _fit_head(
                features[k][fit], rows.targets[fit], rows.weights[fit], c, seed, start, columns
            )
            probabilities[held] = head.predict_proba(features[k][held])[:, 1]
    return probabilities


def _columns(features: Sequence[np.ndarray], part: slice) -> list[np.ndarray]:
    return [matrix[:, part] for matrix in features]


def tune_upper_layers(
    data: HeadData,
    kept: np.ndarray,
    pooled: np.ndarray,
    ngram_log_odds: np.ndarray,
    pretrained: UpperLayers,
    seed: int,
    log: Log,
) -> tuple[list[UpperLayers], UpperLayers]:
    """The encoder's upper layers fine-tuned (:mod:`classifiers.fine_tune`) once per fold,
    without that fold's texts, for cross-validation, and once on every kept text, for the
    shipped classifier. ``pooled`` and ``ngram_log_odds`` are rows of the ``kept`` texts."""
    clipped = np.clip(ngram_log_odds, -LOG_ODDS_CLIP, LOG_ODDS_CLIP)
    scale = clipped.std(axis=0)
    scale[scale == 0] = 1.0
    ngram_standard = (clipped - clipped.mean(axis=0)) / scale
    position = np.full(len(data.texts), -1, dtype=np.int64)
    position[kept] = np.arange(len(kept))
    targets = np.full((len(kept), len(LABELS)), -1, dtype=np.int64)
    weights = np.zeros((len(kept), len(LABELS)))
    for column, label in enumerate(LABELS):
        rows = data.rows[label]
        targets[position[rows.text_index], column] = rows.targets
        weights[position[rows.text_index], column] = rows.weights
    kept_fold = data.fold[kept]
    tuned: list[UpperLayers] = []
    for k in [*range(FOLDS), None]:
        fit = kept_fold != k if k is not None else np.ones(len(kept), dtype=bool)
        started = time.perf_counter()
        layers = fine_tune_upper(
            pretrained,
            pooled[fit],
            ngram_standard[fit],
            targets[fit],
            weights[fit],
            seed,
            log,
        )
        tuned.append(layers)
        which = f"without fold {k}" if k is not None else "on every text"
        log(f"upper layers tuned {which} ({time.perf_counter() - started:.0f}s)")
    return tuned[:FOLDS], tuned[FOLDS]


def _figures(probabilities: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(targets, probabilities)),
        "log_loss": float(
            log_loss(targets, np.clip(probabilities, 1e-12, 1 - 1e-12), labels=[0, 1])
        ),
    }


FRENCH = "fr"
LANGUAGE_HEAD_MIN_CLASS_ROWS = 100
"""A language gets its own head for a label only when its training corpora hold at least
this many rows of each class for it (French: toxicity and identity_attack)."""


LANGUAGE_C_GRID: tuple[float, ...] = (0.0003, 0.001, 0.003, 0.01, 0.05)
"""Inverse L2 strengths tried for a language's own heads. They read a few thousand rows,
not a hundred thousand, so they get a stronger choice than :data:`C_GRID`."""


@dataclass
class _LanguageHead:
    """One label's chosen language head: its variant, heads and out-of-fold scores."""

    combination: str
    c: float
    stacked: LogisticRegression
    single: dict[str, LogisticRegression]
    out_of_fold: np.ndarray
    grid: dict[str, dict[str, float]]


def _choose_language_head(
    features: np.ndarray,
    fold_features: Sequence[np.ndarray],
    rows: HeadRows,
    fold: np.ndarray,
    columns: tuple[slice, slice],
    seed: int,
    network_out_of_fold: np.ndarray | None = None,
) -> _LanguageHead:
    """Per C in :data:`LANGUAGE_C_GRID`, the stacked head, the mean of the two single-input
    heads and, given ``network_out_of_fold`` (the shared network's out-of-fold
    probabilities on these rows), the mean of the stacked head and that network,
    cross-validated; the variant with the highest out-of-fold ROC-AUC on the real rows is
    kept (ties: the first, in that order, smaller C first).

    By ROC-AUC, not by log loss as for the shared heads: a language head's probabilities
    are remapped onto the shared threshold, which keeps their order and not their
    calibration, so ranking is what carries over (on French at C 0.05, log loss preferred
    the mean, whose ranking is worse: toxicity ROC-AUC 0.684 vs 0.719)."""
    real = ~rows.synthetic
    grid: dict[str, dict[str, float]] = {}
    best: _LanguageHead | None = None
    best_score = -1.0
    for c in LANGUAGE_C_GRID:
        stacked = _fit_head(features, rows.targets, rows.weights, c, seed)
        out = _out_of_fold(fold_features, rows, fold, c, seed, stacked)
        alone = [
            _out_of_fold(_columns(fold_features, part), rows, fold, c, seed, stacked, part)
            for part in columns
        ]
        candidates = {
            (STACKED, f"stacked C={c:g}"): out,
            (MEAN, f"mean of the two C={c:g}"): (alone[0] + alone[1]) / 2,
        }
        if network_out_of_fold is not None:
            name = f"stacked with the shared network C={c:g}"
            candidates[(STACKED_WITH_NETWORK, name)] = (out + network_out_of_fold) / 2
        for (combination, name), probabilities in candidates.items():
            grid[name] = _figures(probabilities[real], rows.targets[real])
            score = grid[name]["roc_auc"]
            if score > best_score:
                best_score = score
                best = _LanguageHead(combination, c, stacked, {}, probabilities, {})
    assert best is not None, "the C grid is not empty"
    best.grid = grid
    if best.combination == MEAN:
        best.single = {
            part_name: _fit_head(
                features[:, part], rows.targets, rows.weights, best.c, seed, best.stacked, part
            )
            for part_name, part in zip(("encoder", "ngram"), columns, strict=True)
        }
    return best


def fit_language_heads(
    data: HeadData,
    standard: np.ndarray,
    fold_standard: Sequence[np.ndarray],
    feature_row: np.ndarray,
    columns: tuple[slice, slice],
    language: str,
    seed: int,
    log: Log = _quiet,
    networks: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``language``'s own heads, fitted on its rows only, with each label's threshold at
    its false-positive budget on those rows out of fold: the artifact's entry for the
    language (see :meth:`EncoderTextClassifier.from_parts`) and its training report. A
    label in ``networks`` (those whose shared heads have a network) may also average its
    stacked head with that network, which has read every language's rows."""
    heads: dict[str, LogisticRegression] = {}
    single_input_heads: dict[str, dict[str, LogisticRegression]] = {}
    combination: dict[str, str] = {}
    thresholds: dict[str, float] = {}
    report: dict[str, Any] = {}
    for label in LABELS:
        rows = _restrict(data.rows[label], data.language == language)
        real = ~rows.synthetic
        positives = int(rows.targets[real].sum())
        if min(positives, int(real.sum()) - positives) < LANGUAGE_HEAD_MIN_CLASS_ROWS:
            continue
        features = standard[feature_row[rows.text_index]]
        fold_features = [matrix[feature_row[rows.text_index]] for matrix in fold_standard]
        fold = data.fold[rows.text_index]
        # The shared network's probabilities on these rows, each from a network fitted,
        # as the shared one is, on every row of the label outside the row's fold.
        every = data.rows[label]
        network_out_of_fold = (
            _network_out_of_fold(
                [matrix[feature_row[every.text_index]] for matrix in fold_standard],
                every,
                data.fold[every.text_index],
                fold_features,
                fold,
                seed,
            )
            if label in networks
            else None
        )
        head = _choose_language_head(
            features, fold_features, rows, fold, columns, seed, network_out_of_fold
        )
        chosen, grid = head.combination, head.grid
        probabilities, targets = head.out_of_fold[real], rows.targets[real]
        threshold = threshold_at_fpr(probabilities, targets, FPR_BUDGET[label])
        combination[label] = chosen
        heads[label] = head.stacked
        if head.single:
            single_input_heads[label] = head.single
        thresholds[label] = threshold
        sources = [s for s, r in zip(rows.sources, real, strict=True) if r]
        by_source = roc_auc_by_source(probabilities, targets, sources)
        report[label] = {
            "combination": chosen,
            "c": head.c,
            "rows": int(real.sum()),
            "positives": positives,
            "synthetic_rows": int(rows.synthetic.sum()),
            "threshold": threshold,
            "fpr_budget": FPR_BUDGET[label],
            "grid": grid,
            "roc_auc_by_source": by_source,
            **confusion_figures(probabilities, targets, threshold),
        }
        log(
            f"{language} {label}: {chosen}, C={head.c:g}, threshold {threshold:.2f}; "
            "out-of-fold ROC-AUC "
            + ", ".join(f"{name} {figures['roc_auc']:.4f}" for name, figures in grid.items())
        )
    entry = {
        "heads": heads,
        "single_input_heads": single_input_heads,
        "combination": combination,
        "thresholds": thresholds,
    }
    return entry, report


def train_heads(
    data_dir: Path,
    seed: int = 0,
    limit: int | None = None,
    cache: Path = DEFAULT_CACHE,
    log: Log = _quiet,
) -> tuple[EncoderTextClassifier, dict[str, Any]]:
    """Cross-validate and fit the heads; return the classifier and its training report."""
    started = time.perf_counter()
    encoder = load_encoder()
    ngram = linear.load_model()
    data = assemble_heads(data_dir, limit, seed, log)
    ngram_log_odds = out_of_fold_ngram(data, ngram, seed, cache, log)
    # Every French row and template sentence, and a sample of each English corpus.
    sampled = head_texts(data_dir, HEAD_ROWS_PER_CORPUS, seed)
    keep = np.array([i >= data.ngram_texts or text in sampled for i, text in enumerate(data.texts)])
    for label, synthetic in ((label, data.rows[label].synthetic) for label in LABELS):
        keep[data.rows[label].text_index[synthetic]] = True
    data.rows = {label: _restrict(rows, keep) for label, rows in data.rows.items()}
    log(f"embedding {int(keep.sum()):,} texts the heads read (cached in {cache})")
    kept = np.flatnonzero(keep)
    cached_encoder = CachedEncoder(encoder, cache, log)
    pooled = cached_encoder.pooled([data.texts[i] for i in kept])
    kept_log_odds = ngram_log_odds[kept]
    fold_layers, upper_layers = tune_upper_layers(
        data, kept, pooled, kept_log_odds, encoder.upper, seed, log
    )
    embeddings = upper_layers.embed(pooled)
    raw = stacked_features(embeddings, kept_log_odds)
    # Feature row of each kept text (-1 for texts the heads do not read).
    feature_row = np.full(len(data.texts), -1, dtype=np.int64)
    feature_row[kept] = np.arange(len(kept))
    mean = raw.mean(axis=0)
    scale = raw.std(axis=0)
    scale[scale == 0] = 1.0
    standard = (raw - mean) / scale
    # What each fold's heads read in cross-validation: every text through the layers
    # tuned without that fold, standardised as the shipped features are.
    fold_standard = [
        (stacked_features(layers.embed(pooled), kept_log_odds) - mean) / scale
        for layers in fold_layers
    ]
    encoder_columns = slice(0, embeddings.shape[1])
    ngram_columns = slice(embeddings.shape[1], raw.shape[1])

    heads: dict[str, LogisticRegression] = {}
    combination: dict[str, str] = {}
    single_input_heads: dict[str, dict[str, LogisticRegression]] = {}
    network_heads: dict[str, MLPClassifier] = {}
    thresholds: dict[str, float] = {}
    report: dict[str, Any] = {}
    for label in LABELS:
        all_rows = data.rows[label]
        all_features = standard[feature_row[all_rows.text_index]]
        sample = np.arange(len(all_rows.targets))
        if len(sample) > CV_ROWS:
            sample = np.sort(np.random.RandomState(seed).permutation(len(sample))[:CV_ROWS])
        rows = HeadRows(
            all_rows.text_index[sample],
            all_rows.targets[sample],
            all_rows.weights[sample],
            all_rows.synthetic[sample],
            [all_rows.sources[i] for i in sample],
        )
        fold_features = [matrix[feature_row[rows.text_index]] for matrix in fold_standard]
        fold = data.fold[rows.text_index]
        real = ~rows.synthetic
        grid: dict[str, dict[str, float]] = {}
        out: dict[float, np.ndarray] = {}
        final: dict[float, LogisticRegression] = {}
        for c in C_GRID:
            # The head on all rows first: the fold fits start from it.
            final[c] = _fit_head(all_features, all_rows.targets, all_rows.weights, c, seed)
            out[c] = _out_of_fold(fold_features, rows, fold, c, seed, final[c])
            grid[f"stacked C={c:g}"] = _figures(out[c][real], rows.targets[real])
        chosen = min(C_GRID, key=lambda c: grid[f"stacked C={c:g}"]["log_loss"])
        alone: list[np.ndarray] = []
        for name, columns in (("encoder only", encoder_columns), ("n-gram only", ngram_columns)):
            start = final.get(COMPARISON_C)
            alone.append(
                _out_of_fold(
                    _columns(fold_features, columns), rows, fold, COMPARISON_C, seed, start, columns
                )
            )
            grid[f"{name} C={COMPARISON_C:g}"] = _figures(alone[-1][real], rows.targets[real])
        # The ensemble alternatives to stacking: the mean of the two single-input heads,
        # and the mean of those two and the network.
        mean_of_two = (alone[0] + alone[1]) / 2
        grid["mean of the two"] = _figures(mean_of_two[real], rows.targets[real])
        network_alone = _network_out_of_fold(fold_features, rows, fold, fold_features, fold, seed)
        mean_with_network = (alone[0] + alone[1] + network_alone) / 3
        grid["mean with network"] = _figures(mean_with_network[real], rows.targets[real])
        candidates = {
            STACKED: (grid[f"stacked C={chosen:g}"], out[chosen]),
            MEAN: (grid["mean of the two"], mean_of_two),
            MEAN_WITH_NETWORK: (grid["mean with network"], mean_with_network),
        }
        # Ties go to the simpler combination (the order above).
        combination[label] = min(candidates, key=lambda name: candidates[name][0]["log_loss"])
        if combination[label] == MEAN_WITH_NETWORK:
            network_heads[label] = _fit_network(
                all_features, all_rows.targets, all_rows.weights, seed
            )
        if combination[label] in (MEAN, MEAN_WITH_NETWORK):
            single_input_heads[label] = {
                part: _fit_head(
                    all_features[:, columns],
                    all_rows.targets,
                    all_rows.weights,
                    COMPARISON_C,
                    seed,
                    final.get(COMPARISON_C),
                    columns,
                )
                for part, columns in (("encoder", encoder_columns), ("ngram", ngram_columns))
            }
        chosen_probabilities = candidates[combination[label]][1]
        probabilities, targets = chosen_probabilities[real], rows.targets[real]
        threshold = threshold_at_fpr(probabilities, targets, FPR_BUDGET[label])
        sources = [s for s, r in zip(rows.sources, real, strict=True) if r]
        by_source = roc_auc_by_source(probabilities, targets, sources)
        report[label] = {
            "c": chosen,
            "combination": combination[label],
            "rows": int((~all_rows.synthetic).sum()),
            "cv_rows": int(real.sum()),
            "positives": int(targets.sum()),
            "synthetic_rows": int(rows.synthetic.sum()),
            "threshold": threshold,
            "fpr_budget": FPR_BUDGET[label],
            "grid": grid,
            "roc_auc_by_source": by_source,
            **confusion_figures(probabilities, targets, threshold),
        }
        thresholds[label] = threshold
        heads[label] = final[chosen]
        log(
            f"label {label}: C={chosen:g}, {combination[label]}, threshold {threshold:.2f}; "
            "out-of-fold ROC-AUC "
            + ", ".join(f"{name} {figures['roc_auc']:.4f}" for name, figures in grid.items())
            + f" ({time.perf_counter() - started:.0f}s)"
        )
    french_heads, french_report = fit_language_heads(
        data,
        standard,
        fold_standard,
        feature_row,
        (encoder_columns, ngram_columns),
        FRENCH,
        seed,
        log,
        networks=sorted(network_heads),
    )
    language_heads = {FRENCH: french_heads}
    metadata: dict[str, Any] = {
        "seed": seed,
        "limit": limit,
        "folds": FOLDS,
        "c_grid": list(C_GRID),
        "network": {"hidden": NETWORK_HIDDEN, "alpha": NETWORK_ALPHA},
        "fine_tuning": fine_tuning_settings(),
        "cv_rows": CV_ROWS,
        "context_template_weight": CONTEXT_TEMPLATE_WEIGHT,
        "identity_template_weight_cap": IDENTITY_TEMPLATE_WEIGHT_CAP,
        "cross_validation": report,
        "training_rows": data.source_counts,
        "texts": len(kept),
        "head_rows_per_corpus": HEAD_ROWS_PER_CORPUS,
        "languages": {FRENCH: french_report},
    }
    parts = (heads, mean, scale, thresholds, metadata, encoder, ngram, combination)
    model = EncoderTextClassifier.from_parts(
        *parts, single_input_heads, language_heads, network_heads, upper_layers
    )
    metadata["validation"] = validation_figures(model.with_encoder(cached_encoder))
    model = EncoderTextClassifier.from_parts(
        *parts, single_input_heads, language_heads, network_heads, upper_layers
    )
    log(f"trained in {time.perf_counter() - started:.0f}s")
    return model, metadata


def validation_figures(model: EncoderTextClassifier) -> dict[str, Any]:
    """How the held-out context sentences (patterns, groups and topics never trained on)
    are judged at the thresholds: per kind, the share flagged "abusive" (any of
    toxicity, insult, identity_attack, threat at its threshold) and "insult"."""
    examples = context_templates.validation_examples()
    texts = [example.text for example, _, _ in examples]
    # Scored in their own language, as the service scores a text it knows the language of.
    languages = [context_templates.language_of_number(number) for _, _, number in examples]
    probabilities = model.probabilities(texts, languages)
    columns = {label: i for i, label in enumerate(model.labels)}
    abusive = np.logical_or.reduce(
        [probabilities[:, columns[a]] >= model.thresholds[a] for a in ABUSE_LABELS]
    )
    insult = probabilities[:, columns["insult"]] >= model.thresholds["insult"]
    kinds: dict[str, dict[str, Any]] = {}
    for (example, kind, _), flagged, insulting in zip(examples, abusive, insult, strict=True):
        entry = kinds.setdefault(
            kind,
            {"n": 0, "abusive": 0, "insult": 0, "expected": example.targets["toxicity"]},
        )
        entry["n"] += 1
        entry["abusive"] += int(flagged)
        entry["insult"] += int(insulting)
    return {
        kind: {
            **entry,
            "abusive": entry["abusive"] / entry["n"],
            "insult": entry["insult"] / entry["n"],
        }
        for kind, entry in sorted(kinds.items())
    }


# --- the model card -------------------------------------------------------------------------

TRAIN_BEGIN = "<!-- train:begin (written by `fairwitness classifiers train-encoder`) -->"
TRAIN_END = "<!-- train:end -->"


def training_markdown(metadata: dict[str, Any], digest: str, size: int) -> str:
    """The card's training section: rows, chosen C, thresholds and the CV comparison."""
    lines = [TRAIN_BEGIN, "", "### Training figures (cross-validation on train only)", ""]
    lines.append(
        f"Artifact `{ARTIFACT_NAME}`: {size:,} bytes, SHA-256 `{digest}`; seed "
        f"{metadata['seed']}, {metadata['folds']} folds, {metadata['texts']:,} unique texts"
        + (f", limit {metadata['limit']} rows per corpus" if metadata["limit"] else "")
        + f"; context templates weigh {metadata['context_template_weight']:g}, identity "
        f"templates at most {metadata.get('identity_template_weight_cap', '–')}."
    )
    variants = list(next(iter(metadata["cross_validation"].values()))["grid"])
    lines += [
        "",
        "Out-of-fold ROC-AUC / log loss on corpus rows (templates excluded) per variant; the "
        "stacked C with the lowest log loss is kept, then whichever of it, the mean of the "
        "two single-input heads and the mean of those two and the network has the lowest log "
        'loss ("used"). Threshold: lowest whose out-of-fold false-positive rate is within the '
        "budget, on the variant used; P, R, FPR there.",
        "",
        "| label | corpus rows | CV sample (positives) | "
        + " | ".join(variants)
        + " | chosen C | used | FPR budget | threshold | P | R | FPR |",
        "|---|---|---|" + "---|" * len(variants) + "---|---|---|---|---|---|---|",
    ]
    for label, cv in metadata["cross_validation"].items():
        cells = [
            f"{cv['grid'][name]['roc_auc']:.4f} / {cv['grid'][name]['log_loss']:.4f}"
            for name in variants
        ]
        lines.append(
            f"| {label} | {cv['rows']:,} | {cv['cv_rows']:,} ({cv['positives']:,}) | "
            + " | ".join(cells)
            + f" | {cv['c']:g} | {cv.get('combination', STACKED)} | {cv['fpr_budget']:.1%} | "
            f"{cv['threshold']:.2f} | "
            f"{cv['precision']:.3f} | {cv['recall']:.3f} | {cv['fpr']:.2%} |"
        )
    lines += ["", "Out-of-fold ROC-AUC by corpus (the variant used):", ""]
    for label, cv in metadata["cross_validation"].items():
        per = ", ".join(f"{s} {auc:.3f}" for s, auc in cv["roc_auc_by_source"].items())
        lines.append(f"- {label}: {per or '–'}")
    for language, per_label in metadata.get("languages", {}).items():
        lines += [
            "",
            f"Heads of their own for `{language}` (fitted on its rows only; out-of-fold on them; "
            "its scores are mapped so that its threshold lands on the shared one, so the FPR "
            "below is also the rate at the policy's threshold):",
            "",
            "| label | rows (positives) | "
            + " | ".join(next(iter(per_label.values()))["grid"] if per_label else [])
            + " | used | FPR budget | own threshold | P | R | FPR |",
            "|---|---|"
            + "---|" * (len(next(iter(per_label.values()))["grid"]) if per_label else 0)
            + "---|---|---|---|---|---|",
        ]
        names = list(next(iter(per_label.values()))["grid"]) if per_label else []
        for label, cv in per_label.items():
            cells = [
                f"{cv['grid'][name]['roc_auc']:.4f} / {cv['grid'][name]['log_loss']:.4f}"
                if name in cv["grid"]
                else "–"
                for name in names
            ]
            lines.append(
                f"| {label} | {cv['rows']:,} ({cv['positives']:,}) | "
                + " | ".join(cells)
                + f" | {cv['combination']} | {cv['fpr_budget']:.1%} | {cv['threshold']:.2f} | "
                f"{cv['precision']:.3f} | {cv['recall']:.3f} | {cv['fpr']:.2%} |"
            )
        lines += ["", f"Out-of-fold ROC-AUC by corpus (`{language}` heads):", ""]
        for label, cv in per_label.items():
            per = ", ".join(f"{s} {auc:.3f}" for s, auc in cv["roc_auc_by_source"].items())
            lines.append(f"- {label}: {per or '–'}")
    lines += ["", "Training rows per label and corpus (negatives / positives):", ""]
    for label, counts in metadata["training_rows"].items():
        parts = ", ".join(f"{source} {neg:,}/{pos:,}" for source, (neg, pos) in counts.items())
        lines.append(f"- {label}: {parts}")
    validation = metadata.get("validation")
    if validation:
        lines += [
            "",
            "Held-out context sentences (patterns, groups, topics and words never trained "
            "on; `classifiers/context_templates.py`, `validation_examples`), share flagged at "
            "the thresholds:",
            "",
            "| kind | n | should be abusive | flagged abusive | flagged insult |",
            "|---|---|---|---|---|",
        ]
        for kind, entry in validation.items():
            lines.append(
                f"| {kind} | {entry['n']} | {'yes' if entry['expected'] else 'no'} | "
                f"{entry['abusive']:.0%} | {entry['insult']:.0%} |"
            )
    lines += ["", TRAIN_END]
    return "\n".join(lines)


def write_card(directory: Path, metadata: dict[str, Any], digest: str, size: int) -> Path:
    """Set the card's ``SHA-256:`` line and replace its training section (created if
    missing); the rest of the card is left as written."""
    card = directory / linear.CARD_NAME
    block = training_markdown(metadata, digest, size)
    if not card.exists():
        card.write_text(
            f"# Model card: text-encoder\n\nSHA-256: {digest}\n\n{block}\n", encoding="utf-8"
        )
        return card
    text = card.read_text(encoding="utf-8")
    text = linear.SHA_LINE.sub(f"SHA-256: {digest}", text)
    text = with_block(text, TRAIN_BEGIN, TRAIN_END, block)
    card.write_text(text, encoding="utf-8")
    return card


def train_and_save(
    data_dir: Path,
    out_dir: Path,
    seed: int = 0,
    limit: int | None = None,
    cache: Path = DEFAULT_CACHE,
    log: Log = _quiet,
) -> str:
    """Fit, write ``heads.joblib`` and update ``MODEL_CARD.md``; return the digest."""
    with threadpool_limits(limits=1):
        model, metadata = train_heads(data_dir, seed=seed, limit=limit, cache=cache, log=log)
    data = model.artifact_bytes()
    digest = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ARTIFACT_NAME).write_bytes(data)
    card = write_card(out_dir, metadata, digest, len(data))
    log(f"wrote {out_dir / ARTIFACT_NAME} ({len(data):,} bytes, SHA-256 {digest}); {card}")
    return digest
