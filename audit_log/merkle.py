"""Merkle tree hashing and proofs for the audit log (RFC 6962 §2.1, RFC 9162 §2.1).

The tree is stored as the hashes of its complete subtrees, each under a dense integer
index (Crosby & Wallach, "Efficient Data Structures for Tamper-Evident Logging", §3.3;
the same layout as Go's ``golang.org/x/mod/sumdb/tlog``). Appending record ``n`` writes
its leaf hash and the hashes of the subtrees that leaf completes, so a store never
rewrites a row, and any root or proof can be assembled from O(log n) stored hashes.

Every function here is pure. Storage is reached only through a ``HashReader``, a
callable that maps a list of stored-hash indexes to their hashes in one batched read;
each function documents how many times it calls it (at most once).

Errors: bad arguments and proofs that do not verify raise ``ProofError`` (a
``ValueError``); a violated internal invariant, including a hash reader that breaks its
contract, raises ``MerkleInvariantError`` (an ``AssertionError``) because it means a bug
or a corrupt store, never a bad request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

HASH_SIZE = 32

HashReader = Callable[[Sequence[int]], list[bytes]]
"""Maps stored-hash indexes to the hashes stored there, in the same order, in one read."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_EMPTY_TREE_HASH = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify, or an argument (size, index, hash) is out of range."""


class MerkleInvariantError(AssertionError):
    """Internal arithmetic or a hash reader broke an invariant: a bug, not bad input."""


def _invariant(condition: bool, message: str) -> None:
    # An explicit raise rather than ``assert``: these checks must survive ``python -O``.
    if not condition:
        raise MerkleInvariantError(f"merkle: {message}")


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")
    return bytes(value)


def _check_size(value: object, what: str) -> int:
    # bool is an int subclass; a True tree size is always a caller bug.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer, got {value!r}")
    return value


# --- Hashing (RFC 6962 §2.1) -------------------------------------------------------


def record_hash(data: bytes) -> bytes:
    """Return the leaf hash of a record: SHA-256(0x00 || data) (RFC 6962 §2.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right) (RFC 6962 §2.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def empty_tree_hash() -> bytes:
    """Return the root of the empty tree, SHA-256 of the empty string (RFC 6962 §2.1)."""
    return _EMPTY_TREE_HASH


# --- Stored hash layout (Crosby & Wallach §3.3) -----------------------------------


def stored_hash_count(n: int) -> int:
    """Return how many hashes are stored for a tree of ``n`` records.

    That is the number of complete subtrees at every level, n + n/2 + n/4 + ...,
    which equals 2n - popcount(n). It is also the index where record ``n``'s own
    leaf hash will be stored.
    """
    n = _check_size(n, "tree size")
    return 2 * n - n.bit_count()


def stored_hash_index(level: int, n: int) -> int:
    """Return the dense storage index of the ``n``-th complete subtree at ``level``.

    Level 0 holds leaf hashes; the subtree (level, n) covers records
    [n·2^level, (n+1)·2^level). Its hash is written immediately after the leaf hash of
    the record that completes it, which is record (n+1)·2^level - 1.
    """
    level = _check_size(level, "level")
    n = _check_size(n, "subtree number")
    return _stored_index(level, n)


def _stored_index(level: int, n: int) -> int:
    """``stored_hash_index`` without checking its arguments, for subtrees this module
    computed: ``stored_hash_count`` of the record that completes the subtree, plus its
    level."""
    last_record = ((n + 1) << level) - 1
    return 2 * last_record - last_record.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Return ``(level, n)`` such that ``stored_hash_index(level, n) == index``."""
    index = _check_size(index, "stored hash index")
    # The record r that wrote this index has stored_hash_count(r) <= index <
    # stored_hash_count(r + 1) <= 2r + 1, so r >= index // 2, and 2r - popcount(r) <= index
    # bounds it above by index // 2 + log2(index): walk up from the low end.
    record = index // 2
    _invariant(stored_hash_count(record) <= index, f"split of index {index} started too high")
    while stored_hash_count(record + 1) <= index:
        record += 1
    level = index - stored_hash_count(record)
    # Record r writes its leaf plus one hash per trailing 1 bit of r.
    _invariant(level <= _trailing_ones(record), f"index {index} split to level {level}")
    return level, record >> level


def _trailing_ones(n: int) -> int:
    return ((n + 1) & -(n + 1)).bit_length() - 1


