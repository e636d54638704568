"""The transparency report, computed from log entry bodies alone.

Pure: anyone holding an export of the log gets the same numbers. Counts of decisions,
appeals filed and outcomes use the entries whose ``time`` is in the window
(``since`` inclusive, ``until`` exclusive; either may be open). Overdue appeals are a
fact about now, not about the window: every open appeal whose ``decide_by`` has passed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.clock import parse_rfc3339, rfc3339
from service.domain.appeals import OUTCOMES


def _in_window(time: str, since: str | None, until: str | None) -> bool:
    return (since is None or time >= since) and (until is None or time < until)


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class _Tally:
    """What one pass over the log gathers: decision counts in the window, every
    decision's rules, and every appeal filed and resolved (by appeal id)."""

    by_action: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    by_app: Counter[str] = field(default_factory=Counter)
    automated: int = 0
    human: int = 0
    decision_rules: dict[str, list[str]] = field(default_factory=dict)
    filed: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    resolved: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    reversals: int = 0


def _tally(entries: Iterable[Mapping[str, Any]], since: str | None, until: str | None) -> _Tally:
    t = _Tally()
    for e in entries:
        kind = e.get("kind")
        if kind == "decision":
            t.decision_rules[e["id"]] = [r["id"] for r in e.get("rules", ())]
            if not _in_window(e["time"], since, until):
                continue
            t.by_action[e["action"]] += 1
            t.by_app[e["app"]] += 1
            for rule in t.decision_rules[e["id"]]:
                t.by_rule[rule] += 1
            if e.get("automated", True):
                t.automated += 1
            else:
                t.human += 1
        elif kind == "appeal_filed":
            t.filed[e["id"]] = e
        elif kind == "appeal_resolved":
            t.resolved[e["ref"]] = e
        elif kind == "reversal" and _in_window(e["time"], since, until):
            t.reversals += 1
    return t


def _appeal_numbers(
    t: _Tally, time_now: str, since: str | None, until: str | None
) -> dict[str, Any]:
    """The report's ``appeals`` section: filings and outcomes in the window, overturn
    rates by the rules the appealed decisions cited, and what is open or overdue now."""
    filed, resolved = t.filed, t.resolved
    outcomes: Counter[str] = Counter()
    per_rule: dict[str, Counter[str]] = {}
    durations: list[float] = []
    for appeal_id, res in resolved.items():
        if not _in_window(res["time"], since, until):
            continue
        outcomes[res["outcome"]] += 1
        for rule in t.decision_rules.get(res["decision"], ()):
            per_rule.setdefault(rule, Counter())[res["outcome"]] += 1
        appeal = filed.get(appeal_id)
        if appeal is not None:
            durations.append(
                (parse_rfc3339(res["time"]) - parse_rfc3339(appeal["time"])).total_seconds()
            )
    overdue = sorted(
        a["id"] for a in filed.values() if a["id"] not in resolved and a["decide_by"] < time_now
    )
    return {
        "filed": sum(1 for a in filed.values() if _in_window(a["time"], since, until)),
        "resolved": sum(outcomes.values()),
        **{o: outcomes[o] for o in OUTCOMES},
        "open": sum(1 for a in filed.values() if a["id"] not in resolved),
        "overdue": len(overdue),
        "overdue_ids": overdue,
        "overturn_rate_by_rule": {
            rule: {
                "resolved": sum(c.values()),
                "overturned": c["overturned"],
                "modified": c["modified"],
                "overturn_rate": round(c["overturned"] / sum(c.values()), 4),
            }
            for rule, c in sorted(per_rule.items())
        },
        "time_to_resolution_seconds": {
            "count": len(durations),
            "median": median(durations),
            "p90": percentile(durations, 90),
        },
    }


def report(
    entries: Iterable[Mapping[str, Any]],
    now: datetime,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """The numbers for the window. ``since``/``until`` are fixed-width RFC 3339 (as the
    log writes times), so text order is time order."""
    t = _tally(entries, since, until)
    time_now = rfc3339(now)
    return {
        "window": {"since": since, "until": until},
        "as_of": time_now,
        "decisions": {
            "total": sum(t.by_action.values()),
            "by_action": dict(sorted(t.by_action.items())),
            "by_rule": dict(sorted(t.by_rule.items())),
            "by_app": dict(sorted(t.by_app.items())),
            "automated": t.automated,
            "human": t.human,
        },
        "appeals": _appeal_numbers(t, time_now, since, until),
        "reversals": t.reversals,
    }
