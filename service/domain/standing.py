"""A subject's standing, computed from log entries alone: active strikes and restrictions.

Pure: the caller reads the entries, this module only reasons about them, so the same
answer comes from the database, from an exported log, or from a test's list.

Reversals. A ``reversal`` entry (an appeal overturned or modified a decision) names
the original decision in ``ref``. The original entry is never changed; instead every
reversal voids the original's strike and any account restriction its escalation
imposed, whatever the new action. A ``modified`` outcome replaces the action with a
lighter one and issues no strike of its own (strikes come only from rules); when the
lighter action is itself an account action (``suspend_account`` lightened to
``restrict_account``), the reversal carries the original ``ends_at`` and that
restriction stays in force until then. ``audit_log.store.newest_strikes`` applies the
same rule in SQL (decisions named by a reversal's ``ref`` do not count), and
``audit_log.escalation`` applies it when a monitor replays the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from policies.model import ACCOUNT_ACTIONS
from service.clock import parse_rfc3339


@dataclass(frozen=True)
class ActiveStrike:
    decision_id: str
    policy_id: str
    rules: tuple[str, ...]
    weight: int
    issued_at: str
    expires_at: str


@dataclass(frozen=True)
class ActiveRestriction:
    decision_id: str
    policy_id: str
    action: str
    starts_at: str
    ends_at: str


def _reversed(entries: list[Mapping[str, Any]]) -> set[str]:
    return {e["ref"] for e in entries if e.get("kind") == "reversal" and e.get("ref")}


def active_strikes(
    entries: Iterable[Mapping[str, Any]], now: datetime, policy_id: str | None = None
) -> list[ActiveStrike]:
    """Strikes issued by decisions that are neither expired at ``now`` nor reversed."""
    entries = list(entries)
    gone = _reversed(entries)
    out = []
    for e in entries:
        strike = e.get("strike")
        if e.get("kind") != "decision" or not strike or e["id"] in gone:
            continue
        if policy_id is not None and e["policy"]["id"] != policy_id:
            continue
        if parse_rfc3339(strike["expires_at"]) <= now:
            continue
        out.append(
            ActiveStrike(
                decision_id=e["id"],
                policy_id=e["policy"]["id"],
                rules=tuple(r["id"] for r in e.get("rules", ())),
                weight=int(strike["weight"]),
                issued_at=e["time"],
                expires_at=strike["expires_at"],
            )
        )
    return out


def strike_weight(entries: Iterable[Mapping[str, Any]], now: datetime, policy_id: str) -> int:
    return sum(s.weight for s in active_strikes(entries, now, policy_id))


def active_restrictions(
    entries: Iterable[Mapping[str, Any]], now: datetime
) -> list[ActiveRestriction]:
    """Account restrictions from escalations that have not ended and were not reversed,
    and lighter account actions that a modifying reversal put in their place."""
    entries = list(entries)
    gone = _reversed(entries)
    started = {e["id"]: e["time"] for e in entries if e.get("kind") == "decision"}
    out = []
    for e in entries:
        if e.get("kind") != "reversal" or e.get("action") not in ACCOUNT_ACTIONS:
            continue
        if not e.get("ends_at") or parse_rfc3339(e["ends_at"]) <= now:
            continue
        out.append(
            ActiveRestriction(
                decision_id=e["ref"],
                policy_id=e["policy"]["id"],
                action=e["action"],
                starts_at=started.get(e["ref"], e["time"]),
                ends_at=e["ends_at"],
            )
        )
    for e in entries:
        esc = e.get("escalation")
        if e.get("kind") != "decision" or not esc or e["id"] in gone:
            continue
        if esc.get("ends_at") is None or parse_rfc3339(esc["ends_at"]) <= now:
            continue
        out.append(
            ActiveRestriction(
                decision_id=e["id"],
                policy_id=e["policy"]["id"],
                action=esc["action"],
                starts_at=e["time"],
                ends_at=esc["ends_at"],
            )
        )
    return out
