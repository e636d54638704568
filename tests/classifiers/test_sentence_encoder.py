"""The encoder's two parts (token-level layers to pooled sums, upper layers to the
embedding) compute what the package's own forward pass computes."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.sentence_encoder import (
    DIMENSIONS,
    MAX_TOKENS,
    POOLED_WIDTH,
    SentenceEncoder,
    load_encoder,
)

TEXTS = [
    "a",
    "",
    "hello world",
    "You people are all the same, animals",
    "Ces gens-là sont des rats, il faut les chasser du pays.",
    "🙂 thanks!",
    "word " * 400,  # cut to MAX_TOKENS
    "Je ne déteste personne ici, je ne suis pas d'accord avec le projet.",
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return load_encoder()


def _package_forward(encoder: SentenceEncoder, texts: list[str]) -> np.ndarray:
    """The package's own forward pass, one text at a time."""
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for i, text in enumerate(texts):
        ids = encoder.tokens(text)
        encoder._backend._encode_batch([ids], len(ids), out[i : i + 1])
    return out


def test_pooled_then_upper_layers_equal_the_package_forward_pass(encoder) -> None:
    ours = encoder.embed(TEXTS)
    assert ours.shape == (len(TEXTS), DIMENSIONS) and ours.dtype == np.float32
    assert np.abs(ours - _package_forward(encoder, TEXTS)).max() <= 1e-6


def test_pooled_rows_hold_the_token_sums_and_the_token_count(encoder) -> None:
    pooled = encoder.pooled(TEXTS)
    assert pooled.shape == (len(TEXTS), POOLED_WIDTH)
    counts = [len(encoder.tokens(text)) for text in TEXTS]
    assert pooled[:, -1].tolist() == counts
    assert max(counts) == MAX_TOKENS
    # A text's row does not depend on the batch it is pooled in.
    alone = np.vstack([encoder.pooled([text]) for text in TEXTS])
    assert np.abs(alone - pooled).max() <= 1e-6 * np.abs(pooled).max()


def test_the_upper_layers_digest_names_their_weights(encoder) -> None:
    digest = encoder.upper.digest()
    assert len(digest) == 64
    changed = {name: value.copy() for name, value in encoder.upper.weights.items()}
    changed["d3"][0, 0] += 1e-3
    assert type(encoder.upper)(changed, encoder.upper.epsilon).digest() != digest
