"""Tests for audit_log.merkle against RFC 6962/9162 and the CT reference vectors."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_log.merkle import (
    MerkleInvariantError,
    ProofError,
    append_batch,
    check_record,
    check_tree,
    empty_tree_hash,
    node_hash,
    prove_record,
    prove_records,
    prove_tree,
    record_hash,
    record_proof_indexes,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    tree_hash,
    tree_hash_indexes,
    tree_proof_indexes,
)

from .memtree import MemoryTree

# --- Reference implementations, written straight from the RFC text ----------------


def _k(n: int) -> int:
    """The largest power of two smaller than n (RFC 6962 §2.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 §2.1, recursively, over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return node_hash(naive_mth(leaves[:k]), naive_mth(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if complete else [naive_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], complete), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def rfc9162_verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """The inclusion verification algorithm of RFC 9162 §2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def rfc9162_verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: Sequence[bytes]
) -> bool:
    """The consistency verification algorithm of RFC 9162 §2.1.4.2, for 0 < first < second."""
    if not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def leaves_for(count: int, seed: int = 0) -> list[bytes]:
    return [record_hash(f"record {seed}/{i}".encode()) for i in range(count)]


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# --- Fixtures ---------------------------------------------------------------------

MAX_SIZE = 64
LEAVES = leaves_for(MAX_SIZE + 8)


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    t = MemoryTree()
    for leaf in LEAVES[:MAX_SIZE]:
        t.append(leaf)
    return t


def counting_reader(tree: MemoryTree):
    calls: list[list[int]] = []

    def read(indexes: Sequence[int]) -> list[bytes]:
        calls.append(list(indexes))
        return tree.read_hashes(indexes)

    return read, calls


# --- Hashing and the CT reference vectors -------------------------------------------

CT_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
# Roots of the trees of sizes 0..8 over CT_INPUTS, from the Certificate Transparency
# reference tests (transparency-dev/merkle proof/verify_test.go).
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (record index, tree size, proof); the CT vectors number leaves from 1.
CT_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


@pytest.fixture(scope="module")
def ct_tree() -> MemoryTree:
    t = MemoryTree()
    for data in CT_INPUTS:
        t.append(record_hash(data))
    return t


def test_hash_prefixes() -> None:
    assert record_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert empty_tree_hash() == hashlib.sha256(b"").digest()


def test_ct_reference_roots(ct_tree: MemoryTree) -> None:
    for size, expected in enumerate(CT_ROOTS):
        assert ct_tree.root(size).hex() == expected, f"size {size}"


def test_ct_reference_roots_by_batch() -> None:
    t = MemoryTree()
    assert t.extend([record_hash(d) for d in CT_INPUTS[:3]]).hex() == CT_ROOTS[3]
    assert t.extend([record_hash(d) for d in CT_INPUTS[3:]]).hex() == CT_ROOTS[8]


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_ct_reference_inclusion(ct_tree: MemoryTree, index: int, size: int, proof: list) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert prove_record(size, index, ct_tree.read_hashes) == expected
    root = bytes.fromhex(CT_ROOTS[size])
    check_record(expected, size, root, index, record_hash(CT_INPUTS[index]))


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_ct_reference_consistency(ct_tree: MemoryTree, old: int, new: int, proof: list) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert prove_tree(new, old, ct_tree.read_hashes) == expected
    check_tree(expected, new, bytes.fromhex(CT_ROOTS[new]), old, bytes.fromhex(CT_ROOTS[old]))


# --- Stored hash layout -------------------------------------------------------------


def test_stored_hash_index_layout() -> None:
    # Record 0 → 0; record 1 → 1, then (1, 0) → 2; record 2 → 3; record 3 → 4, (1,1) → 5,
    # (2, 0) → 6: the tlog / Crosby-Wallach order.
    assert [stored_hash_index(0, n) for n in range(5)] == [0, 1, 3, 4, 7]
    assert [stored_hash_index(1, n) for n in range(3)] == [2, 5, 9]
    assert stored_hash_index(2, 0) == 6
    assert [stored_hash_count(n) for n in range(6)] == [0, 1, 3, 4, 7, 8]


def test_stored_hash_index_is_dense_and_invertible() -> None:
    size = 3000
    indexes = [
        stored_hash_index(level, n)
        for level in range(size.bit_length())
        for n in range(size >> level)
    ]
    assert sorted(indexes) == list(range(stored_hash_count(size)))
    for index in range(stored_hash_count(size)):
        level, n = split_stored_hash_index(index)
        assert stored_hash_index(level, n) == index


def test_stored_hash_index_large_values() -> None:
    for level, n in [(0, 2**62), (40, 12345), (62, 0), (5, 2**50 + 3)]:
        assert split_stored_hash_index(stored_hash_index(level, n)) == (level, n)


def test_stored_hash_count_matches_writes(tree: MemoryTree) -> None:
    assert len(tree.hashes) == stored_hash_count(tree.size)


# --- Tree hash and appends --------------------------------------------------------


def test_tree_hash_matches_naive_mth_for_every_size(tree: MemoryTree) -> None:
    for size in range(MAX_SIZE + 1):
        read, calls = counting_reader(tree)
        assert tree_hash(size, read) == naive_mth(LEAVES[:size]), f"size {size}"
        assert len(calls) == (1 if size else 0)
        if size:
            assert calls[0] == tree_hash_indexes(size)
            assert len(calls[0]) == size.bit_count() <= math.log2(size) + 1


def test_append_batch_equals_one_by_one() -> None:
    reference = MemoryTree()
    for leaf in LEAVES:
        reference.append(leaf)
    for n in range(0, 41):
        for k in [*range(0, 18), 23, 31, 32]:
            if n + k > len(LEAVES):
                continue
            limit = stored_hash_count(n)
            calls: list[list[int]] = []

            def read(indexes: Sequence[int], limit: int = limit, calls: list = calls) -> list:
                calls.append(list(indexes))
                # A batch may only read what the size-n tree had already stored.
                assert all(i < limit for i in indexes)
                return [reference.hashes[i] for i in indexes]

            rows, root = append_batch(n, LEAVES[n : n + k], read)
            expected = [(i, reference.hashes[i]) for i in range(limit, stored_hash_count(n + k))]
            assert rows == expected, (n, k)
            assert root == naive_mth(LEAVES[: n + k]), (n, k)
            assert len(calls) <= 1
            if calls:
                assert len(calls[0]) <= math.log2(max(n, 1)) + 1


def test_append_batch_reads_right_edge_once() -> None:
    t = MemoryTree()
    t.extend(LEAVES[:45])
    t.reads.clear()
    t.extend(LEAVES[45:50])
    assert t.reads == [tree_hash_indexes(45)]
    empty = MemoryTree()
    empty.extend(LEAVES[:3])
    assert empty.reads == []


def test_stored_hashes_reads_once_and_only_when_needed() -> None:
    t = MemoryTree()
    for n, leaf in enumerate(LEAVES[:32]):
        t.reads.clear()
        t.append(leaf)
        completed = ((n + 1) & -(n + 1)).bit_length() - 1
        assert len(t.reads) == (1 if completed else 0)
        if completed:
            assert t.reads[0] == sorted(t.reads[0])
            assert len(t.reads[0]) == completed


# --- Inclusion proofs -------------------------------------------------------------


def test_inclusion_proofs_for_every_size(tree: MemoryTree) -> None:
    for t in range(1, MAX_SIZE + 1):
        root = naive_mth(LEAVES[:t])
        for n in range(t):
            read, calls = counting_reader(tree)
            proof = prove_record(t, n, read)
            assert proof == naive_path(n, LEAVES[:t]), (t, n)
            assert len(calls) == (1 if proof else 0)
            if calls:
                assert calls[0] == record_proof_indexes(t, n)
            check_record(proof, t, root, n, LEAVES[n])
            assert rfc9162_verify_inclusion(n, t, LEAVES[n], proof, root)


@given(st.integers(min_value=1, max_value=MAX_SIZE), st.data())
def test_batch_proofs_equal_single_proofs(tree: MemoryTree, t: int, data) -> None:
    # The module's tree holds MAX_SIZE leaves; a proof for size t reads only its prefix.
    ns = data.draw(st.lists(st.integers(min_value=0, max_value=t - 1), max_size=20))
    read, calls = counting_reader(tree)
    proofs = prove_records(t, ns, read)
    assert proofs == [naive_path(n, LEAVES[:t]) for n in ns]
    assert len(calls) <= 1


def test_batch_proofs_refuse_an_index_outside_the_tree(tree: MemoryTree) -> None:
    with pytest.raises(ProofError):
        prove_records(4, [1, 4], tree.read_hashes)


def _inclusion_forgeries(proof: list[bytes], t: int, root: bytes, n: int, leaf: bytes):
    for i in range(len(proof)):
        for bit in (0, 3, 7):
            bad = list(proof)
            bad[i] = flip(bad[i], bit)
            yield f"flip proof[{i}] bit {bit}", (bad, t, root, n, leaf)
    if proof:
        yield "truncated", (proof[:-1], t, root, n, leaf)
        yield "first dropped", (proof[1:], t, root, n, leaf)
    yield "extended", ([*proof, root], t, root, n, leaf)
    yield "prefixed", ([leaf, *proof], t, root, n, leaf)
    yield "wrong root", (proof, t, flip(root), n, leaf)
    yield "empty root", (proof, t, empty_tree_hash(), n, leaf)
    yield "wrong leaf", (proof, t, root, n, flip(leaf))
    for other in {n - 1, n + 1, n ^ 2, n ^ 1} - {n}:
        if 0 <= other < t:
            yield f"index {other}", (proof, t, root, other, leaf)
    # Only sizes that change the tree's shape: a proof for size t can also fit size t±1
    # with the same root, since the root, not the proof, binds the size (a checkpoint
    # signs both together).
    for size in {2 * t, t // 2} - {t}:
        if size > n:
            yield f"size {size}", (proof, size, root, n, leaf)


def test_inclusion_forgeries_fail(tree: MemoryTree) -> None:
    for t in range(1, MAX_SIZE + 1):
        root = naive_mth(LEAVES[:t])
        for n in range(t):
            proof = prove_record(t, n, tree.read_hashes)
            for what, args in _inclusion_forgeries(proof, t, root, n, LEAVES[n]):
                # A forged index or size can coincide with a genuine proof for another
                # leaf only if that leaf hash is the same, which it never is here.
                with pytest.raises(ProofError):
                    check_record(*args)
                    pytest.fail(f"t={t} n={n}: {what} verified")


def test_inclusion_argument_errors(tree: MemoryTree) -> None:
    root = naive_mth(LEAVES[:8])
    for t, n in [(0, 0), (8, 8), (8, 9), (3, -1), (-1, 0)]:
        with pytest.raises(ProofError):
            prove_record(t, n, tree.read_hashes)
        with pytest.raises(ProofError):
            check_record([], t, root, n, LEAVES[0])
    with pytest.raises(ProofError):
        prove_record(True, 0, tree.read_hashes)
    with pytest.raises(ProofError):
        check_record([], 1, b"short", 0, LEAVES[0])
    with pytest.raises(ProofError):
        check_record([b"x" * 31, *prove_record(8, 0, tree.read_hashes)[1:]], 8, root, 0, LEAVES[0])
    with pytest.raises(ProofError):
        # The wrong type on purpose: the check refuses what the signature rules out.
        check_record(["not bytes"] * 3, 8, root, 0, LEAVES[0])  # type: ignore[list-item]


# --- Consistency proofs ------------------------------------------------------------


def test_consistency_proofs_for_every_pair(tree: MemoryTree) -> None:
    roots = [naive_mth(LEAVES[:size]) for size in range(MAX_SIZE + 1)]
    for t in range(0, MAX_SIZE + 1):
        for n in range(0, t + 1):
            read, calls = counting_reader(tree)
            proof = prove_tree(t, n, read)
            assert len(calls) == (1 if proof else 0)
            if 0 < n < t:
                assert proof == naive_subproof(n, LEAVES[:t], True), (t, n)
                assert calls[0] == tree_proof_indexes(t, n)
                assert rfc9162_verify_consistency(n, t, roots[n], roots[t], proof)
            else:
                assert proof == []
            check_tree(proof, t, roots[t], n, roots[n])


def _consistency_forgeries(proof: list[bytes], t: int, th: bytes, n: int, h: bytes):
    for i in range(len(proof)):
        for bit in (0, 4, 7):
            bad = list(proof)
            bad[i] = flip(bad[i], bit)
            yield f"flip proof[{i}] bit {bit}", (bad, t, th, n, h)
    yield "empty", ([], t, th, n, h)
    yield "truncated", (proof[:-1], t, th, n, h)
    yield "first dropped", (proof[1:], t, th, n, h)
    yield "extended", ([*proof, th], t, th, n, h)
    yield "prefixed", ([h, *proof], t, th, n, h)
    yield "wrong new root", (proof, t, flip(th), n, h)
    yield "wrong old root", (proof, t, th, n, flip(h))
    yield "swapped roots", (proof, t, h, n, th)
    for size in {n - 1, n + 1, n ^ 2} - {n}:
        if 0 < size < t:
            yield f"old size {size}", (proof, t, th, size, h)
    for size in {2 * t} - {t}:
        yield f"new size {size}", (proof, size, th, n, h)


def test_consistency_forgeries_fail(tree: MemoryTree) -> None:
    roots = [naive_mth(LEAVES[:size]) for size in range(MAX_SIZE + 1)]
    for t in range(2, MAX_SIZE + 1):
        for n in range(1, t):
            proof = prove_tree(t, n, tree.read_hashes)
            for what, args in _consistency_forgeries(proof, t, roots[t], n, roots[n]):
                with pytest.raises(ProofError):
                    check_tree(*args)
                    pytest.fail(f"t={t} n={n}: {what} verified")


def test_consistency_edge_cases() -> None:
    root = naive_mth(LEAVES[:5])
    check_tree([], 5, root, 5, root)
    check_tree([], 5, root, 0, empty_tree_hash())
    check_tree([], 0, empty_tree_hash(), 0, empty_tree_hash())
    with pytest.raises(ProofError):
        check_tree([], 5, root, 5, flip(root))
    with pytest.raises(ProofError):
        check_tree([root], 5, root, 5, root)
    with pytest.raises(ProofError):
        check_tree([], 5, root, 0, root)
    with pytest.raises(ProofError):
        check_tree([root], 5, root, 0, empty_tree_hash())
    with pytest.raises(ProofError):
        check_tree([], 4, root, 5, root)
    with pytest.raises(ProofError):
        prove_tree(4, 5, lambda indexes: [])
    with pytest.raises(ProofError):
        prove_tree(-1, 0, lambda indexes: [])


# --- Read budget on a large tree ---------------------------------------------------


@pytest.fixture(scope="module")
def big_tree() -> MemoryTree:
    t = MemoryTree()
    leaves = leaves_for(100_000, seed=1)
    for start in range(0, len(leaves), 10_000):
        t.extend(leaves[start : start + 10_000])
    return t


def test_proofs_on_100k_leaves_read_log_hashes_in_one_call(big_tree: MemoryTree) -> None:
    t = big_tree.size
    budget = 2 * math.log2(t) + 2
    root = big_tree.root()
    rng = random.Random(42)
    samples = {0, 1, 2, 3, t // 2, 65_535, 65_536, t - 2, t - 1}
    samples |= {rng.randrange(t) for _ in range(300)}
    worst_inclusion = worst_consistency = 0
    for n in sorted(samples):
        read, calls = counting_reader(big_tree)
        proof = prove_record(t, n, read)
        assert len(calls) == 1 and len(calls[0]) <= budget
        worst_inclusion = max(worst_inclusion, len(calls[0]))
        check_record(proof, t, root, n, big_tree.hashes[stored_hash_index(0, n)])

        if n == 0:
            continue
        read, calls = counting_reader(big_tree)
        proof = prove_tree(t, n, read)
        assert len(calls) == 1 and len(calls[0]) <= budget
        worst_consistency = max(worst_consistency, len(calls[0]))
        check_tree(proof, t, root, n, big_tree.root(n))

    # Sizes whose right edge is ragged need the most reads; 2^17 - 1 leaves in 17 pieces.
    read, calls = counting_reader(big_tree)
    prove_tree(t, 2**16 - 1, read)
    assert len(calls) == 1 and len(calls[0]) <= budget
    print(
        f"100k-leaf tree: inclusion reads ≤ {worst_inclusion}, consistency reads ≤ "
        f"{worst_consistency}, budget {budget:.1f}"
    )


def test_exhaustive_read_budget_on_ragged_sizes(big_tree: MemoryTree) -> None:
    # Every (t, n) with t of the form 2^a - 1 or 2^a + 2^b, the shapes with most pieces.
    sizes = {2**a - 1 for a in range(2, 17)} | {2**a + 2**b for a in range(3, 16) for b in range(a)}
    for t in sorted(sizes):
        budget = 2 * math.log2(t) + 2
        for n in {1, t // 3, t // 2, t - 1, 2 ** (t.bit_length() - 1) - 1} - {0}:
            assert len(record_proof_indexes(t, n)) <= budget, (t, n)
            assert len(tree_proof_indexes(t, n)) <= budget, (t, n)


# --- Hash reader contract ----------------------------------------------------------


def test_broken_reader_is_a_loud_failure(tree: MemoryTree) -> None:
    with pytest.raises(MerkleInvariantError):
        tree_hash(5, lambda indexes: [])
    with pytest.raises(MerkleInvariantError):
        prove_record(8, 3, lambda indexes: [b"short"] * len(indexes))
    with pytest.raises(MerkleInvariantError):
        stored_hashes(3, LEAVES[3], lambda indexes: [LEAVES[0]] * (len(indexes) + 1))
    assert not issubclass(MerkleInvariantError, ValueError)


def test_bad_arguments_are_proof_errors(tree: MemoryTree) -> None:
    for call in (
        lambda: stored_hash_index(-1, 0),
        lambda: stored_hash_index(0, -1),
        lambda: split_stored_hash_index(-5),
        lambda: stored_hash_count(-1),
        lambda: stored_hashes(0, b"short", tree.read_hashes),
        lambda: append_batch(0, [LEAVES[0], b"short"], tree.read_hashes),
        lambda: tree_hash(-1, tree.read_hashes),
    ):
        with pytest.raises(ProofError):
            call()


# --- Properties --------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.binary(max_size=8), min_size=1, max_size=150),
    cuts=st.lists(st.integers(min_value=0, max_value=150), max_size=6),
    picks=st.data(),
)
def test_property_batches_and_proofs(
    data: list[bytes], cuts: list[int], picks: st.DataObject
) -> None:
    leaves = [record_hash(d) for d in data]
    one_by_one = MemoryTree()
    for leaf in leaves:
        one_by_one.append(leaf)
    batched = MemoryTree()
    bounds = sorted({0, len(leaves), *(c for c in cuts if c <= len(leaves))})
    for lo, hi in itertools.pairwise(bounds):
        assert batched.extend(leaves[lo:hi]) == naive_mth(leaves[:hi])
    assert batched.hashes == one_by_one.hashes

    t = picks.draw(st.integers(min_value=1, max_value=len(leaves)), label="t")
    n = picks.draw(st.integers(min_value=0, max_value=t - 1), label="n")
    root = naive_mth(leaves[:t])
    proof = prove_record(t, n, batched.read_hashes)
    check_record(proof, t, root, n, leaves[n])
    assert rfc9162_verify_inclusion(n, t, leaves[n], proof, root)
    if proof:
        i = picks.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="i")
        bit = picks.draw(st.integers(min_value=0, max_value=7), label="bit")
        proof[i] = flip(proof[i], bit)
        with pytest.raises(ProofError):
            check_record(proof, t, root, n, leaves[n])

    m = picks.draw(st.integers(min_value=0, max_value=t), label="m")
    old_root = naive_mth(leaves[:m])
    consistency = prove_tree(t, m, batched.read_hashes)
    check_tree(consistency, t, root, m, old_root)
    if 0 < m < t:
        assert rfc9162_verify_consistency(m, t, old_root, root, consistency)
        with pytest.raises(ProofError):
            check_tree(consistency, t, root, m, flip(old_root))


def test_reader_may_return_memoryviews(tree: MemoryTree) -> None:
    # Database drivers return BLOB/bytea columns as memoryview; those are hashes too.
    def read(indexes: Sequence[int]) -> list:
        return [memoryview(h) for h in tree.read_hashes(indexes)]

    assert tree_hash(37, read) == naive_mth(LEAVES[:37])
    assert prove_record(37, 5, read) == naive_path(5, LEAVES[:37])
