"""Character n-gram feature indices for many chunks at once, without a Python loop per
n-gram.

An n-gram of at most five characters, each a code point below 4096 (Latin, Greek,
Cyrillic, Hebrew, Arabic, Indic scripts and most punctuation), packs exactly into one
64-bit integer: twelve bits per character plus its length. The vocabulary's n-grams are
packed once, sorted, and a batch of chunks is looked up with array arithmetic and one
binary search. A chunk holding any wider character (emoji, CJK, lone surrogates) is
analysed the plain way, one n-gram at a time, so the result is always exactly what
:class:`classifiers.features.CharAnalyzer` and the vocabulary give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from classifiers.features import CharAnalyzer

_BITS = 12
_NARROW = 1 << _BITS
"""Code points below this pack into :data:`_BITS` bits."""
_LENGTH_SHIFT = 60
_MAX_PACKED = _LENGTH_SHIFT // _BITS
"""The longest n-gram that packs (5 characters, 60 bits, its length above them)."""

_EMPTY = np.zeros(0, dtype=np.int64)


def _codes(text: str) -> np.ndarray:
    # UTF-32 has one unit per code point, so array positions are string positions.
    raw = text.encode("utf-32-le", "surrogatepass")
    return np.frombuffer(raw, dtype=np.uint32).astype(np.int64)


def _pack(codes: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    keys = np.full(len(starts), n << _LENGTH_SHIFT, dtype=np.int64)
    for k in range(n):
        keys |= codes[starts + k] << (_BITS * k)
    return keys


class CharNgramIndex:
    """Maps whitespace-free chunks to the vocabulary indices of their character n-grams
    (one entry per occurrence, as :meth:`CharAnalyzer.chunk_ngrams` lists them)."""

    def __init__(self, analyzer: CharAnalyzer, vocabulary: Mapping[str, int]) -> None:
        self._analyzer = analyzer
        self._vocabulary = vocabulary
        self._min_n = analyzer.min_n
        self._max_n = analyzer.max_n
        # Packing needs every n-gram of a chunk to be a window of its padded form, which
        # holds when the shortest n-gram fits in the shortest padded chunk (3 characters).
        self._packable = self._max_n <= _MAX_PACKED and self._min_n <= 3
        keys, indices = [], []
        if self._packable:
            by_length: dict[int, list[tuple[str, int]]] = {}
            for gram, index in vocabulary.items():
                by_length.setdefault(len(gram), []).append((gram, index))
            for n, items in by_length.items():
                if not 1 <= n <= _MAX_PACKED:
                    continue
                codes = _codes("".join(gram for gram, _ in items)).reshape(-1, n)
                narrow = (codes < _NARROW).all(axis=1)
                starts = np.arange(len(items), dtype=np.int64)[narrow] * n
                keys.append(_pack(codes.ravel(), starts, n))
                indices.append(np.array([index for _, index in items], dtype=np.int64)[narrow])
        all_keys = np.concatenate(keys) if keys else _EMPTY
        all_indices = np.concatenate(indices) if indices else _EMPTY
        order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[order]
        self._indices = all_indices[order]

    def lookup(self, chunks: Sequence[str]) -> list[np.ndarray]:
        """For each chunk, the indices of its in-vocabulary n-grams (int64, any order)."""
        result: list[np.ndarray] = [_EMPTY] * len(chunks)
        if not chunks:
            return result
        if not self._packable or not len(self._keys):
            return [self._plain(chunk) for chunk in chunks]
        padded = "".join([f" {chunk} " for chunk in chunks])
        codes = _codes(padded)
        sizes = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks)) + 2
        owner = np.repeat(np.arange(len(chunks), dtype=np.int64), sizes)
        wide = np.unique(owner[codes >= _NARROW])
        # A wide chunk's windows are dropped here and the chunk analysed plainly below.
        usable = np.ones(len(chunks), dtype=bool)
        usable[wide] = False
        found_indices, found_owners = [], []
        for n in range(self._min_n, self._max_n + 1):
            windows = len(codes) - n + 1
            if windows <= 0:
                break
            # A window belongs to a chunk when it starts and ends inside it; a chunk
            # shorter than n has none, just as the analyzer stops at its whole length.
            starts = np.flatnonzero((owner[:windows] == owner[n - 1 :]) & usable[owner[:windows]])
            keys = _pack(codes, starts, n)
            position = np.searchsorted(self._keys, keys)
            position[position == len(self._keys)] = 0
            hit = self._keys[position] == keys
            found_indices.append(self._indices[position[hit]])
            found_owners.append(owner[starts[hit]])
        indices = np.concatenate(found_indices) if found_indices else _EMPTY
        owners = np.concatenate(found_owners) if found_owners else _EMPTY
        order = np.argsort(owners, kind="stable")
        counts = np.bincount(owners, minlength=len(chunks))
        for chunk_number, part in enumerate(np.split(indices[order], np.cumsum(counts)[:-1])):
            result[chunk_number] = part
        for chunk_number in wide:
            result[chunk_number] = self._plain(chunks[chunk_number])
        return result

    def _plain(self, chunk: str) -> np.ndarray:
        get = self._vocabulary.get
        found = [i for i in map(get, self._analyzer.chunk_ngrams(chunk)) if i is not None]
        return np.array(found, dtype=np.int64)
