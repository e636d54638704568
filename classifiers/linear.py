"""The trained text model: TF-IDF word and character n-grams, one logistic regression
per label, with a fast scoring path, exact explanations and an integrity-checked
artifact.

Scores are ``sigmoid(w_label · x + b_label)`` where ``x`` is the concatenation of two
L2-normalised, sublinear-tf TF-IDF blocks (words, then characters). ``score`` computes
this with its own sparse arithmetic over the fitted vocabularies; ``score_reference``
asks scikit-learn, and the two agree to 1e-9 (a test holds them to it).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import io
import itertools
import re
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from classifiers.char_index import CharNgramIndex
from classifiers.features import (
    CHUNK_PATTERN,
    WORD_PATTERN,
    CharAnalyzer,
    WordAnalyzer,
    normalise,
)
from classifiers.protocol import Span

ARTIFACT_NAME = "model.joblib"
CARD_NAME = "MODEL_CARD.md"
ARTIFACT_FORMAT = 1
SHA_LINE = re.compile(r"^SHA-256: ([0-9a-f]{64})[ \t]*$", re.MULTILINE)
"""The one line of ``MODEL_CARD.md`` that pins the artifact: ``SHA-256: <64 hex>``."""

_CHUNK_CACHE_LIMIT = 200_000
_EMPTY_INDICES = np.zeros(0, dtype=np.int64)
# Up to this many texts are scored with plain arrays, more with sparse products.
_FEW_TEXTS = 4
# Texts whose explanation is kept: enough for the rules and labels of one batch item.
_CONTRIBUTION_CACHE_SIZE = 16
_WARM_UP_WORDS = 25_000


class ModelIntegrityError(ValueError):
    """The artifact does not match the SHA-256 its model card promises (or the card or
    its ``SHA-256:`` line is missing). Nothing was unpickled."""


@dataclass(frozen=True)
class FeatureConfig:
    """The n-gram features shared by every label."""

    word_max_features: int = 100_000
    word_min_df: int = 2
    char_min_n: int = 2
    char_max_n: int = 5
    char_max_features: int = 100_000
    char_min_df: int = 3


def default_model_dir() -> Path:
    """``classifiers/models/text-linear`` inside the installed package."""
    return Path(__file__).resolve().parent / "models" / "text-linear"


def fit_vectorizers(
    texts: Sequence[str], config: FeatureConfig
) -> tuple[TfidfVectorizer, TfidfVectorizer, sp.csr_matrix]:
    """Fit the word and character TF-IDF blocks on ``texts`` (labels play no part) and
    return them with the feature matrix of ``texts``.

    The fitted vectorizers hold nothing whose pickled form depends on hash seeds.
    """
    word = TfidfVectorizer(
        analyzer=WordAnalyzer(),
        sublinear_tf=True,
        min_df=config.word_min_df,
        max_features=config.word_max_features,
        dtype=np.float64,
    )
    char = TfidfVectorizer(
        analyzer=CharAnalyzer(config.char_min_n, config.char_max_n),
        sublinear_tf=True,
        min_df=config.char_min_df,
        max_features=config.char_max_features,
        dtype=np.float64,
    )
    blocks = []
    for vectorizer in (word, char):
        blocks.append(vectorizer.fit_transform(texts))
        # ``stop_words_`` is a set (its pickle order follows the hash seed) and is only
        # kept by scikit-learn for introspection.
        if hasattr(vectorizer, "stop_words_"):
            delattr(vectorizer, "stop_words_")
    return word, char, sp.hstack(blocks, format="csr")


def transform(word: TfidfVectorizer, char: TfidfVectorizer, texts: Sequence[str]) -> sp.csr_matrix:
    """The model's feature matrix for ``texts``, computed by scikit-learn."""
    matrix: sp.csr_matrix = sp.hstack([word.transform(texts), char.transform(texts)], format="csr")
    return matrix