def _largest_power_of_two_below(n: int) -> int:
    """Return the largest power of two strictly less than ``n`` (n >= 2); RFC 6962's k."""
    _invariant(n >= 2, f"split of a range of {n} leaves")
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_indexes(lo: int, hi: int) -> list[int]:
    """Return the stored indexes whose hashes fold into the hash of records [lo, hi).

    [lo, hi) is split left to right into maximal complete subtrees; lo must be aligned
    to the first of them, which holds for every range RFC 6962's recursion produces.
    """
    indexes: list[int] = []
    while lo < hi:
        size = 1 << ((hi - lo).bit_length() - 1)
        _invariant(lo % size == 0, f"subtree [{lo}, {hi}) is not aligned")
        level = size.bit_length() - 1
        indexes.append(_stored_index(level, lo >> level))
        lo += size
    return indexes


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash a left-to-right list of complete subtree roots into the root over them all."""
    _invariant(len(hashes) > 0, "fold of no hashes")
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _read(read_hashes: HashReader, indexes: Sequence[int]) -> list[bytes]:
    """Call the reader once and hold it to its contract: one 32-byte hash per index."""
    hashes = list(read_hashes(indexes))
    _invariant(
        len(hashes) == len(indexes),
        f"read_hashes returned {len(hashes)} hashes for {len(indexes)} indexes",
    )
    result = []
    for index, h in zip(indexes, hashes, strict=True):
        # Database drivers hand back bytea/BLOB columns as bytes or memoryview.
        _invariant(
            isinstance(h, bytes | bytearray | memoryview) and len(h) == HASH_SIZE,
            f"read_hashes returned a malformed hash for index {index}",
        )
        result.append(bytes(h))
    return result


# --- Appending -------------------------------------------------------------------


def stored_hashes(n: int, leaf: bytes, read_hashes: HashReader) -> list[bytes]:
    """Return the hashes to store when appending record ``n`` with leaf hash ``leaf``.

    They belong at consecutive indexes starting at ``stored_hash_index(0, n)``: the leaf
    itself, then the root of every subtree that record ``n`` completes, lowest level
    first. Calls ``read_hashes`` at most once, for the left siblings of those subtrees
    (one per trailing 1 bit of n, so at most log2(n) + 1). RFC 6962 §2.1.
    """
    n = _check_size(n, "record index")
    h = _check_hash(leaf, "leaf hash")
    completed = _trailing_ones(n)
    if completed == 0:
        return [h]
    # The left sibling at level i is subtree (i, (n >> i) - 1); ask in increasing index
    # order, which is decreasing level, as stores read sorted keys fastest.
    indexes = [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(completed))]
    siblings = _read(read_hashes, indexes)
    result = [h]
    for level in range(completed):
        h = node_hash(siblings[completed - 1 - level], h)
        result.append(h)
    return result


def tree_hash_indexes(n: int) -> list[int]:
    """Return the stored indexes ``tree_hash(n)`` reads: the tree's maximal complete subtrees.

    These are also the "right edge" an append to a tree of size ``n`` needs, at most
    log2(n) + 1 of them, left to right (increasing index).
    """
    n = _check_size(n, "tree size")
    return _subtree_indexes(0, n)


def append_batch(
    n: int, leaves: Sequence[bytes], read_hashes: HashReader
) -> tuple[list[tuple[int, bytes]], bytes]:
    """Append leaf hashes to a tree of ``n`` records.

    Returns ``(rows, root)``: the ``(stored_index, hash)`` pairs to insert, in increasing
    index order and exactly those ``stored_hashes`` would produce one record at a time,
    and the root of the tree of size ``n + len(leaves)`` (RFC 6962 §2.1). Calls
    ``read_hashes`` at most once, for the ``tree_hash_indexes(n)`` right edge, and keeps
    everything else in memory.
    """
    n = _check_size(n, "tree size")
    new_leaves = [_check_hash(leaf, f"leaf hash {i}") for i, leaf in enumerate(leaves)]
    if not new_leaves:
        return [], tree_hash(n, read_hashes)

    # The frontier: roots of the maximal complete subtrees of the tree so far, left to
    # right, as (level, hash). Each new leaf merges with its equal-sized left neighbours.
    frontier: list[tuple[int, bytes]] = []
    edge = tree_hash_indexes(n)
    if edge:
        for index, h in zip(edge, _read(read_hashes, edge), strict=True):
            frontier.append((split_stored_hash_index(index)[0], h))

    rows: list[tuple[int, bytes]] = []
    for record, leaf in enumerate(new_leaves, start=n):
        index = stored_hash_count(record)
        rows.append((index, leaf))
        h = leaf
        for level in range(_trailing_ones(record)):
            left_level, left = frontier.pop()
            _invariant(left_level == level, f"frontier level {left_level} != {level}")
            h = node_hash(left, h)
            rows.append((index + level + 1, h))
        frontier.append((_trailing_ones(record), h))

    return rows, _fold_right([h for _, h in frontier])


# --- Tree hash (RFC 6962 §2.1) ----------------------------------------------------


def tree_hash(n: int, read_hashes: HashReader) -> bytes:
    """Return the root hash MTH of the first ``n`` records (RFC 6962 §2.1).

    The empty tree's root is SHA-256(""). Calls ``read_hashes`` at most once, for at
    most log2(n) + 1 hashes (``tree_hash_indexes(n)``).
    """
    n = _check_size(n, "tree size")
    if n == 0:
        return empty_tree_hash()
    indexes = _subtree_indexes(0, n)
    return _fold_right(_read(read_hashes, indexes))


# --- Inclusion proofs (RFC 9162 §2.1.3) -------------------------------------------


def _inclusion_ranges(t: int, n: int) -> list[tuple[int, int]]:
    """Return the record ranges whose roots form the inclusion proof of ``n`` in size ``t``.

    Bottom-up, the order of RFC 9162 §2.1.3.1's PATH(m, D[n]).
    """
    siblings: list[tuple[int, int]] = []
    lo, hi = 0, t
    while hi - lo > 1:
        # RFC 6962's k for a range of two leaves or more, computed inline: this loop runs
        # for every record of every receipt.
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if n < lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo = lo + k
    siblings.reverse()
    return siblings


def _check_record_args(t: int, n: int) -> tuple[int, int]:
    t = _check_size(t, "tree size")
    n = _check_size(n, "record index")
    if n >= t:
        raise ProofError(f"record index {n} is not in a tree of size {t}")
    return t, n


def record_proof_indexes(t: int, n: int) -> list[int]:
    """Return the stored indexes ``prove_record(t, n)`` reads, at most 2·log2(t) + 1."""
    t, n = _check_record_args(t, n)
    return [i for lo, hi in _inclusion_ranges(t, n) for i in _subtree_indexes(lo, hi)]


def _assemble(ranges: Sequence[tuple[int, int]], read_hashes: HashReader) -> list[bytes]:
    """Read, in one call, every stored hash the ranges need; return one root per range."""
    per_range = [_subtree_indexes(lo, hi) for lo, hi in ranges]
    indexes = [i for part in per_range for i in part]
    if not indexes:
        return []
    hashes = _read(read_hashes, indexes)
    proof: list[bytes] = []
    start = 0
    for part in per_range:
        proof.append(_fold_right(hashes[start : start + len(part)]))
        start += len(part)
    _invariant(start == len(hashes), "proof assembly left hashes unused")
    return proof


def prove_record(t: int, n: int, read_hashes: HashReader) -> list[bytes]:
    """Return the inclusion proof that record ``n`` is in the tree of size ``t``.

    The proof is RFC 9162 §2.1.3.1's PATH, leaf to root, so any RFC 9162 verifier
    accepts it. Calls ``read_hashes`` at most once, for ``record_proof_indexes(t, n)``.
    """
    t, n = _check_record_args(t, n)
    return _assemble(_inclusion_ranges(t, n), read_hashes)


def prove_records(t: int, ns: Sequence[int], read_hashes: HashReader) -> list[list[bytes]]:
    """Return ``prove_record(t, n, read_hashes)`` for every ``n`` in ``ns``.

    Neighbouring records share most of their proof (every range right of the batch,
    and the old tree's edge), so each distinct range is hashed once. Calls
    ``read_hashes`` at most once.
    """
    t = _check_size(t, "tree size")
    per_record = [_inclusion_ranges(*_check_record_args(t, n)) for n in ns]
    distinct = list(dict.fromkeys(r for ranges in per_record for r in ranges))
    roots = dict(zip(distinct, _assemble(distinct, read_hashes), strict=True))
    return [[roots[r] for r in ranges] for ranges in per_record]


def check_record(proof: Sequence[bytes], t: int, th: bytes, n: int, h: bytes) -> None:
    """Verify that ``proof`` shows record ``n`` with leaf hash ``h`` in tree (``t``, ``th``).

    Returns None on success; raises ``ProofError`` if the proof does not verify or an
    argument is out of range (RFC 9162 §2.1.3.2).
    """
    t, n = _check_record_args(t, n)
    th = _check_hash(th, "tree hash")
    h = _check_hash(h, "leaf hash")
    ranges = _inclusion_ranges(t, n)
    if len(proof) != len(ranges):
        raise ProofError(
            f"inclusion proof for record {n} in tree size {t} must have "
            f"{len(ranges)} hashes, has {len(proof)}"
        )
    for i, ((lo, _), sibling) in enumerate(zip(ranges, proof, strict=True)):
        sibling = _check_hash(sibling, f"inclusion proof hash {i}")
        h = node_hash(h, sibling) if lo > n else node_hash(sibling, h)
    if not hmac.compare_digest(h, th):
        raise ProofError(f"inclusion proof for record {n} does not lead to the tree hash")


# --- Consistency proofs (RFC 9162 §2.1.4) -----------------------------------------


def _consistency_ranges(t: int, n: int) -> list[tuple[int, int]]:
    """Return the record ranges whose roots form the consistency proof from ``n`` to ``t``.

    In RFC 9162 §2.1.4.1 SUBPROOF order: the common subtree (omitted when it is the
    whole old tree) first, then siblings bottom-up. Requires 0 < n < t.
    """
    siblings: list[tuple[int, int]] = []
    lo, hi = 0, t
    while n != hi:
        k = _largest_power_of_two_below(hi - lo)
        if n <= lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo = lo + k
    siblings.reverse()
    # The old tree of size n is itself the subtree [0, n) exactly when n is a power of
    # two; the verifier already holds its hash, so RFC 9162 leaves it out.
    return siblings if lo == 0 else [(lo, hi), *siblings]


def _check_tree_args(t: int, n: int) -> tuple[int, int]:
    t = _check_size(t, "tree size")
    n = _check_size(n, "old tree size")
    if n > t:
        raise ProofError(f"old tree size {n} is larger than tree size {t}")
    return t, n


def tree_proof_indexes(t: int, n: int) -> list[int]:
    """Return the stored indexes ``prove_tree(t, n)`` reads, at most 2·log2(t) + 2."""
    t, n = _check_tree_args(t, n)
    if n in (0, t):
        return []
    return [i for lo, hi in _consistency_ranges(t, n) for i in _subtree_indexes(lo, hi)]


def prove_tree(t: int, n: int, read_hashes: HashReader) -> list[bytes]:
    """Return the consistency proof that the tree of size ``t`` extends the one of size ``n``.

    The proof is RFC 9162 §2.1.4.1's PROOF(n, D[t]), empty when n is 0 or t. Calls
    ``read_hashes`` at most once, for ``tree_proof_indexes(t, n)``.
    """
    t, n = _check_tree_args(t, n)
    if n in (0, t):
        return []
    return _assemble(_consistency_ranges(t, n), read_hashes)


def check_tree(proof: Sequence[bytes], t: int, th: bytes, n: int, h: bytes) -> None:
    """Verify that tree (``t``, ``th``) contains tree (``n``, ``h``) as a prefix.

    Returns None on success; raises ``ProofError`` otherwise (RFC 9162 §2.1.4.2). For
    n == t the proof must be empty and the hashes equal; for n == 0 the proof must be
    empty and ``h`` the empty tree hash.
    """
    t, n = _check_tree_args(t, n)
    th = _check_hash(th, "tree hash")
    h = _check_hash(h, "old tree hash")
    if n in (0, t):
        if proof:
            raise ProofError(f"consistency proof from size {n} to {t} must be empty")
        expected = empty_tree_hash() if n == 0 else th
        if not hmac.compare_digest(h, expected):
            raise ProofError(f"tree hashes of size {n} and {t} are inconsistent")
        return

    ranges = _consistency_ranges(t, n)
    if len(proof) != len(ranges):
        raise ProofError(
            f"consistency proof from size {n} to {t} must have "
            f"{len(ranges)} hashes, has {len(proof)}"
        )
    hashes = [_check_hash(p, f"consistency proof hash {i}") for i, p in enumerate(proof)]
    if n & (n - 1) == 0:
        # n is a power of two, so the old tree is a complete subtree of the new one and
        # the verifier's own hash of it seeds both computations (RFC 9162 §2.1.4.2).
        old = new = h
        siblings = zip(ranges, hashes, strict=True)
    else:
        old = new = hashes[0]
        siblings = zip(ranges[1:], hashes[1:], strict=True)
    for (lo, _), sibling in siblings:
        if lo >= n:
            # A right sibling lies wholly after the old tree: only the new root grows.
            new = node_hash(new, sibling)
        else:
            old = node_hash(sibling, old)
            new = node_hash(sibling, new)
    if not hmac.compare_digest(old, h):
        raise ProofError(f"consistency proof does not lead to the tree hash of size {n}")
    if not hmac.compare_digest(new, th):
        raise ProofError(f"consistency proof does not lead to the tree hash of size {t}")
