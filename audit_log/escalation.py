"""Replaying strikes and escalations from entry bodies alone.

A decision that issues a strike under a policy with an escalation ladder names, in its
hashed body, the earlier strikes the ladder counted::

    "counted_strikes": {"strikes": [{"index": 12, "weight": 2}, ...], "complete": true}

``StrikeLedger`` is fed every entry in index order and keeps each subject's standing:
the strikes that are live (not expired at the log's current time, not voided by a
``reversal`` naming their decision). For every decision it checks that

- each counted strike is an earlier decision of the same subject and policy whose own
  body issued a strike of that weight, live at the decision's time and not reversed;
- a ``complete`` count names exactly the subject's live strikes under that policy, so
  no strike was hidden from the ladder;
- an incomplete count (the server stops counting at the ladder's top step) names at
  least as many strikes as the threshold it escalated to, so it must escalate;
- an ``escalation``'s ``active_strikes`` is the counted weight plus the decision's own
  strike, and reaches its ``threshold``;
- an escalation never comes without its evidence.

Decisions written before the log carried ``counted_strikes`` have no such key at all:
their strikes still count for later decisions, but their own escalations cannot be
checked and are counted in ``unchecked_escalations``. Once one decision carries the
key, every later one must (``null`` when no strike or no ladder was involved).

Pure: no network and no storage. Memory holds the live strikes only.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

from audit_log.verify import VerificationError

EVIDENCE = "counted_strikes"
CHECK = "escalation"


class EscalationError(VerificationError):
    """A decision's escalation (or strike count) contradicts the bodies before it."""

    def __init__(self, message: str) -> None:
        super().__init__(CHECK, message)


@dataclass(frozen=True)
class LiveStrike:
    index: int
    entry_id: str
    weight: int
    expires_at: str


