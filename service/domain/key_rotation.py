"""The signing-key rotation use case: announce a new key in the log and switch to it.

A rotation is one append transaction: it adds a public ``key_rotation`` entry naming the
new key and how long the old one keeps signing, records the new schedule in
``log_keys`` and moves the head's key epoch. That transaction's own checkpoint is the
first signed by both keys, so a monitor that trusts only the old key learns the new one
from an entry the old key vouched for. Every server reads the epoch on its next append
and signs by the new schedule without a restart.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from audit_log.checkpoint import Signer
from audit_log.keyschedule import KeySchedule, parse_rotation, rotation_body
from audit_log.store import Appended, Log
from policies.duration import Duration, parse_duration
from service.clock import Clock, parse_rfc3339, rfc3339
from service.domain.ids import new_id

logger = logging.getLogger("fairwitness.keys")
_ZERO = re.compile(r"P(?:T0+[HMS]|0+[YMWD])")


class RotationError(ValueError):
    """The rotation cannot be made (the key is already the log's, or the overlap is bad)."""


@dataclass(frozen=True)
class Overlap:
    """How long the old key keeps signing after a rotation; ``duration`` None is none."""

    text: str
    duration: Duration | None

    def end(self, time: str) -> str:
        if self.duration is None:
            return time
        return rfc3339(self.duration.add_to(parse_rfc3339(time)) - timedelta(milliseconds=1))


def parse_overlap(text: str) -> Overlap:
    """An ISO-8601 duration such as ``P7D``; ``PT0S`` or ``P0D`` for no overlap (the old key
    then signs only the rotation's own checkpoint, which must carry it)."""
    if _ZERO.fullmatch(text):
        return Overlap(text, None)
    return Overlap(text, parse_duration(text))


@dataclass(frozen=True)
class Rotated:
    """The ``key_rotation`` entry, where it landed, and the schedule it started."""

    body: dict[str, Any]
    appended: Appended
    schedule: KeySchedule
    tree_size: int
    checkpoint: str


def rotate_signing_key(log: Log, new_key: Signer, overlap: Overlap, clock: Clock) -> Rotated:
    """Make ``new_key`` the log's signing key, the current key signing on beside it for
    ``overlap``. ``log`` must hold the private halves of both keys. Raises
    ``RotationError`` (nothing written) when the key already belongs to the log."""
    with log.append() as tx:
        schedule = tx.schedule
        if schedule.find(new_key.verifier()) is not None:
            raise RotationError(f"{new_key.verifier_key()} is already one of the log's keys")
        now = clock()
        time = tx.stamp(rfc3339(now))
        body = rotation_body(
            new_id("key", now),
            time,
            new_key.verifier(),
            schedule.current.verifier,
            overlap.end(time),
        )
        appended = tx.add(body)
        new_schedule = tx.rotate_key(parse_rotation(body), appended.index)
    logger.info(
        "signing key rotated",
        extra={
            "event": "signing_key_rotated",
            "key_id": new_key.key_id.hex(),
            "reason": f"previous key {schedule.current.label} signs until "
            f"{body['previous_signs_until']}",
        },
    )
    return Rotated(
        body=body,
        appended=appended,
        schedule=new_schedule,
        tree_size=tx.tree_size,
        checkpoint=tx.checkpoint,
    )
