"""The monitor across key rotations: it learns keys from the log and holds each to its window."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log.audit import AuditError, LogAuditor, loads
from audit_log.canonical import leaf_hash_of
from audit_log.checkpoint import Checkpoint, Signer, sign_note
from audit_log.keyschedule import KeySchedule, parse_rotation, rotation_body

from .memtree import MemoryTree

ORIGIN = "fairwitness.example/log"
OLD = Signer(ORIGIN, Ed25519PrivateKey.generate())
NEW = Signer(ORIGIN, Ed25519PrivateKey.generate())
ROGUE = Signer(ORIGIN, Ed25519PrivateKey.generate())


def at(day: int) -> str:
    return f"2026-11-{day:02d}T10:00:00.000Z"


def decision(i: int, day: int) -> dict:
    return {"kind": "decision", "id": f"dec_{i:04d}", "time": at(day), "action": "allow"}


def build(bodies: list[dict], signers_at) -> tuple[list, list[str]]:
    """Entries as served and one checkpoint per entry, signed by ``signers_at(time)``."""
    tree = MemoryTree()
    served, notes = [], []
    for i, body in enumerate(bodies):
        leaf = leaf_hash_of(body)
        tree.extend([leaf])
        served.append((i, leaf, loads(json.dumps(body))))
        notes.append(sign_note(Checkpoint(ORIGIN, i + 1, tree.root()), signers_at(body["time"])))
    return served, notes


def run(served, notes, pinned, served_keys=None):
    auditor = LogAuditor([s.verifier() for s in pinned], served=served_keys)
    for (index, leaf, body), note in zip(served, notes, strict=True):
        auditor.check_checkpoint(note)
        auditor.feed(index, leaf, body)
    return auditor.finish(notes[-1])


def rotated_log(new: Signer, until_day: int):
    rotation = rotation_body("key_0001", at(3), new.verifier(), OLD.verifier(), at(until_day))
    bodies = [decision(0, 1), decision(1, 2), rotation, decision(3, 4), decision(4, 9)]
    schedule = KeySchedule.single(OLD.verifier()).rotated(parse_rotation(rotation), 2)
    by_key = {OLD.verifier(): OLD, new.verifier(): new}
    return bodies, schedule, lambda t: [by_key[k.verifier] for k in schedule.valid_at(t)]


def test_a_monitor_pinning_the_old_key_learns_the_new_one():
    bodies, schedule, signers_at = rotated_log(NEW, until_day=5)
    served, notes = build(bodies, signers_at)
    assert len(notes[3].splitlines()) == 6  # both keys sign during the overlap
    state = run(served, notes, [OLD], schedule)
    assert state.verifier_keys == (OLD.verifier_key(), NEW.verifier_key())


def test_a_retired_key_signing_after_its_window_fails():
    bodies, schedule, _ = rotated_log(NEW, until_day=5)
    served, notes = build(bodies, lambda t: [OLD])  # the old key never stopped
    with pytest.raises(
        AuditError,
        match=r"checkpoint_signature: checkpoint 5 .*no signature by "
        r"a trusted key valid then",
    ):
        run(served, notes, [OLD, NEW], schedule)


def test_a_rotation_vouched_only_by_the_key_it_announces_fails():
    bodies, schedule, _ = rotated_log(ROGUE, until_day=5)
    # The checkpoint covering the rotation carries only the announced key's signature.
    served, notes = build(bodies, lambda t: [ROGUE] if t >= at(3) else [OLD])
    with pytest.raises(AuditError, match="checkpoint_signature: checkpoint 3 "):
        run(served, notes, [OLD], schedule)


def test_a_served_key_list_that_disagrees_with_the_log_fails():
    bodies, schedule, signers_at = rotated_log(NEW, until_day=5)
    served, notes = build(bodies, signers_at)
    lying = KeySchedule.single(OLD.verifier()).rotated(
        parse_rotation(rotation_body("key_0001", at(3), NEW.verifier(), OLD.verifier(), at(8)))
    )
    with pytest.raises(
        AuditError,
        match=r"key_list: the log serves .* as valid from the start "
        "until 2026-11-08",
    ):
        run(served, notes, [OLD], lying)
    extra = KeySchedule((*schedule.keys, KeySchedule.single(ROGUE.verifier()).keys[0]))
    with pytest.raises(AuditError, match=r"key_list: .* never announced"):
        run(served, notes, [OLD], extra)