def _name(index: int, entry: Mapping[str, object]) -> str:
    entry_id = entry.get("id")
    return f"entry {index} ({entry_id})" if isinstance(entry_id, str) else f"entry {index}"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class StrikeLedger:
    """Every subject's live strikes, replayed from entry bodies in index order."""

    def __init__(self) -> None:
        # (subject, policy id) -> log index -> the strike that entry issued
        self._live: dict[tuple[str, str], dict[int, LiveStrike]] = {}
        self._by_id: dict[str, tuple[tuple[str, str], int]] = {}
        # (expires_at, index, key): the next strike to expire, for pruning as time moves
        self._expiry: list[tuple[str, int, tuple[str, str]]] = []
        self._with_evidence = False
        self.unchecked_escalations = 0
        self.checked_decisions = 0

    def live(self, subject: str, policy_id: str) -> list[LiveStrike]:
        """The subject's live strikes under ``policy_id`` as of the last entry fed."""
        return sorted(self._live.get((subject, policy_id), {}).values(), key=lambda s: s.index)

    def feed(self, index: int, entry: Mapping[str, object]) -> None:
        """Take the next entry's body; raise ``EscalationError`` naming it if its strike
        count or escalation contradicts the entries before it."""
        time = entry.get("time")
        if isinstance(time, str):
            self._expire(time)
        kind = entry.get("kind")
        if kind == "reversal":
            self._void(entry.get("ref"))
        elif kind == "decision":
            self._decision(index, entry)

    def _expire(self, time: str) -> None:
        while self._expiry and self._expiry[0][0] <= time:
            _, index, key = heapq.heappop(self._expiry)
            strikes = self._live.get(key)
            strike = strikes.pop(index, None) if strikes is not None else None
            if strike is not None:
                self._by_id.pop(strike.entry_id, None)
                if not strikes:
                    del self._live[key]

    def _void(self, ref: object) -> None:
        found = self._by_id.pop(ref, None) if isinstance(ref, str) else None
        if found is not None:
            key, index = found
            strikes = self._live[key]
            del strikes[index]
            if not strikes:
                del self._live[key]

    def _decision(self, index: int, entry: Mapping[str, object]) -> None:
        name = _name(index, entry)
        policy = entry.get("policy")
        subject = entry.get("subject")
        policy_id = policy.get("id") if isinstance(policy, Mapping) else None
        # Only a decision about a named subject under a named policy counts toward a ladder.
        key = (
            (subject, policy_id)
            if isinstance(subject, str) and isinstance(policy_id, str)
            else None
        )
        strike = entry.get("strike")
        escalation = entry.get("escalation")
        if EVIDENCE in entry:
            self._with_evidence = True
            self._check(name, entry, key, strike, escalation)
            self.checked_decisions += 1
        elif self._with_evidence:
            raise EscalationError(
                f"{name} has no {EVIDENCE} field, though earlier decisions carry it"
            )
        elif escalation is not None:
            self.unchecked_escalations += 1
        if isinstance(strike, Mapping) and key is not None:
            weight, expires_at = strike.get("weight"), strike.get("expires_at")
            if not _is_int(weight) or weight < 1 or not isinstance(expires_at, str):
                raise EscalationError(f"{name}: its strike has no positive weight and expiry")
            entry_id = entry.get("id")
            self._live.setdefault(key, {})[index] = LiveStrike(
                index, str(entry_id), weight, expires_at
            )
            self._by_id[str(entry_id)] = (key, index)
            heapq.heappush(self._expiry, (expires_at, index, key))

    def _check(
        self,
        name: str,
        entry: Mapping[str, object],
        key: tuple[str, str] | None,
        strike: object,
        escalation: object,
    ) -> None:
        evidence = entry[EVIDENCE]
        if evidence is None:
            if escalation is not None:
                raise EscalationError(f"{name} escalates but names no counted strikes")
            return
        if not isinstance(strike, Mapping):
            raise EscalationError(f"{name} counts strikes but issues none")
        named, complete = _parse_evidence(name, evidence)
        live = self._live.get(key, {}) if key is not None else {}
        total = 0
        seen: set[int] = set()
        for index, weight in named:
            found = live.get(index)
            if found is None:
                raise EscalationError(
                    f"{name} counts entry {index}, which is not a live strike of the same "
                    f"subject and policy at {entry.get('time')}"
                )
            if found.weight != weight:
                raise EscalationError(
                    f"{name} counts entry {index} with weight {weight}, but that entry's "
                    f"strike weighs {found.weight}"
                )
            if index in seen:
                raise EscalationError(f"{name} counts entry {index} twice")
            seen.add(index)
            total += weight
        if complete:
            hidden = sorted(set(live) - seen)
            if hidden:
                raise EscalationError(
                    f"{name} says it counted every live strike of its subject, but leaves "
                    f"out entries {', '.join(map(str, hidden[:10]))}"
                )
        own = strike.get("weight")
        if escalation is None:
            if not complete:
                raise EscalationError(
                    f"{name} stopped counting at the ladder's top but did not escalate"
                )
            return
        if not isinstance(escalation, Mapping):
            raise EscalationError(f"{name}: escalation is not an object")
        claimed, threshold = escalation.get("active_strikes"), escalation.get("threshold")
        if not _is_int(own) or not _is_int(claimed) or not _is_int(threshold):
            raise EscalationError(f"{name}: strike or escalation weights are not integers")
        if claimed != total + own:
            raise EscalationError(
                f"{name} escalates with {claimed} active strikes, but the strikes it counts "
                f"weigh {total} and its own {own}"
            )
        if claimed < threshold:
            raise EscalationError(
                f"{name} escalates at threshold {threshold} with only {claimed} active strikes"
            )
        if not complete and len(named) < threshold:
            raise EscalationError(
                f"{name} stopped counting after {len(named)} strikes, before the threshold "
                f"{threshold} it escalated to"
            )


def _parse_evidence(name: str, evidence: object) -> tuple[list[tuple[int, int]], bool]:
    if not isinstance(evidence, Mapping):
        raise EscalationError(f"{name}: {EVIDENCE} is not an object")
    strikes, complete = evidence.get("strikes"), evidence.get("complete")
    if not isinstance(strikes, list) or not isinstance(complete, bool):
        raise EscalationError(f"{name}: {EVIDENCE} needs a strikes list and a complete flag")
    named = []
    for item in strikes:
        index = item.get("index") if isinstance(item, Mapping) else None
        weight = item.get("weight") if isinstance(item, Mapping) else None
        if not _is_int(index) or not _is_int(weight):
            raise EscalationError(f"{name}: each counted strike needs an integer index and weight")
        named.append((index, weight))
    return named, complete
