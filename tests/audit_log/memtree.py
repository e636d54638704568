"""An in-memory stored-hash table for tests: the dict a database table would be."""

from __future__ import annotations

from collections.abc import Sequence

from audit_log.merkle import append_batch, stored_hash_count, stored_hashes, tree_hash


class MemoryTree:
    """A log tree whose stored hashes live in a dict, with every read recorded."""

    def __init__(self) -> None:
        self.hashes: dict[int, bytes] = {}
        self.size = 0
        self.reads: list[list[int]] = []

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self.reads.append(list(indexes))
        return [self.hashes[i] for i in indexes]

    def _insert(self, index: int, value: bytes) -> None:
        # The table is append-only: a second write to one index is a layout bug.
        assert index not in self.hashes, f"stored hash {index} written twice"
        self.hashes[index] = value

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash the way tlog does, with ``stored_hashes``."""
        start = stored_hash_count(self.size)
        for offset, value in enumerate(stored_hashes(self.size, leaf, self.read_hashes)):
            self._insert(start + offset, value)
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> bytes:
        """Append leaf hashes in one batch; return the new root."""
        rows, root = append_batch(self.size, leaves, self.read_hashes)
        for index, value in rows:
            self._insert(index, value)
        self.size += len(leaves)
        assert len(self.hashes) == stored_hash_count(self.size)
        return root

    def root(self, size: int | None = None) -> bytes:
        return tree_hash(self.size if size is None else size, self.read_hashes)
