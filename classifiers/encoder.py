"""The text-encoder classifier: sentence embeddings joined with the n-gram model.

Each label's score is a logistic regression (a "head") over one feature vector per text:
the 512 dimensions of its Universal Sentence Encoder embedding
(:mod:`classifiers.sentence_encoder`) followed by the n-gram model's log-odds for every
label (:class:`classifiers.linear.LinearTextClassifier`), standardised. This is stacking:
the heads were fitted on the n-gram model's *out-of-fold* log-odds, so they weigh it as a
model that has not seen the text, which is what it is at run time.

Per label, the training run chooses by out-of-fold log loss between that stacked head and
the mean of two single-input heads' probabilities (one reading the embedding only, one
the n-gram log-odds only); ``combination`` in the artifact records the choice.

The embedding carries what a bag of words cannot (negation, quotation, who is compared to
what, French); the n-gram log-odds carry the spellings, obfuscations and spam patterns
the n-gram model is good at. Explanations are the n-gram model's: its spans for the label.

The heads live in ``heads.joblib``, pinned by the ``SHA-256:`` line of the model card
beside it and checked before anything is unpickled; the encoder's files are checked
against the digests in :mod:`classifiers.sentence_encoder`; the n-gram model is checked
by its own loader, and the heads refuse an n-gram model other than the one they were
fitted on.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from classifiers.linear import (
    LinearTextClassifier,
    ModelIntegrityError,
    read_verified_artifact,
)
from classifiers.protocol import Span
from classifiers.sentence_encoder import SentenceEncoder

NAME = "text-encoder"
ARTIFACT_NAME = "heads.joblib"
ARTIFACT_FORMAT = 2
"""Format 2 adds the per-label ``combination`` and the single-input heads of labels
combined by their mean; format 1 (every label stacked) still loads."""
READABLE_FORMATS = (1, 2)
STACKED = "stacked"
MEAN = "mean"
"""How a label's probability is formed: its stacked head, or the mean of its
encoder-only and n-gram-only heads' probabilities."""
LOG_ODDS_CLIP = 20.0
"""The n-gram log-odds enter the heads clipped to ±this, so one extreme text cannot push
a feature far outside what the heads were fitted on."""


def default_model_dir() -> Path:
    """``classifiers/models/text-encoder`` inside the installed package."""
    return Path(__file__).resolve().parent / "models" / NAME


def stacked_features(embeddings: np.ndarray, ngram_log_odds: np.ndarray) -> np.ndarray:
    """The heads' raw input: embeddings then clipped n-gram log-odds, one row per text."""
    clipped = np.clip(ngram_log_odds, -LOG_ODDS_CLIP, LOG_ODDS_CLIP)
    return np.hstack([embeddings.astype(np.float64), clipped])


