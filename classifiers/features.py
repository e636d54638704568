"""How a text becomes the terms the linear model weighs.

Two analyzers, shared by training (through scikit-learn's ``TfidfVectorizer``), the fast
scoring path and ``explain``, so all three see exactly the same terms:

* words: maximal runs of two or more word characters (scikit-learn's default
  ``\\b\\w\\w+\\b``), as unigrams and bigrams;
* characters: n-grams inside each whitespace-delimited chunk padded with one space on
  each side (scikit-learn's ``char_wb``), so every character n-gram belongs to exactly
  one chunk of the original text.

Normalisation is lower-casing that never changes a text's length, so a term's offsets in
the normalised text are its offsets in the original.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

WORD_PATTERN = re.compile(r"\w\w+")
CHUNK_PATTERN = re.compile(r"\S+")

# "İ".lower() is two code points; folding it to "i" first keeps offsets aligned. It is the
# only code point whose lower-case form has a different length.
_SAME_LENGTH = {0x130: "i"}


def normalise(text: str) -> str:
    """Lower-case ``text`` without changing its length or any character's position."""
    return text.translate(_SAME_LENGTH).lower()


class WordAnalyzer:
    """Word unigrams and bigrams of a text (picklable, for ``TfidfVectorizer``)."""

    def __call__(self, text: str) -> list[str]:
        tokens = WORD_PATTERN.findall(normalise(text))
        return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordAnalyzer)

    def __hash__(self) -> int:
        return hash(WordAnalyzer)

    def __repr__(self) -> str:
        return "WordAnalyzer()"


class CharAnalyzer:
    """Character n-grams, ``min_n`` to ``max_n`` long, of each space-padded chunk."""

    def __init__(self, min_n: int, max_n: int) -> None:
        if not 1 <= min_n <= max_n:
            raise ValueError(f"bad n-gram range {min_n}..{max_n}")
        self.min_n = min_n
        self.max_n = max_n

    def __call__(self, text: str) -> list[str]:
        grams: list[str] = []
        extend = grams.extend
        for chunk in CHUNK_PATTERN.findall(normalise(text)):
            extend(self.chunk_ngrams(chunk))
        return grams

    def chunk_ngrams(self, chunk: str) -> list[str]:
        """The n-grams of one whitespace-free chunk, as ``char_wb`` would produce them."""
        padded = f" {chunk} "
        size = len(padded)
        grams: list[str] = []
        for n in range(self.min_n, self.max_n + 1):
            if n >= size:
                # A chunk shorter than n counts once, whole, as in scikit-learn.
                grams.append(padded)
                break
            grams.extend([padded[i : i + n] for i in range(size - n + 1)])
        return grams

    def chunk_ngram_spans(self, chunk: str) -> Iterator[tuple[str, int, int]]:
        """Each n-gram of ``chunk`` with its offsets inside the chunk (padding clipped)."""
        padded = f" {chunk} "
        size = len(padded)
        for n in range(self.min_n, self.max_n + 1):
            if n >= size:
                yield padded, 0, len(chunk)
                break
            for i in range(size - n + 1):
                yield padded[i : i + n], max(i - 1, 0), min(i + n - 1, len(chunk))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharAnalyzer) and (self.min_n, self.max_n) == (
            other.min_n,
            other.max_n,
        )

    def __hash__(self) -> int:
        return hash((CharAnalyzer, self.min_n, self.max_n))

    def __repr__(self) -> str:
        return f"CharAnalyzer({self.min_n}, {self.max_n})"
