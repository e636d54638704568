"""The monitor's core: replay a whole log and hold it to every checkpoint it ever signed.

A monitor fetches the log's entries (in index order), its signed checkpoints and the
state a previous run saved, and hands them to a ``LogAuditor``. The auditor has no
network or storage inside (the caller fetches, the auditor checks), keeps only the
Merkle tree's right edge in memory (at most log2(n) + 1 hashes, never all of them) and
the strikes still live, and raises ``AuditError`` at the first check that fails, naming
the entry or tree size and what is wrong with it.

Checks and their names (``AuditError.check``):

- ``entry``: an entry as served is malformed (index, leaf hash or body of the wrong type);
- ``entry_order``: an entry was served at a position other than its index;
- ``missing_entry``: an index was skipped, or the log served fewer entries than its
  latest checkpoint covers;
- ``leaf_hash``: an entry body does not hash (RFC 8785, RFC 6962 §2.1) to the leaf hash
  the log serves for it;
- ``checkpoint_signature``: a checkpoint is signed by no known key, carries a bad
  signature by a known one, or carries no signature by a trusted key valid at the time
  of its newest entry (a retired key signing after its overlap ended);
- ``key_rotation``: a ``key_rotation`` entry is malformed, does not follow the key
  schedule, or the first checkpoint covering it is not signed by a key trusted before it;
- ``key_list``: the key list the log serves disagrees with what its entries say;
- ``origin``: a checkpoint names another log;
- ``checkpoint_root``: a checkpoint's root is not the root of the tree recomputed from
  the entries (the entries were changed after they were signed);
- ``checkpoint_order``: a checkpoint arrived after the entries it covers were consumed
  without its size being asked about, so its root was never recorded;
- ``fork``: the log contradicts what a previous run saw (another root at the same size,
  or fewer entries than before), or two signed checkpoints of one size disagree;
- ``escalation``: a decision's counted strikes or escalation contradict the entries
  before it (``audit_log.escalation``: the subject's standing is replayed from bodies);
- ``checkpoints``: checkpoints a previous run verified are no longer served (deleted or
  replaced);
- ``state``: a saved audit state is malformed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from audit_log.canonical import CanonicalError, canonical_parsed
from audit_log.checkpoint import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint,
    parse_note,
)
from audit_log.escalation import EscalationError, StrikeLedger
from audit_log.keyschedule import KEY_ROTATION, KeySchedule, ScheduleError, parse_rotation
from audit_log.merkle import HASH_SIZE, empty_tree_hash, node_hash, record_hash
from audit_log.verify import VerificationError

STATE_VERSION = 1

_SAFE_INT = 2**53 - 1
# Below this magnitude Python's repr() of a float switches to exponent notation
# ("1e-05") where ECMAScript (and so RFC 8785) still writes positional digits.
_MIN_POSITIONAL_FLOAT = 1e-4


class AuditError(VerificationError):
    """An audit check failed; ``check`` names it, the message names entry or size."""


# --- Parsing served bodies ---------------------------------------------------


def _parse_float(text: str) -> float | int:
    value = float(text)
    # 1.0 and 1 are one JSON number, which RFC 8785 writes "1": keep it an int.
    if value.is_integer() and -_SAFE_INT <= value <= _SAFE_INT:
        return int(value)
    return value


def loads(text: str | bytes) -> object:
    """``json.loads`` for served entries: integral numbers parse as ``int`` (1.0 → 1).

    Same JSON values, but ``canonical_parsed`` then needs no walk over the body.
    """
    return json.loads(text, parse_float=_parse_float)


# --- Saved state ----------------------------------------------------------------


@dataclass(frozen=True)
class AuditState:
    """What one audit run leaves for the next: the tree it verified and the keys it trusts.

    ``size`` and ``root`` are the latest checkpoint the run verified; the next run must
    find the same root at that size. ``checkpoint`` keeps that signed note as evidence.
    ``checkpoints`` and ``checkpoints_digest`` sum up the signed checkpoints the log
    listed up to ``size`` (how many, and a hash chain over their sizes and roots): the
    next run must be served the same ones, so deleting an old checkpoint is noticed.
    Both are None in a state saved before they existed, or by a run that listed none.
    """

    size: int
    root: bytes
    verifier_keys: tuple[str, ...]
    origin: str | None = None
    checkpoint: str | None = None
    checkpoints: int | None = None
    checkpoints_digest: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise AuditError("state", f"size must be a non-negative integer, got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise AuditError("state", f"root must be {HASH_SIZE} bytes")
        object.__setattr__(self, "verifier_keys", tuple(self.verifier_keys))
        if not self.verifier_keys:
            raise AuditError("state", "no verifier key is pinned")
        if self.size == 0 and self.root != empty_tree_hash():
            raise AuditError("state", "the empty tree has another root")
        count, digest = self.checkpoints, self.checkpoints_digest
        if (count is None) != (digest is None):
            raise AuditError("state", "checkpoints and checkpoints_digest go together")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 0
        ):
            raise AuditError("state", f"checkpoints must be a non-negative integer, got {count!r}")
        if digest is not None and (not isinstance(digest, bytes) or len(digest) != HASH_SIZE):
            raise AuditError("state", f"checkpoints_digest must be {HASH_SIZE} bytes")

    def verifiers(self) -> list[Verifier]:
        """Parse the pinned keys; raise ``AuditError`` (check ``state``) naming a bad one."""
        try:
            return [Verifier.from_key(key) for key in self.verifier_keys]
        except NoteError as exc:
            raise AuditError("state", f"pinned verifier key: {exc}") from exc

    def to_json(self) -> str:
        """Serialise as a small JSON document (hashes in hex), ending in a newline."""
        return (
            json.dumps(
                {
                    "version": STATE_VERSION,
                    "size": self.size,
                    "root": self.root.hex(),
                    "verifier_keys": list(self.verifier_keys),
                    "origin": self.origin,
                    "checkpoint": self.checkpoint,
                    "checkpoints": self.checkpoints,
                    "checkpoints_digest": (
                        self.checkpoints_digest.hex() if self.checkpoints_digest else None
                    ),
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditState:
        """Parse what ``to_json`` wrote; raise ``AuditError`` (check ``state``) naming why not."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AuditError("state", f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AuditError("state", "must be a JSON object")
        if data.get("version") != STATE_VERSION:
            raise AuditError("state", f"unknown state version {data.get('version')!r}")
        root = data.get("root")
        try:
            root_bytes = bytes.fromhex(root) if isinstance(root, str) else None
        except ValueError:
            root_bytes = None
        if root_bytes is None:
            raise AuditError("state", "root must be hexadecimal")
        keys = data.get("verifier_keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise AuditError("state", "verifier_keys must be a list of key strings")
        origin, note = data.get("origin"), data.get("checkpoint")
        if not isinstance(origin, str | None) or not isinstance(note, str | None):
            raise AuditError("state", "origin and checkpoint must be strings or null")
        digest = data.get("checkpoints_digest")
        try:
            digest_bytes = bytes.fromhex(digest) if isinstance(digest, str) else digest
        except ValueError:
            raise AuditError("state", "checkpoints_digest must be hexadecimal") from None
        return cls(
            # Any JSON value: __post_init__ refuses all but a non-negative integer.
            size=cast(int, data.get("size")),
            root=root_bytes,
            verifier_keys=tuple(keys),
            origin=origin,
            checkpoint=note,
            checkpoints=data.get("checkpoints"),
            checkpoints_digest=digest_bytes,
        )


# --- The auditor ------------------------------------------------------------------


def _entry_name(index: int, entry: object) -> str:
    entry_id = entry.get("id") if isinstance(entry, Mapping) else None
    return f"entry {index} ({entry_id})" if isinstance(entry_id, str) else f"entry {index}"


def _labels(verifiers: Iterable[Verifier]) -> str:
    return ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers) or "no known key"