class EncoderTextClassifier:
    """Implements ``Classifier`` with the labels of the n-gram model it is stacked on.

    Build one with :func:`load_model` (checked artifact) or :meth:`from_parts` (training).
    """

    name = NAME

    def __init__(
        self,
        state: dict[str, Any],
        heads_digest: str,
        encoder: SentenceEncoder,
        ngram: LinearTextClassifier,
    ) -> None:
        if state.get("format") not in READABLE_FORMATS:
            raise ValueError(f"unsupported artifact format {state.get('format')!r}")
        if state["ngram_version"] != ngram.version:
            raise ModelIntegrityError(
                f"the {NAME} heads were fitted on text-linear {state['ngram_version']}, "
                f"but the loaded text-linear is {ngram.version}; refusing to combine them"
            )
        self._state = state
        self.encoder = encoder
        self.ngram = ngram
        self.labels: tuple[str, ...] = tuple(state["labels"])
        if tuple(ngram.labels) != self.labels:
            raise ValueError("the heads and the n-gram model must have the same labels")
        self.thresholds: dict[str, float] = dict(state["thresholds"])
        # Explanations are the n-gram model's, so they follow its cut-off.
        self.metadata: dict[str, Any] = {
            **state["metadata"],
            "explain_min_share": ngram.metadata.get("explain_min_share"),
        }
        self._heads: dict[str, LogisticRegression] = state["heads"]
        self._single_input_heads: dict[str, dict[str, LogisticRegression]] = state.get(
            "single_input_heads", {}
        )
        self.combination: dict[str, str] = {
            label: state.get("combination", {}).get(label, STACKED) for label in self.labels
        }
        mean = np.asarray(state["feature_mean"], dtype=np.float64)
        scale = np.asarray(state["feature_scale"], dtype=np.float64)
        # Every head is a full-width column (a single-input head has zeros on the other
        # input's features); a label's probability is the mean of its columns'.
        # Standardising is folded into the weights: (x - mean) / scale · w + b
        # = x · (w / scale) + (b - mean · w / scale).
        embedding_width = len(mean) - len(self.labels)
        columns: list[np.ndarray] = []
        intercepts: list[float] = []
        averaging = np.zeros((0, len(self.labels)))
        for position, label in enumerate(self.labels):
            for head, part in self._components(label, embedding_width, len(mean)):
                full = np.zeros(len(mean))
                full[part] = head.coef_.ravel()
                columns.append(full)
                intercepts.append(float(head.intercept_[0]))
                averaging = np.vstack([averaging, np.eye(len(self.labels))[position]])
        coefficients = np.column_stack(columns) / scale[:, None]
        self._weights = np.ascontiguousarray(coefficients)
        self._biases = np.array(intercepts) - mean @ coefficients
        self._averaging = averaging / averaging.sum(axis=0, keepdims=True)
        self._mean, self._scale = mean, scale
        parts = {
            "heads_sha256": heads_digest,
            "ngram": ngram.version,
            "scikit-learn": sklearn.__version__,
            **encoder.version_parts,
        }
        self.version_parts = parts
        joined = "\n".join(f"{key} {value}" for key, value in sorted(parts.items()))
        self.version = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()

    def _components(
        self, label: str, embedding_width: int, width: int
    ) -> list[tuple[LogisticRegression, slice]]:
        """The heads whose probabilities are averaged for ``label``, with the feature
        columns each reads."""
        if self.combination[label] == MEAN:
            single = self._single_input_heads[label]
            return [
                (single["encoder"], slice(0, embedding_width)),
                (single["ngram"], slice(embedding_width, width)),
            ]
        return [(self._heads[label], slice(0, width))]

    @classmethod
    def from_parts(
        cls,
        heads: dict[str, LogisticRegression],
        feature_mean: np.ndarray,
        feature_scale: np.ndarray,
        thresholds: dict[str, float],
        metadata: dict[str, Any],
        encoder: SentenceEncoder,
        ngram: LinearTextClassifier,
        combination: dict[str, str] | None = None,
        single_input_heads: dict[str, dict[str, LogisticRegression]] | None = None,
    ) -> EncoderTextClassifier:
        """A classifier from freshly fitted heads (its digest is that of their bytes).
        ``combination`` maps a label to ``"stacked"`` (default) or ``"mean"``; a mean
        label needs its ``"encoder"`` and ``"ngram"`` heads in ``single_input_heads``."""
        combination = combination or {}
        single_input_heads = single_input_heads or {}
        state = {
            "format": ARTIFACT_FORMAT,
            "labels": list(ngram.labels),
            "combination": {label: combination.get(label, STACKED) for label in ngram.labels},
            "heads": heads,
            "single_input_heads": single_input_heads,
            "feature_mean": np.asarray(feature_mean, dtype=np.float64),
            "feature_scale": np.asarray(feature_scale, dtype=np.float64),
            "thresholds": thresholds,
            "ngram_version": ngram.version,
            "metadata": metadata,
        }
        data = _serialise(state)
        return cls(state, hashlib.sha256(data).hexdigest(), encoder, ngram)

    def with_encoder(self, encoder: Any) -> EncoderTextClassifier:
        """The same heads over another encoder object of the same version (for example
        one that caches embeddings on disk)."""
        if encoder.version != self.encoder.version:
            raise ValueError("a different encoder would change every score")
        return EncoderTextClassifier(
            self._state, self.version_parts["heads_sha256"], encoder, self.ngram
        )

    def artifact_bytes(self) -> bytes:
        """The exact bytes of ``heads.joblib``."""
        return _serialise(self._state)

    # --- scoring ---------------------------------------------------------------------

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One dict per text with every label's probability in [0, 1]. A text scores the
        same alone or in any batch, to within 1e-6."""
        return [
            dict(zip(self.labels, map(float, row), strict=True))
            for row in self.probabilities(texts)
        ]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities per text (rows) and label (columns, ``labels`` order)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)))
        return self.probabilities_from(self.encoder.embed(texts), self.ngram.decision(texts))

    def probabilities_from(self, embeddings: np.ndarray, ngram_log_odds: np.ndarray) -> np.ndarray:
        """The heads applied to precomputed embeddings and n-gram log-odds."""
        features = stacked_features(embeddings, ngram_log_odds)
        probabilities: np.ndarray = expit(features @ self._weights + self._biases)
        by_label: np.ndarray = probabilities @ self._averaging
        return by_label

    def score_reference(self, texts: Sequence[str]) -> np.ndarray:
        """The same probabilities computed by scikit-learn's ``predict_proba`` on the
        standardised features (for checking the folded arithmetic)."""
        texts = list(texts)
        features = stacked_features(self.encoder.embed(texts), self.ngram.decision(texts))
        standard = (features - self._mean) / self._scale
        width = standard.shape[1]
        embedding_width = width - len(self.labels)
        return np.column_stack(
            [
                np.mean(
                    [
                        head.predict_proba(standard[:, part])[:, 1]
                        for head, part in self._components(label, embedding_width, width)
                    ],
                    axis=0,
                )
                for label in self.labels
            ]
        )

    # --- explanations ----------------------------------------------------------------

    def explain(self, text: str, label: str) -> list[Span]:
        """The n-gram model's spans for ``label``: the words that raised its share of the
        score (the embedding's share has no exact per-word split)."""
        if label not in self.labels:
            raise KeyError(label)
        return self.ngram.explain(text, label)

    def chunk_contributions(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        """The n-gram model's per-chunk log-odds (see ``explain``)."""
        return self.ngram.chunk_contributions(text)


def _serialise(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(state, buffer, protocol=4)
    return buffer.getvalue()


def load_model(
    directory: Path | None = None,
    encoder: SentenceEncoder | None = None,
    ngram: LinearTextClassifier | None = None,
) -> EncoderTextClassifier:
    """Load the heads in ``directory`` (default :func:`default_model_dir`) with the
    checked encoder and the packaged n-gram model (or the ones given).

    The SHA-256 of ``heads.joblib`` is compared with its card's ``SHA-256:`` line before
    anything is unpickled. Raises :class:`ModelIntegrityError` on a missing card or a
    mismatch, and :class:`classifiers.sentence_encoder.EncoderIntegrityError` when the
    encoder's files are not the pinned ones.
    """
    from classifiers import linear
    from classifiers.sentence_encoder import load_encoder

    directory = Path(directory) if directory is not None else default_model_dir()
    data, actual = read_verified_artifact(directory / ARTIFACT_NAME)
    encoder = encoder if encoder is not None else load_encoder()
    ngram = ngram if ngram is not None else linear.load_model()
    state = joblib.load(io.BytesIO(data))
    return EncoderTextClassifier(state, actual, encoder, ngram)
