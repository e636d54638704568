"""The text-encoder classifier: sentence embeddings joined with the n-gram model.

Each label's score is a logistic regression (a "head") over one feature vector per text:
the 512 dimensions of its Universal Sentence Encoder embedding
(:mod:`classifiers.sentence_encoder`) followed by the n-gram model's log-odds for every
label (:class:`classifiers.linear.LinearTextClassifier`), standardised. This is stacking:
the heads were fitted on the n-gram model's *out-of-fold* log-odds, so they weigh it as a
model that has not seen the text, which is what it is at run time.

Per label, the training run chooses by out-of-fold log loss among that stacked head, the
mean of two single-input heads' probabilities (one reading the embedding only, one the
n-gram log-odds only), and the mean of those two and a small neural network (one hidden
layer) reading both inputs; ``combination`` in the artifact records the choice. The
network is there for what a linear head over an embedding cannot draw: "a group compared
to vermin" is an interaction between who is named and what they are compared to, not a
direction in the embedding.

The embedding goes through the encoder's upper layers as fine-tuned on the training labels
(format 5, :mod:`classifiers.fine_tune`); the heads file carries them, so the heads and the
layers they were fitted over are pinned together. Heads of formats 1 to 4 read the
pretrained upper layers.

The embedding carries what a bag of words cannot (negation, quotation, who is compared to
what, French); the n-gram log-odds carry the spellings, obfuscations and spam patterns
the n-gram model is good at. Explanations are the n-gram model's: its spans for the label.

French has heads of its own beside the shared ones (format 3): for a text the caller says is
French, each label with a French head is scored by it, fitted on French rows only, and
its probability is mapped so that the French threshold (chosen on French out-of-fold
scores at the label's false-positive budget) lands on the shared threshold; the policy's one
threshold per label then means the same budget in both languages. A text of another or an
unknown language, and every label without a French head, gets the shared heads.

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
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

import joblib
import numpy as np
import sklearn
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from threadpoolctl import ThreadpoolController

from classifiers.linear import (
    LinearTextClassifier,
    ModelIntegrityError,
    read_verified_artifact,
)
from classifiers.protocol import Span
from classifiers.sentence_encoder import SentenceEncoder, UpperLayers

NAME = "text-encoder"
ARTIFACT_NAME = "heads.joblib"
ARTIFACT_FORMAT = 5
"""Format 4 adds ``network_heads`` (for each label combined by ``mean-with-network``, its
one-hidden-layer network over the standardised features); format 3 added
``language_heads`` (per language: heads, combination and thresholds of the labels that
language has its own heads for); format 2 added the per-label ``combination`` and the
single-input heads of labels combined by their mean. Formats 1 (every label stacked), 2
and 3 still load, with the shared heads for every language."""
READABLE_FORMATS = (1, 2, 3, 4, 5)
STACKED = "stacked"
MEAN = "mean"
MEAN_WITH_NETWORK = "mean-with-network"
STACKED_WITH_NETWORK = "stacked-with-network"
"""How a label's probability is formed: its stacked head; the mean of its encoder-only and
n-gram-only heads' probabilities; the mean of those two and its network's; or (a
language's own heads only) the mean of its stacked head and the shared heads' network for
the label."""
Head: TypeAlias = LogisticRegression | MLPClassifier
LOG_ODDS_CLIP = 20.0
"""The n-gram log-odds enter the heads clipped to ±this, so one extreme text cannot push
a feature far outside what the heads were fitted on."""


def language_key(tag: str | None) -> str | None:
    """The primary subtag of a BCP 47 tag, lower-cased (``fr-CA`` → ``fr``); None stays None."""
    return None if tag is None else tag.split("-", 1)[0].lower()


def map_to_threshold(probabilities: np.ndarray, own: float, shared: float) -> np.ndarray:
    """Two linear segments, [0, own] → [0, shared] and [own, 1] → [shared, 1]: monotone, so
    ROC-AUC is unchanged, and a probability reaches ``shared`` exactly when it reached
    ``own``."""
    below = probabilities * (shared / own)
    above = shared + (probabilities - own) * ((1.0 - shared) / (1.0 - own))
    mapped: np.ndarray = np.clip(
        np.where(probabilities >= own, above, np.minimum(below, shared)), 0.0, 1.0
    )
    return mapped


@dataclass(frozen=True)
class _FoldedNetworks:
    """Every network of a set of heads as two matrix products: their hidden layers side by
    side (standardising folded in, as for the logistic heads), then each network's output
    unit reading its own block of hidden units."""

    hidden_weights: np.ndarray
    hidden_biases: np.ndarray
    output_weights: np.ndarray
    """(all hidden units × networks), zero outside each network's block."""
    output_biases: np.ndarray
    membership: np.ndarray
    """(networks × labels): 1 where a network belongs to a label."""

    def probability_sums(self, features: np.ndarray) -> np.ndarray:
        hidden = np.maximum(features @ self.hidden_weights + self.hidden_biases, 0.0)
        outputs: np.ndarray = expit(hidden @ self.output_weights + self.output_biases)
        sums: np.ndarray = outputs @ self.membership
        return sums


@dataclass(frozen=True)
class _FoldedHeads:
    """Heads for the labels in ``labels``, standardising folded into their weights; a
    label's probability is the mean of its heads'."""

    labels: tuple[str, ...]
    weights: np.ndarray
    biases: np.ndarray
    membership: np.ndarray
    """(logistic heads × labels): 1 where a head belongs to a label."""
    networks: _FoldedNetworks | None
    heads_per_label: np.ndarray

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        sums: np.ndarray = expit(features @ self.weights + self.biases) @ self.membership
        if self.networks is not None:
            sums += self.networks.probability_sums(features)
        by_label: np.ndarray = sums / self.heads_per_label
        return by_label


def _network_layers(network: MLPClassifier) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A network's hidden and output layers; only the shape the heads are trained with
    (one ReLU hidden layer, one logistic output) is read."""
    if (
        network.n_layers_ != 3
        or network.activation != "relu"
        or network.out_activation_ != "logistic"
    ):
        raise ValueError("a network head must have one ReLU hidden layer and a logistic output")
    return (
        np.asarray(network.coefs_[0], dtype=np.float64),
        np.asarray(network.intercepts_[0], dtype=np.float64),
        np.asarray(network.coefs_[1], dtype=np.float64).ravel(),
        float(network.intercepts_[1][0]),
    )


def _fold_networks(
    networks: Sequence[tuple[int, MLPClassifier]],
    labels: int,
    mean: np.ndarray,
    scale: np.ndarray,
) -> _FoldedNetworks | None:
    if not networks:
        return None
    layers = [_network_layers(network) for _, network in networks]
    hidden_weights = np.hstack([weights for weights, _, _, _ in layers]) / scale[:, None]
    hidden_biases = np.concatenate([biases for _, biases, _, _ in layers]) - mean @ hidden_weights
    output_weights = np.zeros((hidden_weights.shape[1], len(networks)))
    start = 0
    for column, (_, _, weights, _) in enumerate(layers):
        output_weights[start : start + len(weights), column] = weights
        start += len(weights)
    membership = np.zeros((len(networks), labels))
    for row, (position, _) in enumerate(networks):
        membership[row, position] = 1.0
    return _FoldedNetworks(
        np.ascontiguousarray(hidden_weights),
        hidden_biases,
        output_weights,
        np.array([bias for _, _, _, bias in layers]),
        membership,
    )


def _components(
    label: str,
    combination: dict[str, str],
    heads: dict[str, LogisticRegression],
    single_input_heads: dict[str, dict[str, LogisticRegression]],
    embedding_width: int,
    width: int,
    network_heads: dict[str, MLPClassifier] | None = None,
) -> list[tuple[Head, slice]]:
    """The heads whose probabilities are averaged for ``label``, with the feature columns
    each reads."""
    if combination[label] in (MEAN, MEAN_WITH_NETWORK):
        single = single_input_heads[label]
        parts: list[tuple[Head, slice]] = [
            (single["encoder"], slice(0, embedding_width)),
            (single["ngram"], slice(embedding_width, width)),
        ]
        if combination[label] == MEAN_WITH_NETWORK:
            parts.append(((network_heads or {})[label], slice(0, width)))
        return parts
    if combination[label] == STACKED_WITH_NETWORK:
        return [(heads[label], slice(0, width)), ((network_heads or {})[label], slice(0, width))]
    return [(heads[label], slice(0, width))]


def _fold(
    labels: Sequence[str],
    combination: dict[str, str],
    heads: dict[str, LogisticRegression],
    single_input_heads: dict[str, dict[str, LogisticRegression]],
    mean: np.ndarray,
    scale: np.ndarray,
    embedding_width: int,
    network_heads: dict[str, MLPClassifier] | None = None,
) -> _FoldedHeads:
    # Every logistic head is a full-width column (a single-input head has zeros on the
    # other input's features). Standardising is folded into its weights:
    # (x - mean) / scale · w + b = x · (w / scale) + (b - mean · w / scale).
    columns: list[np.ndarray] = []
    intercepts: list[float] = []
    membership = np.zeros((0, len(labels)))
    networks: list[tuple[int, MLPClassifier]] = []
    for position, label in enumerate(labels):
        for head, part in _components(
            label,
            combination,
            heads,
            single_input_heads,
            embedding_width,
            len(mean),
            network_heads,
        ):
            if isinstance(head, MLPClassifier):
                networks.append((position, head))
                continue
            full = np.zeros(len(mean))
            full[part] = head.coef_.ravel()
            columns.append(full)
            intercepts.append(float(head.intercept_[0]))
            membership = np.vstack([membership, np.eye(len(labels))[position]])
    coefficients = np.column_stack(columns) / scale[:, None]
    heads_per_label = membership.sum(axis=0)
    for position, _ in networks:
        heads_per_label[position] += 1
    return _FoldedHeads(
        tuple(labels),
        np.ascontiguousarray(coefficients),
        np.array(intercepts) - mean @ coefficients,
        membership,
        _fold_networks(networks, len(labels), mean, scale),
        heads_per_label,
    )


@cache
def _blas() -> ThreadpoolController:
    # Found once: scanning the loaded libraries costs more than scoring a text.
    return ThreadpoolController()


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
        self._network_heads: dict[str, MLPClassifier] = state.get("network_heads", {})
        self.combination: dict[str, str] = {
            label: state.get("combination", {}).get(label, STACKED) for label in self.labels
        }
        mean = np.asarray(state["feature_mean"], dtype=np.float64)
        scale = np.asarray(state["feature_scale"], dtype=np.float64)
        self._embedding_width = len(mean) - len(self.labels)
        self._shared = _fold(
            self.labels,
            self.combination,
            self._heads,
            self._single_input_heads,
            mean,
            scale,
            self._embedding_width,
            self._network_heads,
        )
        # Per language: its folded heads, and each of their labels' own threshold.
        self.language_thresholds: dict[str, dict[str, float]] = {}
        self._by_language: dict[str, _FoldedHeads] = {}
        for language, own in state.get("language_heads", {}).items():
            labels = [label for label in self.labels if label in own["thresholds"]]
            if not labels:
                continue
            self.language_thresholds[language] = {
                label: float(own["thresholds"][label]) for label in labels
            }
            self._by_language[language] = _fold(
                labels,
                own["combination"],
                own["heads"],
                own.get("single_input_heads", {}),
                mean,
                scale,
                self._embedding_width,
                # A language's heads borrow the shared network of a label they combine
                # with one (stacked-with-network).
                self._network_heads,
            )
        self._mean, self._scale = mean, scale
        tuned = state.get("upper_layers")
        # Heads fitted over fine-tuned upper layers carry them; older heads read the
        # pretrained ones.
        self.upper: UpperLayers = (
            UpperLayers(dict(tuned), encoder.upper.epsilon) if tuned else encoder.upper
        )
        parts = {
            "heads_sha256": heads_digest,
            "upper_layers_sha256": self.upper.digest(),
            "ngram": ngram.version,
            "scikit-learn": sklearn.__version__,
            **encoder.version_parts,
        }
        self.version_parts = parts
        joined = "\n".join(f"{key} {value}" for key, value in sorted(parts.items()))
        self.version = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()

    def _components(self, label: str, embedding_width: int, width: int) -> list[tuple[Head, slice]]:
        return _components(
            label,
            self.combination,
            self._heads,
            self._single_input_heads,
            embedding_width,
            width,
            self._network_heads,
        )

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
        language_heads: dict[str, dict[str, Any]] | None = None,
        network_heads: dict[str, MLPClassifier] | None = None,
        upper_layers: UpperLayers | None = None,
    ) -> EncoderTextClassifier:
        """A classifier from freshly fitted heads (its digest is that of their bytes).
        ``combination`` maps a label to ``"stacked"`` (default), ``"mean"`` or
        ``"mean-with-network"``; a mean label needs its ``"encoder"`` and ``"ngram"`` heads
        in ``single_input_heads``, and one with a network its network in
        ``network_heads``.
        ``language_heads`` maps a primary language subtag to ``heads``,
        ``single_input_heads``, ``combination`` and ``thresholds`` of the labels it has
        its own heads for. ``upper_layers``: the encoder's fine-tuned upper layers the heads
        read (default: the pretrained ones)."""
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
            "language_heads": language_heads or {},
            "network_heads": network_heads or {},
            "upper_layers": dict(upper_layers.weights) if upper_layers is not None else {},
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

    def score(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, float]]:
        """One dict per text with every label's probability in [0, 1]. ``languages``
        (one BCP 47 tag or None per text) picks a language's own heads where it has them;
        None means unknown (the shared heads). A text scores the same alone or in any
        batch, to within 1e-6."""
        return [
            dict(zip(self.labels, map(float, row), strict=True))
            for row in self.probabilities(texts, languages)
        ]

    def probabilities(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """Probabilities per text (rows) and label (columns, ``labels`` order)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)))
        return self.probabilities_from(self.embed(texts), self.ngram.decision(texts), languages)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The embeddings the heads read: the encoder's token-level layers, then the upper
        layers these heads were fitted over."""
        return self.upper.embed(self.encoder.pooled(texts))

    def probabilities_from(
        self,
        embeddings: np.ndarray,
        ngram_log_odds: np.ndarray,
        languages: Sequence[str | None] | None = None,
    ) -> np.ndarray:
        """The heads applied to precomputed embeddings and n-gram log-odds."""
        features = stacked_features(embeddings, ngram_log_odds)
        # One BLAS thread, as for the encoder: a server scales by worker processes, and
        # BLAS's own threads would spin on the other cores for products this small
        # (measured: twice the CPU time per text for the same answers).
        with _blas().limit(limits=1, user_api="blas"):
            return self._apply_heads(features, languages)

    def _apply_heads(
        self, features: np.ndarray, languages: Sequence[str | None] | None
    ) -> np.ndarray:
        by_label = self._shared.probabilities(features)
        if languages is None:
            return by_label
        if len(languages) != len(features):
            raise ValueError(f"{len(languages)} languages for {len(features)} texts")
        keys = np.array([language_key(tag) or "" for tag in languages])
        for language, folded in self._by_language.items():
            rows = np.flatnonzero(keys == language)
            if not len(rows):
                continue
            own = folded.probabilities(features[rows])
            own_thresholds = self.language_thresholds[language]
            for column, label in enumerate(folded.labels):
                by_label[rows, self.labels.index(label)] = map_to_threshold(
                    own[:, column], own_thresholds[label], self.thresholds[label]
                )
        return by_label

    def score_reference(self, texts: Sequence[str]) -> np.ndarray:
        """The same probabilities computed by scikit-learn's ``predict_proba`` on the
        standardised features (for checking the folded arithmetic)."""
        texts = list(texts)
        features = stacked_features(self.embed(texts), self.ngram.decision(texts))
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
