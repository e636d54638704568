"""The batched character n-gram lookup gives exactly the analyzer's in-vocabulary n-grams."""

from __future__ import annotations

import random

import numpy as np
import pytest

from classifiers.char_index import CharNgramIndex
from classifiers.features import CharAnalyzer

VOCABULARY_TEXT = "the cat sat on the mat, naïve café ünïcödé idiot 😀 日本 ok a"


@pytest.fixture(scope="module")
def analyzer() -> CharAnalyzer:
    return CharAnalyzer(2, 5)


@pytest.fixture(scope="module")
def vocabulary(analyzer: CharAnalyzer) -> dict[str, int]:
    grams = sorted(set(analyzer(VOCABULARY_TEXT)))
    return {gram: index for index, gram in enumerate(grams)}


def _plain(analyzer: CharAnalyzer, vocabulary: dict[str, int], chunk: str) -> list[int]:
    return sorted(vocabulary[g] for g in analyzer.chunk_ngrams(chunk) if g in vocabulary)


def test_lookup_equals_the_analyzer(analyzer: CharAnalyzer, vocabulary: dict[str, int]) -> None:
    rng = random.Random(0)
    alphabet = "thecasonmidiïéü,.!😀日本\ud800x"
    chunks = ["a", "ok", "the", "cat,", "idiot!!", "😀", "日本の", "naïve", "café😀", "\ud800at"]
    chunks += ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(300)]
    index = CharNgramIndex(analyzer, vocabulary)
    found = index.lookup(chunks)
    assert len(found) == len(chunks)
    for chunk, indices in zip(chunks, found, strict=True):
        assert indices.dtype == np.int64
        assert sorted(indices.tolist()) == _plain(analyzer, vocabulary, chunk), chunk


def test_an_empty_batch(analyzer: CharAnalyzer, vocabulary: dict[str, int]) -> None:
    assert CharNgramIndex(analyzer, vocabulary).lookup([]) == []


def test_n_grams_too_long_to_pack_are_looked_up_plainly(vocabulary: dict[str, int]) -> None:
    wide = CharAnalyzer(3, 7)
    grams = sorted(set(wide(VOCABULARY_TEXT)))
    vocabulary = {gram: index for index, gram in enumerate(grams)}
    index = CharNgramIndex(wide, vocabulary)
    for chunk, indices in zip(["idiot", "café"], index.lookup(["idiot", "café"]), strict=True):
        assert sorted(indices.tolist()) == _plain(wide, vocabulary, chunk)