def log_count_ratio(
    features: sp.csr_matrix, targets: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per feature, log of its (weighted, add-one smoothed) share of the positives' total
    feature mass over its share of the negatives' (Wang and Manning 2012, "Baselines and
    Bigrams"): how much more a feature belongs to one class than the other."""
    weights = np.ones(len(targets)) if weights is None else np.asarray(weights, dtype=np.float64)
    positive = targets == 1
    mass_pos = np.asarray(features[positive].T @ weights[positive]).ravel() + 1.0
    mass_neg = np.asarray(features[~positive].T @ weights[~positive]).ravel() + 1.0
    ratio: np.ndarray = np.log(mass_pos / mass_pos.sum()) - np.log(mass_neg / mass_neg.sum())
    return ratio


def fit_label(
    features: sp.csr_matrix,
    targets: np.ndarray,
    c: float,
    seed: int,
    weights: np.ndarray | None = None,
    nb: bool = False,
) -> LogisticRegression:
    """One label's L2 logistic regression (liblinear, deterministic for a seed).

    With ``nb``, the regression is fitted on the features scaled by their
    :func:`log_count_ratio` (NB-LR, after Wang and Manning's NBSVM), and the ratio is then
    folded into the coefficients, so the returned model reads the unscaled features like
    any other: the scaling only changes what the L2 penalty favours.
    """
    model = LogisticRegression(C=c, solver="liblinear", max_iter=1000, random_state=seed)
    if not nb:
        return model.fit(features, targets, sample_weight=weights)
    ratio = log_count_ratio(features, targets, weights)
    model.fit(features @ sp.diags(ratio), targets, sample_weight=weights)
    model.coef_ = model.coef_ * ratio
    return model


def fit_calibrator(log_odds: np.ndarray, targets: np.ndarray) -> LogisticRegression:
    """Platt scaling: an (effectively unregularised) logistic regression from a label
    model's log-odds to the probability of the label."""
    calibrator = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
    return calibrator.fit(np.asarray(log_odds, dtype=np.float64).reshape(-1, 1), targets)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    # The same function scikit-learn uses for binary predict_proba.
    probabilities: np.ndarray = expit(values)
    return probabilities


class LinearTextClassifier:
    """Scores texts for every label in ``labels``; implements ``Classifier``.

    Build one with :func:`load_model` (checked artifact) or :meth:`from_parts` (training).
    """

    name = "text-linear"

    def __init__(self, state: dict[str, Any], version: str) -> None:
        if state.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unsupported artifact format {state.get('format')!r}")
        self._state = state
        self.version = version
        self.labels: tuple[str, ...] = tuple(state["labels"])
        self.thresholds: dict[str, float] = dict(state["thresholds"])
        self.metadata: dict[str, Any] = state["metadata"]
        self._word: TfidfVectorizer = state["word_vectorizer"]
        self._char: TfidfVectorizer = state["char_vectorizer"]
        self._models: dict[str, LogisticRegression] = state["models"]
        self._char_analyzer: CharAnalyzer = self._char.analyzer
        self._word_vocab: dict[str, int] = self._word.vocabulary_
        self._char_vocab: dict[str, int] = self._char.vocabulary_
        self._word_idf = np.asarray(self._word.idf_, dtype=np.float64)
        self._char_idf = np.asarray(self._char.idf_, dtype=np.float64)
        n_word = len(self._word_idf)
        weights = np.column_stack(
            [self._models[label].coef_.ravel().astype(np.float64) for label in self.labels]
        )
        self._word_weights = np.ascontiguousarray(weights[:n_word])
        self._char_weights = np.ascontiguousarray(weights[n_word:])
        self._intercepts = np.array(
            [float(self._models[label].intercept_[0]) for label in self.labels]
        )
        self._calibrators: dict[str, LogisticRegression | None] = state["calibrators"]
        slopes, offsets = [], []
        for label in self.labels:
            calibrator = self._calibrators.get(label)
            if calibrator is None:
                slopes.append(1.0)
                offsets.append(0.0)
            else:
                slopes.append(float(calibrator.coef_[0, 0]))
                offsets.append(float(calibrator.intercept_[0]))
        self._slopes = np.array(slopes)
        self._offsets = np.array(offsets)
        if (self._slopes <= 0).any():
            raise ValueError("a calibrator reverses its label's ranking")
        self._label_index = {label: i for i, label in enumerate(self.labels)}
        self._explain_min_share = float(self.metadata.get("explain_min_share", 0.0))
        self._chunk_cache: dict[str, np.ndarray] = {}
        self._char_index = CharNgramIndex(self._char_analyzer, self._char_vocab)
        self._contributions = functools.lru_cache(maxsize=_CONTRIBUTION_CACHE_SIZE)(
            self._compute_contributions
        )

    @classmethod
    def from_parts(
        cls,
        word: TfidfVectorizer,
        char: TfidfVectorizer,
        models: dict[str, LogisticRegression],
        calibrators: dict[str, LogisticRegression | None],
        thresholds: dict[str, float],
        metadata: dict[str, Any],
    ) -> LinearTextClassifier:
        """A model from freshly fitted parts (version is that of its serialised bytes).

        ``calibrators[label]``, when not None, is a one-feature logistic regression from
        the label model's log-odds to a recalibrated probability (Platt scaling).
        """
        state = {
            "format": ARTIFACT_FORMAT,
            "labels": list(models),
            "word_vectorizer": word,
            "char_vectorizer": char,
            "models": models,
            "calibrators": calibrators,
            "thresholds": thresholds,
            "metadata": metadata,
        }
        return cls(state, "sha256:" + hashlib.sha256(_serialise(state)).hexdigest())

    # --- serialisation ---------------------------------------------------------------

    def artifact_bytes(self) -> bytes:
        """The exact bytes of ``model.joblib`` for this model."""
        return _serialise(self._state)

    def save(self, directory: Path) -> str:
        """Write ``model.joblib`` into ``directory``; return its SHA-256 hex digest.

        The model card is the caller's to write (see ``classifiers.train``).
        """
        directory.mkdir(parents=True, exist_ok=True)
        data = self.artifact_bytes()
        (directory / ARTIFACT_NAME).write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    # --- scoring ---------------------------------------------------------------------

    def score(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, float]]:
        """One dict per text with every label's probability in [0, 1]; ``languages`` is
        accepted and ignored (one model for every language).

        Computed with this module's own sparse arithmetic; equal to
        :meth:`score_reference` to within 1e-9.
        """
        probabilities = self.probabilities(texts)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probabilities]

    def probabilities(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """Calibrated probabilities per text (rows) and label (columns, ``labels`` order);
        ``languages`` is ignored."""
        del languages
        return _sigmoid(self.decision(texts) * self._slopes + self._offsets)

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """The label models' log-odds before calibration, per text (rows) and label
        (columns, in ``labels`` order)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)))
        word_get = self._word_vocab.get
        find_words = WORD_PATTERN.findall
        find_chunks = CHUNK_PATTERN.findall
        # array.array keeps the ints unboxed, so numpy takes them without a copy per item.
        word_indices = array("q")
        word_ptr = array("q", [0])
        chunks: list[str] = []
        chunk_ptr = array("q", [0])
        missing = repeat(-1)
        for text in texts:
            normal = normalise(text)
            tokens = find_words(normal)
            word_indices.extend(map(word_get, tokens, missing))
            word_indices.extend(map(word_get, map(" ".join, itertools.pairwise(tokens)), missing))
            word_ptr.append(len(word_indices))
            chunks.extend(find_chunks(normal))
            chunk_ptr.append(len(chunks))
        rows = len(texts)
        words = np.frombuffer(word_indices, np.int64) if word_indices else _EMPTY_INDICES
        word_rows = _rows_of(word_ptr)
        known = words >= 0
        words, word_rows = words[known], word_rows[known]
        if rows <= _FEW_TEXTS:
            # A few texts have a few hundred terms: plain array arithmetic, where building
            # sparse matrices would cost several times the sums themselves.
            grams = self._chunk_grams(chunks)
            lengths = np.fromiter(map(len, grams), np.int64, len(grams))
            chunk_rows = _rows_of(chunk_ptr)
            scores = _term_scores(words, word_rows, rows, self._word_idf, self._word_weights)
            scores += _term_scores(
                np.concatenate(grams) if grams else _EMPTY_INDICES,
                np.repeat(chunk_rows, lengths),
                rows,
                self._char_idf,
                self._char_weights,
            )
        else:
            # Many texts share words: sparse products analyse each distinct chunk once.
            scores = _count_scores(
                _term_counts(words, word_rows, rows, len(self._word_idf)),
                self._word_idf,
                self._word_weights,
            )
            scores += _count_scores(
                self._char_counts(chunks, chunk_ptr), self._char_idf, self._char_weights
            )
        scores += self._intercepts
        return scores

    def _char_counts(self, chunks: list[str], chunk_ptr: array[int]) -> sp.csr_matrix:
        """Character n-gram counts per text (rows): texts × chunks times chunks × n-grams,
        each distinct chunk analysed once (or taken from the cache)."""
        rows = len(chunk_ptr) - 1
        distinct = list(dict.fromkeys(chunks))
        number = dict(zip(distinct, range(len(distinct)), strict=True))
        occurrences = np.fromiter(map(number.__getitem__, chunks), np.int64, len(chunks))
        per_text = sp.csr_matrix(
            (np.ones(len(chunks)), occurrences, np.frombuffer(chunk_ptr, dtype=np.int64)),
            shape=(rows, len(distinct)),
        )
        grams = self._chunk_grams(distinct)
        lengths = np.fromiter(map(len, grams), np.int64, len(grams))
        pointer = np.zeros(len(grams) + 1, dtype=np.int64)
        np.cumsum(lengths, out=pointer[1:])
        indices = np.concatenate(grams) if grams else _EMPTY_INDICES
        per_chunk = sp.csr_matrix(
            (np.ones(len(indices)), indices, pointer), shape=(len(distinct), len(self._char_idf))
        )
        return per_text @ per_chunk

    def _chunk_grams(self, chunks: Sequence[str]) -> list[np.ndarray]:
        """Each chunk's in-vocabulary character n-gram indices, one per occurrence,
        analysed once per distinct chunk (or taken from the cache)."""
        cache = self._chunk_cache
        grams = list(map(cache.get, chunks))
        unknown = [i for i, known in enumerate(grams) if known is None]
        fresh: dict[str, np.ndarray] = {}
        if unknown:
            # Words repeat across texts, so most chunks are analysed once; the bound keeps
            # a long-running server from growing without limit on never-repeated junk.
            if len(cache) + len(unknown) > _CHUNK_CACHE_LIMIT:
                cache.clear()
            distinct = list(dict.fromkeys(chunks[i] for i in unknown))
            fresh = dict(zip(distinct, self._char_index.lookup(distinct), strict=True))
            cache.update(fresh)
        return [
            known if known is not None else fresh[chunk]
            for chunk, known in zip(chunks, grams, strict=True)
        ]

    def clear_cache(self) -> None:
        """Forget every analysed chunk (the state right after loading)."""
        self._chunk_cache.clear()
        self._contributions.cache_clear()

    def warm_up(self) -> None:
        """Score one batch of text made from the vocabulary, then forget its chunks.

        The first batches a process scores are slower than later ones while numpy's
        and the allocator's working memory grows; paying that here, at load time, keeps
        it off the first requests. The chunk cache is left empty, so the first real batch
        still analyses every word from scratch.
        """
        words = sorted(gram for gram in self._word_vocab if " " not in gram)[:_WARM_UP_WORDS]
        self.decision([" ".join(words[i : i + 25]) for i in range(0, len(words), 25)])
        self.clear_cache()

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The TF-IDF feature matrix of ``texts`` (scikit-learn's transform), on which
        the label models were fitted."""
        return transform(self._word, self._char, list(texts))

    def score_reference(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """The same scores as :meth:`score`, computed by scikit-learn's transform and
        ``predict_proba`` (slow; for checking the fast path)."""
        texts = list(texts)
        if not texts:
            return []
        features = transform(self._word, self._char, texts)
        columns = []
        for label in self.labels:
            model, calibrator = self._models[label], self._calibrators.get(label)
            if calibrator is None:
                columns.append(model.predict_proba(features)[:, 1])
            else:
                log_odds = model.decision_function(features).reshape(-1, 1)
                columns.append(calibrator.predict_proba(log_odds)[:, 1])
        return [
            dict(zip(self.labels, map(float, row), strict=True)) for row in np.column_stack(columns)
        ]

    # --- explanations ----------------------------------------------------------------

    def chunk_contributions(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Split every label's log-odds (minus its intercept) exactly over the
        whitespace-delimited chunks of ``text``.

        Returns the chunks' ``(start, end)`` offsets in ``text`` and a read-only array of
        shape ``(chunks, labels)`` whose column sums equal ``decision(text) - intercept``.
        A term's weight is shared equally by its occurrences; a word bigram's share is
        split half and half between its two words' chunks.
        """
        # A decision explains several labels (and rules) of the same text in a row.
        return self._contributions(text)

    def _compute_contributions(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        normal = normalise(text)
        found = list(CHUNK_PATTERN.finditer(normal))
        chunks = [match.span() for match in found]
        result = np.zeros((len(chunks), len(self.labels)))
        if chunks:
            starts = [start for start, _ in chunks]
            # Word block: (feature, chunk, share) per occurrence.
            features: list[int] = []
            owners: list[int] = []
            shares: list[float] = []
            tokens = [
                (m.group(), bisect.bisect_right(starts, m.start()) - 1)
                for m in WORD_PATTERN.finditer(normal)
            ]
            vocab = self._word_vocab
            for token, chunk in tokens:
                index = vocab.get(token)
                if index is not None:
                    features.append(index)
                    owners.append(chunk)
                    shares.append(1.0)
            for (left, left_chunk), (right, right_chunk) in itertools.pairwise(tokens):
                index = vocab.get(f"{left} {right}")
                if index is not None:
                    features += (index, index)
                    owners += (left_chunk, right_chunk)
                    shares += (0.5, 0.5)
            _add_block_contributions(
                result,
                np.array(features, dtype=np.int64),
                np.array(owners, dtype=np.int64),
                np.array(shares),
                self._word_idf,
                self._word_weights,
            )
            # Character block: every n-gram lies inside one chunk.
            grams = self._chunk_grams([match.group() for match in found])
            counts = np.fromiter(map(len, grams), np.int64, len(grams))
            char_features = np.concatenate(grams)
            _add_block_contributions(
                result,
                char_features,
                np.repeat(np.arange(len(chunks)), counts),
                np.ones(len(char_features)),
                self._char_idf,
                self._char_weights,
            )
        result.flags.writeable = False
        return chunks, result

    def explain(self, text: str, label: str) -> list[Span]:
        """Spans of ``text`` that raised ``label``'s score, sorted by start.

        Each whitespace-delimited chunk gets its exact share of the label's log-odds
        (:meth:`chunk_contributions`; calibration is monotone and does not change which
        chunks raise a score). A chunk is kept when its share is positive and at
        least ``explain_min_share`` (artifact metadata, chosen on training data) times
        the largest chunk share; kept chunks that follow one another are merged. A span
        covers its chunk's word characters (leading and trailing punctuation trimmed)
        and its weight is the log-odds it adds.
        """
        column = self._label_index[label]
        chunks, contributions = self.chunk_contributions(text)
        return select_spans(text, chunks, contributions[:, column], self._explain_min_share)


def select_spans(
    text: str, chunks: list[tuple[int, int]], contributions: np.ndarray, min_share: float
) -> list[Span]:
    """Keep chunks whose contribution is positive and ≥ ``min_share`` × the largest;
    merge runs of consecutive kept chunks; trim each span to word characters."""
    if len(chunks) == 0:
        return []
    top = float(contributions.max())
    if top <= 0.0:
        return []
    cutoff = max(min_share * top, 0.0)
    spans: list[Span] = []
    previous_kept = -2
    for index, ((start, end), weight) in enumerate(zip(chunks, contributions, strict=True)):
        if weight <= 0.0 or weight < cutoff:
            continue
        start, end = _trim(text, start, end)
        if spans and previous_kept == index - 1:
            last = spans[-1]
            spans[-1] = Span(last.start, end, last.weight + float(weight))
        else:
            spans.append(Span(start, end, float(weight)))
        previous_kept = index
    return spans


_WORD_CHAR = re.compile(r"\w")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    inner = text[start:end]
    first = _WORD_CHAR.search(inner)
    if first is None:
        return start, end
    last = len(inner) - 1
    while not _WORD_CHAR.match(inner[last]):
        last -= 1
    return start + first.start(), start + last + 1


def _rows_of(indptr: array[int]) -> np.ndarray:
    """The row of each entry, for entries delimited row by row by ``indptr``."""
    row_ptr = np.frombuffer(indptr, dtype=np.int64)
    return np.repeat(np.arange(len(row_ptr) - 1, dtype=np.int64), np.diff(row_ptr))


def _term_scores(
    terms: np.ndarray, rows: np.ndarray, n_rows: int, idf: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Σ_j tfidf_j · w_j per row for one L2-normalised, sublinear-tf TF-IDF block, from
    term occurrences: occurrence ``i`` is term ``terms[i]`` in row ``rows[i]``."""
    if not len(terms):
        return np.zeros((n_rows, weights.shape[1]))
    # One key per (row, term): its count is the term frequency in that row.
    keys, counts = np.unique(rows * len(idf) + terms, return_counts=True)
    row_of, term = np.divmod(keys, len(idf))
    data = _tfidf(counts, idf[term], row_of, n_rows)
    contributions = weights[term] * data[:, None]
    return np.column_stack(
        [
            np.bincount(row_of, weights=contributions[:, label], minlength=n_rows)
            for label in range(weights.shape[1])
        ]
    )


def _term_counts(terms: np.ndarray, rows: np.ndarray, n_rows: int, n_terms: int) -> sp.csr_matrix:
    """Term counts per row from occurrences, as a sparse matrix without repeated entries."""
    row_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=row_ptr[1:])
    matrix = sp.csr_matrix((np.ones(len(terms)), terms, row_ptr), shape=(n_rows, n_terms))
    # Summing duplicates turns one entry per occurrence into one count per term.
    matrix.sum_duplicates()
    return matrix


def _count_scores(counts: sp.csr_matrix, idf: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_j tfidf_j · w_j per row, from a block's raw term counts (no repeated entries in
    a row)."""
    rows = counts.shape[0]
    row_of = np.repeat(np.arange(rows, dtype=np.int64), np.diff(counts.indptr))
    data = _tfidf(counts.data, idf[counts.indices], row_of, rows)
    normalised = sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
    return np.asarray(normalised @ weights)


def _tfidf(counts: np.ndarray, idf: np.ndarray, row_of: np.ndarray, n_rows: int) -> np.ndarray:
    """Sublinear tf times idf, each row L2-normalised (entry ``i`` is in row ``row_of[i]``)."""
    data = np.log(counts)
    data += 1.0
    data *= idf
    norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=n_rows))
    norms[norms == 0.0] = 1.0
    data /= norms[row_of]
    weighted: np.ndarray = data
    return weighted


def _add_block_contributions(
    result: np.ndarray,
    feature: np.ndarray,
    chunk: np.ndarray,
    share: np.ndarray,
    idf: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Add each occurrence's share of its term's ``tfidf · w`` to its chunk's row
    (occurrence ``i`` is term ``feature[i]`` in chunk ``chunk[i]`` with ``share[i]``)."""
    if not len(feature):
        return
    # A term's count is the sum of its occurrences' shares (a bigram enters as two halves,
    # which sum exactly), so the counts are those the vectorizer sees.
    unique, position = np.unique(feature, return_inverse=True)
    counts = np.bincount(position, weights=share)
    per_unit = _tfidf(counts, idf[unique], np.zeros(len(unique), np.int64), 1) / counts
    contributions = (per_unit[position] * share)[:, None] * weights[feature]
    # One pass for every label: cell (chunk, label) is bin chunk · labels + label, and each
    # bin still sums its occurrences in their order, as a pass per label would.
    labels = result.shape[1]
    cells = (chunk[:, None] * labels + np.arange(labels)).ravel()
    result += np.bincount(cells, weights=contributions.ravel(), minlength=result.size).reshape(
        result.shape
    )


def _serialise(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(state, buffer, protocol=4)
    return buffer.getvalue()


def read_card_digest(directory: Path) -> str:
    """The SHA-256 hex digest promised by ``MODEL_CARD.md`` in ``directory``.

    Raises :class:`ModelIntegrityError` if the card is missing or does not hold exactly
    one ``SHA-256: <hex>`` line.
    """
    card = directory / CARD_NAME
    try:
        text = card.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ModelIntegrityError(f"no model card at {card}") from error
    found = SHA_LINE.findall(text)
    if len(found) != 1:
        raise ModelIntegrityError(
            f"{card} must hold exactly one 'SHA-256: <64 hex digits>' line, found {len(found)}"
        )
    digest: str = found[0]
    return digest


def read_verified_artifact(path: Path) -> tuple[bytes, str]:
    """The bytes of ``path`` and their SHA-256 hex digest, once the digest matches the
    ``SHA-256:`` line of the model card beside it; :class:`ModelIntegrityError` otherwise.
    The caller unpickles these same bytes, never a second read of the file."""
    expected = read_card_digest(path.parent)
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(
            f"{path} has SHA-256 {actual}, but its model card says {expected}"
        )
    return data, actual


def load_model(directory: Path | None = None) -> LinearTextClassifier:
    """Load the model in ``directory`` (default :func:`default_model_dir`).

    The SHA-256 of ``model.joblib`` is computed from the bytes on disk and compared with
    the card's ``SHA-256:`` line before anything is unpickled; the same bytes are then
    unpickled, and the model is warmed up (:meth:`LinearTextClassifier.warm_up`).
    Raises :class:`ModelIntegrityError` on a missing card or a mismatch.
    """
    directory = Path(directory) if directory is not None else default_model_dir()
    data, actual = read_verified_artifact(directory / ARTIFACT_NAME)
    state = joblib.load(io.BytesIO(data))
    model = LinearTextClassifier(state, "sha256:" + actual)
    model.warm_up()
    return model


def config_dict(config: FeatureConfig) -> dict[str, Any]:
    """``config`` as plain data for artifact metadata and the model card."""
    return asdict(config)
