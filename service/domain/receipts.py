"""A receipt: the proof, handed to whoever caused an entry, that the entry is in the log.

The same five facts prove every kind of entry (a decision by a classifier or by hand,
an appeal's resolution, a decision read back later): where the entry is, its leaf hash,
an RFC 6962 inclusion proof into a tree of ``tree_size`` entries, and the signed
checkpoint of that tree. A decision's author also gets the salt of its content
commitment; public receipts never carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from audit_log.store import Appended


@dataclass(frozen=True)
class Receipt:
    index: int
    leaf_hash: bytes
    tree_size: int
    inclusion_proof: list[bytes]
    checkpoint: str
    # The salt of the decision's content commitment, for its author alone; None when no
    # text was judged, when the content was erased, and on every public receipt.
    content_salt: bytes | None = None


class Logged(Protocol):
    """What an append leaves behind: the entry, with its proof in the new tree."""

    @property
    def appended(self) -> Appended: ...

    @property
    def tree_size(self) -> int: ...

    @property
    def inclusion_proof(self) -> list[bytes]: ...

    @property
    def checkpoint(self) -> str: ...


def receipt_for(logged: Logged, content_salt: bytes | None = None) -> Receipt:
    """The receipt for an entry just appended (``content_salt`` for a decision's author)."""
    return Receipt(
        index=logged.appended.index,
        leaf_hash=logged.appended.leaf_hash,
        tree_size=logged.tree_size,
        inclusion_proof=logged.inclusion_proof,
        checkpoint=logged.checkpoint,
        content_salt=content_salt or None,
    )
