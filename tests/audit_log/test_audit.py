"""The monitor core on in-memory logs: every kind of rewrite fails, naming where."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_log.audit import AuditError, AuditState, LogAuditor, loads
from audit_log.canonical import canonical_parsed as canonical_fast
from audit_log.canonical import leaf_hash_of
from audit_log.checkpoint import Checkpoint, Signer
from audit_log.merkle import empty_tree_hash

from .memtree import MemoryTree

ORIGIN = "fairwitness.example/log"


def entry(i: int) -> dict[str, Any]:
    return {
        "kind": "decision",
        "id": f"dec_{i:04d}",
        "time": "2026-11-24T10:00:00.000Z",
        "app": "forum-example",
        "subject": "sub_" + "5c" * 16,
        "content": "sha256:" + "ab" * 32,
        "policy": {"id": "civility", "version": "sha256:" + "cd" * 32},
        "scores": {"threat": 0.9123, "lexicon:slurs": 0.0, "insult": 1.0},
        "rules": [{"id": "threat", "spans": [[0, 6]]}],
        "action": "remove",
        "automated": True,
        "notice": f"Your post {i} was removed because it reads as a threat.",
        "excerpt": None,
    }


class MemLog:
    """Bodies, their memory tree, and checkpoints signed at chosen sizes."""

    def __init__(self, size: int, signer: Signer, bodies: list[dict] | None = None) -> None:
        self.signer = signer
        self.bodies = bodies if bodies is not None else [entry(i) for i in range(size)]
        self.leaves = [leaf_hash_of(b) for b in self.bodies]
        self.tree = MemoryTree()
        self.tree.extend(self.leaves)

    def note(self, size: int | None = None) -> str:
        size = self.tree.size if size is None else size
        root = self.tree.root(size) if size else empty_tree_hash()
        return self.signer.sign(Checkpoint(ORIGIN, size, root))

    def served(self) -> list[tuple[int, bytes, object]]:
        """The entries as the export serves them: index, leaf hash, parsed body."""
        return [
            (i, leaf, loads(json.dumps(body)))
            for i, (leaf, body) in enumerate(zip(self.leaves, self.bodies, strict=True))
        ]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(ORIGIN, Ed25519PrivateKey.generate())


def audit(
    signer: Signer, served, checkpoints: list[str], latest: str, previous: AuditState | None = None
) -> AuditState:
    """Drive the auditor as the monitor does: checkpoints handed in ahead of entries."""
    auditor = LogAuditor([signer.verifier()], previous)
    pending = sorted(checkpoints, key=lambda n: int(n.splitlines()[1]))
    for index, leaf, body in served:
        while pending and int(pending[0].splitlines()[1]) <= auditor.size + 1:
            auditor.check_checkpoint(pending.pop(0))
        auditor.feed(index, leaf, body)
    for note in pending:
        auditor.check_checkpoint(note)
    return auditor.finish(latest)


def failure(signer, served, checkpoints, latest, previous=None) -> str:
    with pytest.raises(AuditError) as caught:
        audit(signer, served, checkpoints, latest, previous)
    return str(caught.value)


def test_clean_log_passes_and_state_round_trips(signer):
    log = MemLog(41, signer)
    state = audit(signer, log.served(), [log.note(s) for s in (1, 7, 16, 30, 41)], log.note())
    assert state.size == 41 and state.root == log.tree.root()
    assert state.verifier_keys == (signer.verifier_key(),)
    assert state.origin == ORIGIN and state.checkpoint == log.note()
    again = AuditState.from_json(state.to_json())
    assert again == state
    # A later run over the grown log is consistent with it.
    grown = MemLog(0, signer, log.bodies + [entry(i) for i in range(41, 60)])
    later = audit(signer, grown.served(), [grown.note(50)], grown.note(), previous=again)
    assert later.size == 60


def test_every_checkpoint_counts_once(signer):
    log = MemLog(10, signer)
    auditor = LogAuditor([signer.verifier()])
    for size in (3, 10):
        auditor.check_checkpoint(log.note(size))
    for index, leaf, body in log.served():
        auditor.feed(index, leaf, body)
    auditor.finish(log.note())
    assert auditor.checkpoints_checked == 2


def test_altered_body_names_the_entry(signer):
    log = MemLog(20, signer)
    served = log.served()
    served[13][2]["notice"] = "Nothing to see here."
    message = failure(signer, served, [log.note(10)], log.note())
    assert message.startswith("leaf_hash: entry 13 (dec_0013): body does not match its leaf hash")


def test_missing_entry_in_the_middle(signer):
    log = MemLog(20, signer)
    served = log.served()
    del served[17]
    message = failure(signer, served, [], log.note())
    assert "missing entry 17" in message and "entry 18 (dec_0018)" in message


def test_missing_entries_at_the_end(signer):
    log = MemLog(20, signer)
    message = failure(signer, log.served()[:15], [], log.note())
    assert message.startswith("missing_entry: missing entry 15")
    assert "covers 20 entries" in message


def test_reordered_entries(signer):
    log = MemLog(10, signer)
    served = log.served()
    served[5], served[6] = served[6], served[5]
    message = failure(signer, served, [], log.note())
    assert "missing entry 5" in message and "entry 6 (dec_0006) at position 5" in message
    # A duplicate, or an entry served again later, is named by where it showed up.
    duplicated = log.served()
    duplicated.insert(6, duplicated[5])
    message = failure(signer, duplicated, [], log.note())
    assert message == "entry_order: entry 5 (dec_0005) served at position 6"


def test_bodies_swapped_with_their_leaf_hashes_break_the_checkpoint(signer):
    log = MemLog(12, signer)
    served = log.served()
    # A consistent rewrite: each swapped body still matches its (swapped) leaf hash.
    (_, l4, b4), (_, l9, b9) = served[4], served[9]
    served[4], served[9] = (4, l9, b9), (9, l4, b4)
    message = failure(signer, served, [log.note(s) for s in range(1, 13)], log.note())
    assert message.startswith("checkpoint_root: checkpoint 5 root differs from the recomputed tree")
    assert "entry 4 (dec_0009) is the only entry since the last matching tree" in message


def test_wrong_checkpoint_root_names_the_size_and_range(signer):
    log = MemLog(30, signer)
    other = MemLog(0, signer, [entry(i + 100) for i in range(30)])
    message = failure(signer, log.served(), [log.note(8), other.note(20)], log.note())
    assert message.startswith("checkpoint_root: checkpoint 20 root differs")
    assert "an entry in 8..19" in message


def test_latest_checkpoint_with_wrong_root(signer):
    log = MemLog(30, signer)
    other = MemLog(30, signer, [entry(i + 100) for i in range(30)])
    message = failure(signer, log.served(), [], other.note())
    assert message.startswith("checkpoint_root: checkpoint 30 root differs")


def test_bad_signature_and_unknown_key(signer):
    log = MemLog(9, signer)
    note = log.note(5)
    lines = note.splitlines(keepends=True)
    forged = (
        "".join(lines[:-1])
        + lines[-1][:-6]
        + ("A" if lines[-1][-6] != "A" else "B")
        + lines[-1][-5:]
    )
    message = failure(signer, log.served(), [forged], log.note())
    assert message.startswith("checkpoint_signature: checkpoint 5:")
    stranger = Signer(ORIGIN, Ed25519PrivateKey.generate())
    foreign = MemLog(9, stranger)
    message = failure(signer, log.served(), [foreign.note(5)], log.note())
    assert message.startswith("checkpoint_signature: checkpoint 5: note has no valid signature")


def test_checkpoint_of_another_log(signer):
    log = MemLog(6, signer)
    other = Signer("other.example/log", Ed25519PrivateKey.generate())
    note = other.sign(Checkpoint("other.example/log", 6, log.tree.root()))
    auditor = LogAuditor([signer.verifier(), other.verifier()])
    auditor.check_checkpoint(log.note(3))
    with pytest.raises(AuditError, match=r"^origin: checkpoint 6 is for the log 'other"):
        auditor.check_checkpoint(note)


def test_fork_against_a_previous_state(signer):
    log = MemLog(80, signer)
    first = audit(signer, log.served(), [], log.note())
    forked_bodies = copy.deepcopy(log.bodies) + [entry(i) for i in range(80, 100)]
    forked_bodies[40]["action"] = "allow"
    forked = MemLog(0, signer, forked_bodies)
    message = failure(signer, forked.served(), [forked.note(90)], forked.note(), first)
    assert message == (
        f"fork: at size 80 the log's root is {forked.tree.root(80).hex()}, "
        f"but a previous run saw {log.tree.root().hex()}"
    )


def test_log_that_shrank_is_a_fork(signer):
    log = MemLog(50, signer)
    first = audit(signer, log.served(), [], log.note())
    shorter = MemLog(0, signer, log.bodies[:49])
    message = failure(signer, shorter.served(), [], shorter.note(), first)
    assert message.startswith(
        "fork: the log's latest checkpoint is for size 49, but a previous run saw size 50"
    )


def test_two_checkpoints_of_one_size_disagree(signer):
    log = MemLog(10, signer)
    other = MemLog(10, signer, [entry(i + 50) for i in range(10)])
    auditor = LogAuditor([signer.verifier()])
    auditor.check_checkpoint(log.note(7))
    with pytest.raises(AuditError, match=r"^fork: two signed checkpoints of size 7"):
        auditor.check_checkpoint(other.note(7))


def test_checkpoint_behind_the_entries_needs_a_recorded_root(signer):
    log = MemLog(10, signer)
    auditor = LogAuditor([signer.verifier()])
    auditor.watch([4])
    for index, leaf, body in log.served():
        auditor.feed(index, leaf, body)
    assert auditor.recorded_root(4) == log.tree.root(4)
    auditor.check_checkpoint(log.note(4))  # recorded: fine
    with pytest.raises(AuditError, match=r"^checkpoint_order: checkpoint 6 arrived after entry 9"):
        auditor.check_checkpoint(log.note(6))


def test_malformed_served_entry(signer):
    auditor = LogAuditor([signer.verifier()])
    with pytest.raises(AuditError, match=r"^entry: entry 0 .*leaf hash is not 32 bytes"):
        auditor.feed(0, b"short", entry(0))
    with pytest.raises(AuditError, match=r"^leaf_hash: entry 0 .*no canonical form"):
        auditor.feed(0, b"\0" * 32, {"id": "x", "n": float("nan")})


def test_memory_is_the_right_edge_only(signer):
    auditor = LogAuditor([signer.verifier()])
    for i in range(1000):
        auditor.feed(i, leaf_hash_of({"i": i}), {"i": i})
    assert len(auditor._frontier) == bin(1000).count("1")
    tree = MemoryTree()
    tree.extend([leaf_hash_of({"i": i}) for i in range(1000)])
    assert auditor.root() == tree.root()


def test_state_rejects_malformed_json():
    with pytest.raises(AuditError, match=r"^state: not JSON"):
        AuditState.from_json("{")
    with pytest.raises(AuditError, match=r"^state: unknown state version"):
        AuditState.from_json('{"version": 9}')
    with pytest.raises(AuditError, match=r"^state: root must be hexadecimal"):
        AuditState.from_json('{"version": 1, "size": 1, "root": "zz", "verifier_keys": ["k"]}')
    good = AuditState(3, b"\1" * 32, ("k",)).to_json()
    assert json.loads(good)["root"] == "01" * 32


# --- canonical_fast is RFC 8785, byte for byte ------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.text()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.integers(min_value=2**53, max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            0.0,
            -0.0,
            1.0,
            1e-5,
            1e-7,
            1e16,
            1e21,
            1e22,
            123456789012345680.0,
            0.0001,
            5e-324,
            1.7976931348623157e308,
            9007199254740993.0,
        ]
    )
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json_values, max_size=6))
def test_canonical_fast_equals_rfc8785(body):
    try:
        expected = rfc8785.dumps(body)
    except rfc8785.CanonicalizationError:
        with pytest.raises(ValueError):
            canonical_fast(body)
        return
    assert canonical_fast(body) == expected
    # The same body as the monitor parses it from the wire.
    assert canonical_fast(loads(json.dumps(body))) == expected


def test_canonical_fast_orders_keys_as_utf16():
    body = {"\U0001f600": 1, "\ufb01": 2, "a": 3}
    assert canonical_fast(body) == rfc8785.dumps(body)
    assert canonical_fast(entry(3)) == rfc8785.dumps(entry(3))
    odd = {"s": 'x\u2028y\x7f\x00"\\', "t": "\ud7ff\ue000"}
    assert canonical_fast(odd) == rfc8785.dumps(odd)


# Characters beyond U+FFFF sort differently in UTF-16, so they send a body down the
# reference path on purpose; everything else must stay on the fast paths.
_ascii_values = st.recursive(
    st.none()
    | st.booleans()
    | st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]))
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(min_value=-1e6, max_value=1e6).map(lambda f: round(f, 4))
    | st.sampled_from([0.0, -0.0, 1.0, 0.0001, 0.00011, 2.5, 9007199254740991.0]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(max_codepoint=127), max_size=5), children, max_size=4
        )
    ),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(max_codepoint=127), max_size=6), _ascii_values, max_size=6
    )
)
def test_canonical_fast_paths_equal_rfc8785(monkeypatch_module, body):
    """Bodies shaped like log entries take the fast paths, and they agree with RFC 8785."""
    expected = rfc8785.dumps(body)
    assert canonical_fast(body) == expected
    assert canonical_fast(loads(json.dumps(body))) == expected


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Make the reference implementation unavailable to both fast paths."""
    from audit_log import canonical as canonical_module

    with pytest.MonkeyPatch.context() as mp:

        def refuse(body):
            raise AssertionError(f"the fast path fell back for {body!r}")

        mp.setattr(canonical_module, "_reference", refuse)
        yield
