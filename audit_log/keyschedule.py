"""Which keys sign the log's checkpoints, and when.

The log names its own keys. A ``key_rotation`` entry announces a new key and the last
log time at which the key before it still signs (the end of the overlap). A checkpoint
is signed by every key valid at the time of its newest entry, so during an overlap it
carries two signatures and a verifier holding either key accepts it. The server and a
monitor replaying the log derive the same schedule from the same entries.

Times are the log's fixed-width RFC 3339 strings, so text order is time order. Pure: no
I/O; malformed input raises ``ScheduleError`` saying why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from audit_log.checkpoint import NoteError, Verifier

KEY_ROTATION = "key_rotation"
"""The log entry kind that announces a new signing key."""

_ROTATION_FIELDS = ("kind", "id", "time", "key", "previous_key", "previous_signs_until")


class ScheduleError(ValueError):
    """A key rotation entry or a key list is malformed or contradicts the schedule."""


@dataclass(frozen=True)
class ScheduledKey:
    """One signing key and the log times at which it signs.

    ``valid_from`` is the time of the ``key_rotation`` entry that announced the key (None
    for the log's first key: it signs from the beginning); ``signs_until`` is the last log
    time at which it signs, inclusive (None while no later rotation has retired it);
    ``log_index`` is the index of the announcing entry.
    """

    verifier: Verifier
    valid_from: str | None = None
    signs_until: str | None = None
    log_index: int | None = None

    @property
    def verifier_key(self) -> str:
        return self.verifier.verifier_key()

    @property
    def label(self) -> str:
        """``<name>+<hex key id>``, as signature lines and messages name a key."""
        return f"{self.verifier.name}+{self.verifier.key_id.hex()}"

    def valid_at(self, time: str) -> bool:
        """Whether this key signs a checkpoint whose newest entry has log time ``time``."""
        if self.valid_from is not None and time < self.valid_from:
            return False
        return self.signs_until is None or time <= self.signs_until

    def status(self, now: str) -> str:
        """``current`` (no end set), ``retiring`` (signs until an end a rotation set, not
        yet reached at ``now``) or ``retired`` (signs no more)."""
        if self.signs_until is None:
            return "current"
        return "retiring" if now <= self.signs_until else "retired"


@dataclass(frozen=True)
class Rotation:
    """A parsed ``key_rotation`` entry body."""

    time: str
    key: Verifier
    previous_key: Verifier
    previous_signs_until: str


def rotation_body(
    entry_id: str, time: str, key: Verifier, previous_key: Verifier, previous_signs_until: str
) -> dict[str, str]:
    """The log entry body that announces ``key`` at ``time`` and lets ``previous_key`` sign
    until ``previous_signs_until`` (inclusive)."""
    if previous_signs_until < time:
        raise ScheduleError("the previous key cannot stop signing before the rotation")
    return {
        "kind": KEY_ROTATION,
        "id": entry_id,
        "time": time,
        "key": key.verifier_key(),
        "previous_key": previous_key.verifier_key(),
        "previous_signs_until": previous_signs_until,
    }


def parse_rotation(body: Mapping[str, object]) -> Rotation:
    """Parse a ``key_rotation`` body; raise ``ScheduleError`` naming the field at fault."""
    if not isinstance(body, Mapping) or body.get("kind") != KEY_ROTATION:
        raise ScheduleError("not a key_rotation entry")
    missing = [f for f in _ROTATION_FIELDS if f not in body]
    if missing:
        raise ScheduleError(f"key_rotation entry lacks {', '.join(missing)}")
    time, until = body["time"], body["previous_signs_until"]
    if not isinstance(time, str) or not isinstance(until, str):
        raise ScheduleError("key_rotation times must be strings")
    if until < time:
        raise ScheduleError("key_rotation ends the previous key before the rotation")
    try:
        key = Verifier.from_key(body["key"])
        previous = Verifier.from_key(body["previous_key"])
    except NoteError as exc:
        raise ScheduleError(f"key_rotation names a malformed key: {exc}") from exc
    if key == previous:
        raise ScheduleError("key_rotation replaces a key with itself")
    return Rotation(time=time, key=key, previous_key=previous, previous_signs_until=until)


@dataclass(frozen=True)
class KeySchedule:
    """Every key the log has signed with, oldest first."""

    keys: tuple[ScheduledKey, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        if not self.keys:
            raise ScheduleError("a key schedule holds at least one key")
        seen = set()
        for key in self.keys:
            if key.verifier_key in seen:
                raise ScheduleError(f"key {key.label} is listed twice")
            seen.add(key.verifier_key)

    @classmethod
    def single(cls, verifier: Verifier) -> KeySchedule:
        """The schedule of a log that never rotated: one key, valid for every checkpoint."""
        return cls((ScheduledKey(verifier),))

    @property
    def current(self) -> ScheduledKey:
        """The newest key: the one a rotation replaces."""
        return self.keys[-1]

    def valid_at(self, time: str) -> tuple[ScheduledKey, ...]:
        """The keys that sign a checkpoint whose newest entry has log time ``time``,
        newest first."""
        return tuple(k for k in reversed(self.keys) if k.valid_at(time))

    def find(self, verifier: Verifier) -> ScheduledKey | None:
        for key in self.keys:
            if key.verifier == verifier:
                return key
        return None

    def verifiers(self) -> list[Verifier]:
        return [k.verifier for k in self.keys]

    def rotated(self, rotation: Rotation, log_index: int | None = None) -> KeySchedule:
        """The schedule after ``rotation``: the new key valid from the rotation's time, and
        the key it replaces (which must be the current one) signing until the end of the
        overlap. Raises ``ScheduleError`` when the rotation does not fit this schedule."""
        current = self.current
        if rotation.previous_key != current.verifier:
            raise ScheduleError(
                f"key_rotation replaces {rotation.previous_key.verifier_key()}, but the "
                f"current key is {current.verifier_key}"
            )
        if self.find(rotation.key) is not None:
            raise ScheduleError(f"key_rotation announces {rotation.key.verifier_key()} again")
        if current.valid_from is not None and rotation.time < current.valid_from:
            raise ScheduleError("key_rotation is older than the rotation before it")
        retired = replace(current, signs_until=rotation.previous_signs_until)
        added = ScheduledKey(rotation.key, valid_from=rotation.time, log_index=log_index)
        return KeySchedule((*self.keys[:-1], retired, added))

    def newest_first(self) -> tuple[ScheduledKey, ...]:
        return tuple(reversed(self.keys))


def schedule_from_rotations(
    first: Verifier, rotations: Iterable[tuple[int, Mapping[str, object]]]
) -> KeySchedule:
    """The schedule a log with first key ``first`` has after its ``(index, body)``
    ``key_rotation`` entries, in log order."""
    schedule = KeySchedule.single(first)
    for index, body in rotations:
        schedule = schedule.rotated(parse_rotation(body), index)
    return schedule


def key_list(schedule: KeySchedule, now: str) -> list[dict[str, object]]:
    """The schedule as ``GET /v1/log/key`` serves it in JSON, newest key first."""
    return [
        {
            "verifier_key": k.verifier_key,
            "name": k.verifier.name,
            "key_id": k.verifier.key_id.hex(),
            "valid_from": k.valid_from,
            "signs_until": k.signs_until,
            "log_index": k.log_index,
            "status": k.status(now),
        }
        for k in schedule.newest_first()
    ]


def parse_key_list(items: object) -> KeySchedule:
    """Read the ``keys`` array of ``GET /v1/log/key`` (JSON) back into a schedule."""
    if not isinstance(items, list) or not items:
        raise ScheduleError("the key list must be a non-empty array")
    keys = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ScheduleError(f"key {position} is not an object")
        try:
            verifier = Verifier.from_key(item.get("verifier_key"))
        except NoteError as exc:
            raise ScheduleError(f"key {position}: {exc}") from exc
        valid_from, until, index = (
            item.get("valid_from"),
            item.get("signs_until"),
            item.get("log_index"),
        )
        if not isinstance(valid_from, str | None) or not isinstance(until, str | None):
            raise ScheduleError(f"key {position}: valid_from and signs_until are times or null")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise ScheduleError(f"key {position}: log_index is an integer or null")
        keys.append(ScheduledKey(verifier, valid_from, until, index))
    # Served newest first; a schedule runs oldest first.
    keys.sort(key=lambda k: (k.valid_from is not None, k.valid_from or ""))
    return KeySchedule(tuple(keys))
