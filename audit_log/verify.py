"""Offline verification of Fair Witness receipts and checkpoints.

This is what a member of the public runs: no database, no network, no web framework.
The caller fetches documents and the log's verifier key by whatever means it trusts;
this module parses them once into small frozen models and checks them, and every
failure raises ``VerificationError`` naming the check that failed and the input it
failed on.

Checks and their names (``VerificationError.check``):

- ``receipt``: the receipt or document is malformed;
- ``checkpoint_signature``: the checkpoint note does not verify with a trusted key;
- ``tree_size``: the receipt's tree size is not the checkpoint's;
- ``leaf_hash``: the entry body does not hash (RFC 8785, RFC 6962 §2.1) to the leaf hash;
- ``inclusion_proof``: the proof does not lead from the leaf to the checkpoint root
  (RFC 9162 §2.1.3.2);
- ``origin``, ``consistency_proof``: two checkpoints are not of one append-only log
  (RFC 9162 §2.1.4.2); a failure here is evidence of a fork;
- ``excerpt``: a decision view's published excerpt does not open the commitment its
  entry holds (``sha256:`` of salt ‖ UTF-8 excerpt).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from audit_log.canonical import CanonicalError, leaf_hash_of
from audit_log.checkpoint import Checkpoint, NoteError, Signature, Verifier, verify_note
from audit_log.keyschedule import KeySchedule
from audit_log.merkle import HASH_SIZE, ProofError, check_record, check_tree

MAX_PROOF_LENGTH = 64
"""Longest inclusion or consistency proof accepted: more than any 2^63-leaf tree needs."""

_RECEIPT_FIELDS = ("index", "leaf_hash", "tree_size", "inclusion_proof", "checkpoint")


class VerificationError(ValueError):
    """A verification check failed; ``check`` names it and the message names the input."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check


@dataclass(frozen=True)
class Receipt:
    """Proof that an entry is in the log: its index and leaf hash, a tree size, the
    inclusion proof in that tree and the signed checkpoint of that tree."""

    index: int
    leaf_hash: bytes
    tree_size: int
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str


def _integer(obj: Mapping[str, object], field: str) -> int:
    value = obj[field]
    # JSON true is not 1 here: bool is an int subclass in Python.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerificationError("receipt", f"{field} must be a non-negative integer")
    return value


