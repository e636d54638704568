"""Tests for audit_log.verify: receipts, documents and consistency, checked offline."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log.canonical import leaf_hash_of
from audit_log.checkpoint import Checkpoint, Signer, Verifier
from audit_log.merkle import prove_record, prove_tree
from audit_log.verify import (
    Receipt,
    VerificationError,
    parse_proof,
    parse_receipt,
    verify_consistency,
    verify_document,
    verify_receipt,
)

from .memtree import MemoryTree

ORIGIN = "fairwitness.example/log"
SIZE = 13


def entry(i: int) -> dict[str, Any]:
    return {
        "kind": "decision",
        "id": f"dec_{i:04d}",
        "time": "2026-11-24T10:00:00Z",
        "app": "forum-example",
        "subject": "sub_5c1e",
        "content": "sha256:" + "ab" * 32,
        "policy": {"id": "civility", "version": "sha256:" + "cd" * 32},
        "scores": {"threat": 0.91},
        "rules": ["threat"],
        "action": "remove",
        "automated": True,
        "notice": f"Your post {i} was removed because it reads as a threat.",
        "excerpt": None,
    }


class Log:
    """A tiny log: bodies, a memory tree of their leaf hashes, and a signing key."""

    def __init__(self, size: int, signer: Signer, bodies: list[dict] | None = None) -> None:
        self.signer = signer
        self.bodies = bodies if bodies is not None else [entry(i) for i in range(size)]
        self.tree = MemoryTree()
        self.tree.extend([leaf_hash_of(b) for b in self.bodies])

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.tree.size if size is None else size
        return Checkpoint(ORIGIN, size, self.tree.root(size))

    def receipt(self, index: int, size: int | None = None) -> dict[str, Any]:
        size = self.tree.size if size is None else size
        proof = prove_record(size, index, self.tree.read_hashes)
        return {
            "index": index,
            "leaf_hash": leaf_hash_of(self.bodies[index]).hex(),
            "tree_size": size,
            "inclusion_proof": [h.hex() for h in proof],
            "checkpoint": self.signer.sign(self.checkpoint(size)),
        }


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def verifiers(signer: Signer) -> list[Verifier]:
    return [Verifier.from_key(signer.verifier_key())]


@pytest.fixture(scope="module")
def log(signer: Signer) -> Log:
    return Log(SIZE, signer)


def test_every_receipt_verifies(log: Log, verifiers: list[Verifier]) -> None:
    for index in range(SIZE):
        receipt = parse_receipt(log.receipt(index))
        assert verify_receipt(receipt, verifiers, log.bodies[index]) == log.checkpoint()
        assert verify_receipt(receipt, verifiers) == log.checkpoint()


def test_receipt_in_an_older_tree_verifies(log: Log, verifiers: list[Verifier]) -> None:
    receipt = parse_receipt(log.receipt(3, size=5))
    assert verify_receipt(receipt, verifiers, log.bodies[3]).size == 5


def test_parse_receipt_model(log: Log) -> None:
    raw = log.receipt(5)
    receipt = parse_receipt({**raw, "salt": "kept by the client"})
    assert receipt == Receipt(
        index=5,
        leaf_hash=bytes.fromhex(raw["leaf_hash"]),
        tree_size=SIZE,
        inclusion_proof=tuple(bytes.fromhex(h) for h in raw["inclusion_proof"]),
        checkpoint=raw["checkpoint"],
    )


def _expect(check: str, fn, *args, mentions: str = "") -> VerificationError:
    with pytest.raises(VerificationError) as info:
        fn(*args)
    assert info.value.check == check, str(info.value)
    assert str(info.value).startswith(f"{check}: ")
    assert mentions in str(info.value)
    return info.value


def _flip_hex(h: str) -> str:
    return f"{int(h[0], 16) ^ 1:x}" + h[1:]


def test_altered_fields_fail_with_named_checks(log: Log, verifiers: list[Verifier]) -> None:
    index = 5
    body = log.bodies[index]
    good = log.receipt(index)

    def run(raw: dict, entry_body: dict | None = body) -> None:
        verify_receipt(parse_receipt(raw), verifiers, entry_body)

    run(good)

    altered = {**good, "index": 6}
    _expect("inclusion_proof", run, altered, None, mentions="entry index 6 in tree size 13")
    _expect("leaf_hash", run, altered, log.bodies[6], mentions="dec_0006")

    altered = {**good, "leaf_hash": _flip_hex(good["leaf_hash"])}
    _expect("leaf_hash", run, altered, mentions="entry index 5 in tree size 13 (id dec_0005)")
    _expect("inclusion_proof", run, altered, None, mentions="entry index 5")

    for size in (SIZE - 1, SIZE + 1):
        _expect("tree_size", run, {**good, "tree_size": size}, mentions=f"tree size {size}")

    for i in range(len(good["inclusion_proof"])):
        proof = list(good["inclusion_proof"])
        proof[i] = _flip_hex(proof[i])
        _expect("inclusion_proof", run, {**good, "inclusion_proof": proof}, mentions="index 5")
    _expect("inclusion_proof", run, {**good, "inclusion_proof": good["inclusion_proof"][:-1]})
    extended = [*good["inclusion_proof"], good["leaf_hash"]]
    _expect("inclusion_proof", run, {**good, "inclusion_proof": extended})

    note = good["checkpoint"]
    body_text, sigs = note.split("\n\n")
    for forged in (
        note.replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n", 1),
        body_text.replace(ORIGIN, ORIGIN + "x", 1) + "\n\n" + sigs,
        body_text[:-3] + ("A" if body_text[-3] != "A" else "B") + body_text[-2:] + "\n\n" + sigs,
        note[:-10] + ("A" if note[-10] != "A" else "B") + note[-9:],
        note.replace("\n\n", "\n", 1),
        note.replace("—", "-"),
    ):
        assert forged != note
        _expect("checkpoint_signature", run, {**good, "checkpoint": forged}, mentions="index 5")

    changed = copy.deepcopy(body)
    changed["notice"] = changed["notice"].replace("threat", "thraet")
    _expect("leaf_hash", run, good, changed, mentions="dec_0005")
    changed = copy.deepcopy(body)
    changed["scores"]["threat"] = 0.92
    _expect("leaf_hash", run, good, changed)
    changed = {**body, "extra": None}
    _expect("leaf_hash", run, good, changed)
    _expect("leaf_hash", run, good, {**body, "scores": {"threat": float("nan")}})


def test_unknown_key_checkpoint_rejected(log: Log) -> None:
    stranger = Signer(ORIGIN, Ed25519PrivateKey.generate())
    receipt = parse_receipt(log.receipt(2))
    error = _expect("checkpoint_signature", verify_receipt, receipt, [stranger.verifier()])
    assert "known key" in str(error)


def test_rotation_receipt_verifies_with_either_key(log: Log, signer: Signer) -> None:
    from audit_log.checkpoint import sign_note

    new = Signer(ORIGIN, Ed25519PrivateKey.generate())
    raw = {**log.receipt(4), "checkpoint": sign_note(log.checkpoint(), [signer, new])}
    for keys in ([signer.verifier()], [new.verifier()]):
        assert verify_receipt(parse_receipt(raw), keys, log.bodies[4]).size == SIZE


def test_forked_log_receipt_rejected(log: Log, signer: Signer, verifiers: list) -> None:
    # A receipt whose proof comes from another tree of the same size fails on our root.
    bodies = [*log.bodies[: SIZE - 1], entry(999)]
    fork = Log(SIZE, signer, bodies)
    raw = {**fork.receipt(3), "checkpoint": log.receipt(3)["checkpoint"]}
    _expect("inclusion_proof", verify_receipt, parse_receipt(raw), verifiers, log.bodies[3])


@pytest.mark.parametrize(
    ("mutation", "mentions"),
    [
        ({"index": -1}, "index"),
        ({"index": True}, "index"),
        ({"index": "5"}, "index"),
        ({"tree_size": 5.0}, "tree_size"),
        ({"index": SIZE}, "not below tree_size"),
        ({"leaf_hash": "zz" * 32}, "leaf_hash"),
        ({"leaf_hash": "ab"}, "leaf_hash"),
        ({"inclusion_proof": "00" * 32}, "inclusion_proof"),
        ({"inclusion_proof": ["00" * 31]}, "inclusion_proof[0]"),
        ({"inclusion_proof": ["00" * 32] * 65}, "inclusion_proof"),
        ({"checkpoint": b"bytes"}, "checkpoint"),
    ],
)
def test_malformed_receipts(log: Log, mutation: dict, mentions: str) -> None:
    _expect("receipt", parse_receipt, {**log.receipt(5), **mutation}, mentions=mentions)


def test_missing_receipt_fields(log: Log) -> None:
    raw = log.receipt(5)
    del raw["inclusion_proof"]
    _expect("receipt", parse_receipt, raw, mentions="inclusion_proof")
    _expect("receipt", parse_receipt, ["not", "a", "mapping"])


def test_verify_document_forms(log: Log, verifiers: list[Verifier]) -> None:
    receipt = log.receipt(7)
    body = log.bodies[7]
    assert verify_document({"decision": body, "receipt": receipt}, verifiers).size == SIZE
    assert verify_document({"entry": body, "receipt": receipt}, verifiers).size == SIZE
    _expect("leaf_hash", verify_document, {"entry": log.bodies[8], "receipt": receipt}, verifiers)
    for doc in (
        {"decision": body, "entry": body, "receipt": receipt},
        {"receipt": receipt},
        {"decision": body},
        {"decision": "text", "receipt": receipt},
        "not a document",
    ):
        _expect("receipt", verify_document, doc, verifiers)


# --- Consistency ---------------------------------------------------------------------


def test_consistency_between_checkpoints(log: Log) -> None:
    for old_size in range(0, SIZE + 1):
        proof = prove_tree(SIZE, old_size, log.tree.read_hashes)
        verify_consistency(log.checkpoint(old_size), log.checkpoint(), proof)


def test_fork_is_detected(log: Log, signer: Signer) -> None:
    fork = Log(SIZE, signer, [*log.bodies[:8], *(entry(100 + i) for i in range(5))])
    old = log.checkpoint(10)
    proof = prove_tree(SIZE, 10, fork.tree.read_hashes)
    _expect(
        "consistency_proof",
        verify_consistency,
        old,
        fork.checkpoint(),
        proof,
        mentions="from tree size 10 to 13",
    )
    # A split view: same size, different roots.
    _expect("consistency_proof", verify_consistency, log.checkpoint(), fork.checkpoint(), [])


def test_consistency_errors(log: Log) -> None:
    proof = prove_tree(SIZE, 6, log.tree.read_hashes)
    new, old = log.checkpoint(), log.checkpoint(6)
    _expect("consistency_proof", verify_consistency, new, old, proof, mentions="older")
    other = Checkpoint("other.example/log", SIZE, new.root)
    _expect("origin", verify_consistency, old, other, proof)
    _expect("consistency_proof", verify_consistency, old, new, proof[:-1])
    _expect("consistency_proof", verify_consistency, old, new, [bytes(32), *proof[1:]])


def test_parse_proof() -> None:
    assert parse_proof(["00" * 32, "FF" * 32]) == (bytes(32), b"\xff" * 32)
    _expect("receipt", parse_proof, "00" * 32)
    _expect("receipt", parse_proof, [1])


def test_entry_that_is_not_an_object(log: Log, verifiers: list[Verifier]) -> None:
    receipt = parse_receipt(log.receipt(1))
    _expect("leaf_hash", verify_receipt, receipt, verifiers, ["not", "an", "object"])