def _note_signers(note: object) -> str:
    try:
        signatures = parse_note(note).signatures
    except NoteError:
        return "?"
    return ", ".join(f"{s.name}+{s.key_id.hex()}" for s in signatures)


def _note_size(note: object) -> str:
    """The size a note claims, for messages about a note that may not verify."""
    try:
        return str(parse_note(note).checkpoint.size)
    except NoteError:
        return "?"


class LogAuditor:
    """Replays a log entry by entry, recomputing its Merkle tree, and checks checkpoints.

    Use: ``check_checkpoint`` each signed checkpoint no later than the entry that
    completes its tree is fed (a checkpoint ahead of the entries waits, checked the
    moment the tree reaches its size); ``feed`` entries 0, 1, 2, ...; then ``finish``
    with the latest checkpoint, which returns the state to save for the next run.
    Memory is O(log n) plus one root per size asked about and not yet reached, plus the
    live strikes it replays to check escalations (``audit_log.escalation``).

    Keys: ``verifiers`` are the pinned keys, trusted from the start. ``served`` is the
    key list the log serves: its keys may verify signatures, but a key becomes trusted
    only when a ``key_rotation`` entry announces it and the first checkpoint covering
    that entry carries a signature by a key trusted before. Each key signs only within
    the window the log's rotations give it, judged at the time of the checkpoint's
    newest entry.
    """

    def __init__(
        self,
        verifiers: Sequence[Verifier],
        previous: AuditState | None = None,
        served: KeySchedule | None = None,
    ) -> None:
        if not verifiers:
            raise ValueError("an auditor needs at least one verifier key")
        self._trusted: list[Verifier] = list(dict.fromkeys(verifiers))
        self._served = served
        self._known: list[Verifier] = list(self._trusted)
        for verifier in served.verifiers() if served else ():
            if verifier not in self._known:
                self._known.append(verifier)
        # Each key's (valid_from, signs_until) as the log's rotations set them.
        self._windows: dict[Verifier, tuple[str | None, str | None]] = {}
        self._current_key: Verifier | None = None  # the newest key a rotation announced
        self._announced: list[tuple[int, Verifier]] = []  # awaiting a vouching checkpoint
        self._previous = previous
        self._origin = previous.origin if previous else None
        self._frontier: list[bytes] = []  # roots of the maximal complete subtrees, left to right
        self._size = 0
        self._last_name = ""
        self._last_time: str | None = None  # log time of the newest entry fed
        self._watched: set[int] = set()  # sizes at which feed() stops to look at the root
        self._record: set[int] = set()  # sizes asked about with watch()
        self._roots: dict[int, bytes] = {}  # recomputed roots at those sizes, once reached
        self._times: dict[int, str | None] = {}  # newest entry's time at those sizes
        self._pending: dict[int, tuple[Checkpoint, tuple[Verifier, ...]]] = {}
        self._matched_size = 0  # largest size whose signed root the entries reproduced
        self._checkpoints_checked = 0
        self._previous_checked = previous is None or previous.size == 0
        self.strikes = StrikeLedger()
        # The listed checkpoints so far: how many, a hash chain over them, the last size.
        self._listed = 0
        self._listed_digest = bytes(HASH_SIZE)
        self._listed_size = -1
        self._listed_compared = previous is None or previous.checkpoints is None
        if previous is not None and previous.size > 0:
            self._watched.add(previous.size)

    @property
    def size(self) -> int:
        """How many entries have been fed so far."""
        return self._size

    @property
    def checkpoints_checked(self) -> int:
        """How many signed checkpoints matched the recomputed tree so far."""
        return self._checkpoints_checked

    def root(self) -> bytes:
        """The recomputed root of the entries fed so far (RFC 6962 §2.1 MTH)."""
        if not self._frontier:
            return empty_tree_hash()
        h = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            h = node_hash(left, h)
        return h

    def watch(self, sizes: Iterable[int]) -> None:
        """Ask the auditor to record the recomputed root when the tree reaches each size."""
        for size in sizes:
            if size < self._size:
                raise ValueError(f"size {size} is already behind the {self._size} entries fed")
            if size == self._size:
                self._roots[size] = self.root()
                self._times[size] = self._last_time
            else:
                self._watched.add(size)
                self._record.add(size)

    def recorded_root(self, size: int) -> bytes | None:
        """The recomputed root at a watched size once reached, else None."""
        return self.root() if size == self._size else self._roots.get(size)

    def feed(self, index: int, leaf_hash: bytes, entry: object) -> None:
        """Take the next entry as served: its index, its leaf hash and its body.

        ``entry`` is the body as parsed from JSON (``loads`` parses it for the fastest
        path). Recomputes the leaf hash from the body and extends the tree with it; when the
        tree reaches a size with a pending checkpoint or the previous run's size,
        checks that root too. Raises ``AuditError`` naming the entry.
        """
        expected = self._size
        name = _entry_name(index, entry)
        if not isinstance(index, int) or isinstance(index, bool):
            raise AuditError("entry", f"the entry at position {expected} has index {index!r}")
        if index != expected:
            if index < expected:
                raise AuditError("entry_order", f"{name} served at position {expected}")
            raise AuditError(
                "missing_entry",
                f"missing entry {expected}: the log served {name} at position {expected}",
            )
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise AuditError("entry", f"{name}: leaf hash is not {HASH_SIZE} bytes")
        if not isinstance(entry, Mapping):
            raise AuditError("entry", f"{name}: body is not a JSON object")
        try:
            recomputed = record_hash(canonical_parsed(entry))
        except CanonicalError as exc:
            raise AuditError("leaf_hash", f"{name}: body has no canonical form: {exc}") from exc
        if not hmac.compare_digest(recomputed, leaf_hash):
            raise AuditError(
                "leaf_hash",
                f"{name}: body does not match its leaf hash (the body hashes to "
                f"{recomputed.hex()}, the log serves {leaf_hash.hex()})",
            )

        if entry.get("kind") == KEY_ROTATION:
            self._learn_rotation(index, name, entry)
        try:
            self.strikes.feed(index, entry)
        except EscalationError as exc:
            raise AuditError(exc.check, str(exc).split(": ", 1)[1]) from exc

        # Merge the new leaf with every complete left subtree of the same height:
        # one merge per trailing 1 bit of its index (RFC 6962 §2.1).
        h = leaf_hash
        n = index
        while n & 1:
            h = node_hash(self._frontier.pop(), h)
            n >>= 1
        self._frontier.append(h)
        self._size = index + 1
        self._last_name = name
        time = entry.get("time")
        self._last_time = time if isinstance(time, str) else None
        if self._size in self._watched:
            self._reached(self._size)

    def _learn_rotation(self, index: int, name: str, entry: Mapping[str, object]) -> None:
        try:
            rotation = parse_rotation(entry)
        except ScheduleError as exc:
            raise AuditError("key_rotation", f"{name}: {exc}") from exc
        current = self._current_key
        if current is not None and rotation.previous_key != current:
            raise AuditError(
                "key_rotation",
                f"{name} replaces {rotation.previous_key.verifier_key()}, but the log's "
                f"current key is {current.verifier_key()}",
            )
        if rotation.previous_key not in self._known:
            raise AuditError(
                "key_rotation",
                f"{name} replaces {rotation.previous_key.verifier_key()}, a key this "
                f"monitor does not know: pin every key the log lists",
            )
        if rotation.key in self._windows or rotation.key == rotation.previous_key:
            raise AuditError("key_rotation", f"{name} announces a key the log used before")
        valid_from, _ = self._windows.get(rotation.previous_key, (None, None))
        self._windows[rotation.previous_key] = (valid_from, rotation.previous_signs_until)
        self._windows[rotation.key] = (rotation.time, None)
        self._current_key = rotation.key
        if rotation.key not in self._known:
            self._known.append(rotation.key)
        if rotation.key not in self._trusted:
            self._announced.append((index, rotation.key))

    def _valid(self, verifier: Verifier, time: str | None) -> bool:
        if time is None:
            return True
        valid_from, until = self._windows.get(verifier, (None, None))
        return (valid_from is None or valid_from <= time) and (until is None or time <= until)

    def _check_signers(
        self, checkpoint: Checkpoint, signed: tuple[Verifier, ...], time: str | None
    ) -> None:
        """At least one signature must be by a trusted key valid at ``time``; then the
        keys announced by entries this checkpoint covers are vouched for."""
        if not any(v in self._trusted and self._valid(v, time) for v in signed):
            when = f" (newest entry at {time})" if time else ""
            raise AuditError(
                "checkpoint_signature",
                f"checkpoint {checkpoint.size}{when} carries no signature by a trusted key "
                f"valid then; it is signed by {_labels(signed)}",
            )
        vouched = [key for index, key in self._announced if index < checkpoint.size]
        if vouched:
            self._trusted.extend(vouched)
            self._announced = [(i, k) for i, k in self._announced if i >= checkpoint.size]

    def _reached(self, size: int) -> None:
        self._watched.discard(size)
        root = self.root()
        pending = self._pending.pop(size, None)
        if pending is not None:
            self._compare(pending[0], root)
            self._check_signers(pending[0], pending[1], self._last_time)
        previous = self._previous
        if previous is not None and previous.size == size:
            if not hmac.compare_digest(root, previous.root):
                raise AuditError(
                    "fork",
                    f"at size {size} the log's root is {root.hex()}, but a previous run "
                    f"saw {previous.root.hex()}",
                )
            self._previous_checked = True
        if size in self._record:
            self._record.discard(size)
            self._roots[size] = root
            self._times[size] = self._last_time

    def _compare(self, checkpoint: Checkpoint, root: bytes) -> None:
        size = checkpoint.size
        if not hmac.compare_digest(root, checkpoint.root):
            if size == self._size and size - self._matched_size == 1:
                culprit = f"{self._last_name} is the only entry since the last matching tree"
            elif size > self._matched_size:
                culprit = (
                    f"an entry in {self._matched_size}..{size - 1} was changed after it was signed"
                )
            else:
                culprit = "entries were changed after they were signed"
            raise AuditError(
                "checkpoint_root",
                f"checkpoint {size} root differs from the recomputed tree (signed "
                f"{checkpoint.root.hex()}, recomputed {root.hex()}): {culprit}",
            )
        if size > self._matched_size or self._checkpoints_checked == 0:
            self._checkpoints_checked += 1
        self._matched_size = max(self._matched_size, size)

    def _open(self, note: str | bytes) -> tuple[Checkpoint, tuple[Verifier, ...]]:
        """Parse a note and verify its signatures by every key this monitor knows; return
        the checkpoint and the keys whose signatures verified."""
        try:
            body, signatures = open_note(note, self._known)
            checkpoint = parse_checkpoint(body)
        except NoteError as exc:
            detail = str(exc)
            if "no valid signature by a known key" in detail:
                detail += f" (its signatures are by {_note_signers(note)})"
            raise AuditError(
                "checkpoint_signature", f"checkpoint {_note_size(note)}: {detail}"
            ) from exc
        by_id = {(v.name, v.key_id): v for v in self._known}
        signed = tuple(by_id[(s.name, s.key_id)] for s in signatures)
        if self._origin is None:
            self._origin = checkpoint.origin
        elif checkpoint.origin != self._origin:
            raise AuditError(
                "origin",
                f"checkpoint {checkpoint.size} is for the log {checkpoint.origin!r}, "
                f"not {self._origin!r}",
            )
        return checkpoint, signed

    def _list(self, checkpoint: Checkpoint) -> None:
        previous = self._previous
        if checkpoint.size <= self._listed_size:
            raise AuditError(
                "checkpoints",
                f"the checkpoint list went back from size {self._listed_size} to {checkpoint.size}",
            )
        if not self._listed_compared and previous is not None and checkpoint.size > previous.size:
            self._compare_listed()
        self._listed += 1
        self._listed_digest = hashlib.sha256(
            self._listed_digest + checkpoint.size.to_bytes(8, "big") + checkpoint.root
        ).digest()
        self._listed_size = checkpoint.size

    def _compare_listed(self) -> None:
        """The checkpoints listed up to the previous run's size must be the ones it saw."""
        self._listed_compared = True
        previous = self._previous
        if previous is None or previous.checkpoints is None:
            return
        if self._listed < previous.checkpoints:
            raise AuditError(
                "checkpoints",
                f"the log lists {self._listed} signed checkpoints up to size "
                f"{previous.size}, but a previous run verified {previous.checkpoints}: "
                f"checkpoints it relied on were deleted",
            )
        if self._listed != previous.checkpoints or not hmac.compare_digest(
            self._listed_digest, previous.checkpoints_digest or b""
        ):
            raise AuditError(
                "checkpoints",
                f"the signed checkpoints up to size {previous.size} are not the "
                f"{previous.checkpoints} a previous run verified: they were replaced",
            )

    def check_checkpoint(self, note_text: str | bytes, listed: bool = False) -> Checkpoint:
        """Verify a signed checkpoint and hold the tree to it; return the checkpoint.

        The note must carry a valid signature by a known key and name the same log as
        the others. If the entries fed so far already reach its size, its root and its
        signers' validity are checked now (the size must be the current one or one asked
        about with ``watch``); otherwise as soon as ``feed`` reaches that size.

        ``listed``: the note comes from the log's list of every checkpoint, handed in
        in increasing size. Those are counted into the saved state, and the ones up to
        the previous run's size must be the ones that run was listed.
        """
        checkpoint, signed = self._open(note_text)
        if listed:
            self._list(checkpoint)
        size = checkpoint.size
        if size > self._size:
            other = self._pending.get(size)
            if other is not None and other[0].root != checkpoint.root:
                raise AuditError(
                    "fork",
                    f"two signed checkpoints of size {size} have different roots "
                    f"({other[0].root.hex()} and {checkpoint.root.hex()})",
                )
            self._pending[size] = (checkpoint, signed)
            self._watched.add(size)
            return checkpoint
        root = empty_tree_hash() if size == 0 else self.recorded_root(size)
        if root is None:
            raise AuditError(
                "checkpoint_order",
                f"checkpoint {size} arrived after entry {self._size - 1}; no root was "
                f"recorded at size {size}",
            )
        self._compare(checkpoint, root)
        time = (
            None
            if size == 0
            else (self._last_time if size == self._size else self._times.get(size))
        )
        self._check_signers(checkpoint, signed, time)
        return checkpoint

    def _check_key_list(self) -> None:
        """The served key list must name only keys the monitor came to trust, each with
        the validity the log's own rotation entries give it."""
        if self._served is None:
            return
        for key in self._served.keys:
            v = key.verifier
            if v not in self._trusted:
                raise AuditError(
                    "key_list",
                    f"the log serves the key {key.label}, which it never announced in a "
                    f"key_rotation entry",
                )
            learned = self._windows.get(v, (None, None))
            if (key.valid_from, key.signs_until) != learned:
                raise AuditError(
                    "key_list",
                    f"the log serves {key.label} as valid from {key.valid_from or 'the start'} "
                    f"until {key.signs_until or 'further notice'}, but its entries say from "
                    f"{learned[0] or 'the start'} until {learned[1] or 'further notice'}",
                )

    def finish(self, latest_note: str | bytes) -> AuditState:
        """Close the audit against the log's latest checkpoint; return the state to save.

        Every entry up to the checkpoint's size must have been fed and the tree must
        reproduce its root; every checkpoint handed in must have been reached; the
        previous run's root must be the recomputed root at its size (else the log was
        rewritten or forked). Raises ``AuditError``.
        """
        latest, _ = self._open(latest_note)
        previous = self._previous
        if previous is not None and latest.size < previous.size:
            raise AuditError(
                "fork",
                f"the log's latest checkpoint is for size {latest.size}, but a previous "
                f"run saw size {previous.size}: the tree shrank (entries, or the "
                f"checkpoints that cover them, were removed)",
            )
        if latest.size > self._size:
            raise AuditError(
                "missing_entry",
                f"missing entry {self._size}: the latest checkpoint covers {latest.size} "
                f"entries, the log served {self._size}",
            )
        self.check_checkpoint(latest_note)
        beyond = sorted(s for s in self._pending if s > self._size)
        if beyond:
            raise AuditError(
                "missing_entry",
                f"missing entry {self._size}: checkpoint {beyond[0]} covers entries the "
                f"log did not serve",
            )
        if not self._previous_checked:
            raise AuditError(
                "fork",
                f"the previous run's tree of size {previous.size} was never reached",  # type: ignore[union-attr]
            )
        self._check_key_list()
        listing = self._listed_size >= 0
        if listing and not self._listed_compared:
            self._compare_listed()
        return AuditState(
            size=latest.size,
            root=latest.root,
            verifier_keys=tuple(v.verifier_key() for v in self._trusted),
            origin=latest.origin,
            checkpoint=latest_note if isinstance(latest_note, str) else latest_note.decode(),
            checkpoints=self._listed if listing else None,
            checkpoints_digest=self._listed_digest if listing else None,
        )