def parse_hash(value: object, what: str) -> bytes:
    """Parse a hash written as 64 hexadecimal digits; raise ``VerificationError``."""
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE:
        raise VerificationError("receipt", f"{what} must be {2 * HASH_SIZE} hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise VerificationError("receipt", f"{what} is not hexadecimal") from exc


def parse_proof(values: object, what: str = "proof") -> tuple[bytes, ...]:
    """Parse a JSON list of hex hashes (an inclusion or consistency proof)."""
    if not isinstance(values, list | tuple):
        raise VerificationError("receipt", f"{what} must be a list of hex hashes")
    if len(values) > MAX_PROOF_LENGTH:
        raise VerificationError("receipt", f"{what} has more than {MAX_PROOF_LENGTH} hashes")
    return tuple(parse_hash(v, f"{what}[{i}]") for i, v in enumerate(values))


def parse_receipt(obj: object) -> Receipt:
    """Parse a receipt ``{"index", "leaf_hash", "tree_size", "inclusion_proof",
    "checkpoint"}`` as the API returns it; fields beyond those are ignored (a receipt
    may also carry, for instance, the content salt). Raises ``VerificationError``
    (check ``receipt``) naming the field at fault."""
    if not isinstance(obj, Mapping):
        raise VerificationError("receipt", "a receipt must be a JSON object")
    missing = [field for field in _RECEIPT_FIELDS if field not in obj]
    if missing:
        raise VerificationError("receipt", f"missing field(s) {', '.join(missing)}")
    index = _integer(obj, "index")
    tree_size = _integer(obj, "tree_size")
    if index >= tree_size:
        raise VerificationError("receipt", f"index {index} is not below tree_size {tree_size}")
    checkpoint = obj["checkpoint"]
    if not isinstance(checkpoint, str):
        raise VerificationError("receipt", "checkpoint must be the signed note text")
    return Receipt(
        index=index,
        leaf_hash=parse_hash(obj["leaf_hash"], "leaf_hash"),
        tree_size=tree_size,
        inclusion_proof=parse_proof(obj["inclusion_proof"], "inclusion_proof"),
        checkpoint=checkpoint,
    )


def _describe(receipt: Receipt, entry: Mapping[str, object] | None) -> str:
    where = f"entry index {receipt.index} in tree size {receipt.tree_size}"
    entry_id = entry.get("id") if isinstance(entry, Mapping) else None
    return f"{where} (id {entry_id})" if isinstance(entry_id, str) else where


def verify_receipt(
    receipt: Receipt, verifiers: Sequence[Verifier], entry: Mapping[str, object] | None = None
) -> Checkpoint:
    """Verify a receipt, and the entry body it is for when given; return its checkpoint.

    In order: (1) the checkpoint note verifies with one of ``verifiers``
    (c2sp.org/signed-note); (2) its tree size is the receipt's; (3) if ``entry`` is
    given, its leaf hash is the receipt's; (4) the inclusion proof leads from the leaf
    hash at the index to the checkpoint's root (RFC 9162 §2.1.3.2). Raises
    ``VerificationError`` at the first check that fails.
    """
    where = _describe(receipt, entry)
    try:
        checkpoint = verify_note(receipt.checkpoint, verifiers)
    except NoteError as exc:
        raise VerificationError("checkpoint_signature", f"{where}: {exc}") from exc
    if checkpoint.size != receipt.tree_size:
        raise VerificationError(
            "tree_size",
            f"{where}: the signed checkpoint is for tree size {checkpoint.size}",
        )
    if entry is not None:
        try:
            leaf_hash = leaf_hash_of(entry)
        except CanonicalError as exc:
            raise VerificationError("leaf_hash", f"{where}: {exc}") from exc
        if leaf_hash != receipt.leaf_hash:
            raise VerificationError(
                "leaf_hash",
                f"{where}: the entry hashes to {leaf_hash.hex()}, "
                f"the receipt says {receipt.leaf_hash.hex()}",
            )
    try:
        check_record(
            receipt.inclusion_proof,
            receipt.tree_size,
            checkpoint.root,
            receipt.index,
            receipt.leaf_hash,
        )
    except ProofError as exc:
        raise VerificationError("inclusion_proof", f"{where}: {exc}") from exc
    return checkpoint


def check_signing_window(
    signatures: Sequence[Signature], schedule: KeySchedule, entry_time: object
) -> None:
    """Check that a receipt's verified ``signatures`` include one by a key still signing
    when the entry was logged.

    A checkpoint is never older than the entries it covers, so a key whose
    ``signs_until`` is before the entry's time cannot have signed it: such a signature
    is a retired key at work. Raises ``VerificationError`` (``checkpoint_signature``).
    """
    if not isinstance(entry_time, str):
        raise VerificationError("receipt", "the entry has no time")
    by_id = {(k.verifier.name, k.verifier.key_id): k for k in schedule.keys}
    keys = [by_id[(s.name, s.key_id)] for s in signatures if (s.name, s.key_id) in by_id]
    if not any(k.signs_until is None or entry_time <= k.signs_until for k in keys):
        names = ", ".join(f"{k.label} (until {k.signs_until})" for k in keys)
        raise VerificationError(
            "checkpoint_signature",
            f"the checkpoint is signed only by keys retired before the entry's time "
            f"{entry_time}: {names}",
        )


def verify_document(doc: object, verifiers: Sequence[Verifier]) -> Checkpoint:
    """Verify a decision as the API returns it, ``{"decision": body, "receipt": {...}}``,
    or a log entry, ``{"entry": body, "receipt": {...}}``; return the checkpoint.

    The body is the exact public log entry, so its leaf hash is recomputed from it.
    """
    if not isinstance(doc, Mapping):
        raise VerificationError("receipt", "a document must be a JSON object")
    bodies = [key for key in ("decision", "entry") if key in doc]
    if len(bodies) != 1:
        raise VerificationError("receipt", "a document holds exactly one of decision, entry")
    if "receipt" not in doc:
        raise VerificationError("receipt", "the document has no receipt")
    body = doc[bodies[0]]
    if not isinstance(body, Mapping):
        raise VerificationError("receipt", f"{bodies[0]} must be a JSON object")
    checkpoint = verify_receipt(parse_receipt(doc["receipt"]), verifiers, body)
    check_excerpt(body, doc.get("excerpt"))
    return checkpoint


def check_excerpt(body: Mapping[str, object], published: object) -> None:
    """Check that a published excerpt, ``{"text", "salt", ...}`` as a decision view
    serves it beside the entry, opens the commitment in the entry's ``excerpt``.

    Nothing to check when no excerpt is published or it was erased (its text and salt
    are null): the commitment then links to nothing, by design.
    """
    if published is None:
        return
    if not isinstance(published, Mapping):
        raise VerificationError("excerpt", "the published excerpt must be a JSON object or null")
    text, salt = published.get("text"), published.get("salt")
    if text is None and salt is None:
        return
    committed = body.get("excerpt")
    commitment = committed.get("commitment") if isinstance(committed, Mapping) else None
    if not isinstance(commitment, str) or not commitment.startswith("sha256:"):
        raise VerificationError("excerpt", "an excerpt is published but the entry commits to none")
    if not isinstance(text, str) or not isinstance(salt, str):
        raise VerificationError("excerpt", "the excerpt's text and salt must be strings")
    try:
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        raise VerificationError("excerpt", "the excerpt's salt is not hex") from None
    try:
        text_bytes = text.encode("utf-8")
    except UnicodeEncodeError:
        raise VerificationError("excerpt", "the excerpt is not valid Unicode") from None
    computed = "sha256:" + hashlib.sha256(salt_bytes + text_bytes).hexdigest()
    if not hmac.compare_digest(computed, commitment):
        raise VerificationError(
            "excerpt",
            f"the published excerpt hashes to {computed}, the entry commits to {commitment}",
        )


def verify_consistency(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that ``new`` extends ``old`` in one append-only log; raise if it does not.

    Both checkpoints must already be verified. Same origin, ``old.size <= new.size``,
    and the consistency proof ties both roots (RFC 9162 §2.1.4.2). Failure of a proof
    between two validly signed checkpoints is evidence that the log forked.
    """
    where = f"from tree size {old.size} to {new.size}"
    if old.origin != new.origin:
        raise VerificationError(
            "origin", f"{where}: checkpoints of different logs {old.origin!r}, {new.origin!r}"
        )
    if old.size > new.size:
        raise VerificationError("consistency_proof", f"{where}: the new checkpoint is older")
    try:
        check_tree(proof, new.size, new.root, old.size, old.root)
    except ProofError as exc:
        raise VerificationError("consistency_proof", f"{where}: {exc}") from exc
