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
from datetime import datetime

from service.clock import parse_rfc3339, rfc3339

OUTCOMES = ("upheld", "overturned", "modified")


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


def report(
    entries: Iterable[Mapping], now: datetime, since: str | None = None, until: str | None = None
) -> dict:
    """The numbers for the window. ``since``/``until`` are fixed-width RFC 3339 (as the
    log writes times), so text order is time order."""
    by_action: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    by_app: Counter[str] = Counter()
    automated = human = 0
    decision_rules: dict[str, list[str]] = {}
    filed: dict[str, Mapping] = {}
    resolved: dict[str, Mapping] = {}
    reversals = 0

    for e in entries:
        kind = e.get("kind")
        if kind == "decision":
            decision_rules[e["id"]] = [r["id"] for r in e.get("rules", ())]
            if not _in_window(e["time"], since, until):
                continue
            by_action[e["action"]] += 1
            by_app[e["app"]] += 1
            for rule in decision_rules[e["id"]]:
                by_rule[rule] += 1
            if e.get("automated", True):
                automated += 1
            else:
                human += 1
        elif kind == "appeal_filed":
            filed[e["id"]] = e
        elif kind == "appeal_resolved":
            resolved[e["ref"]] = e
        elif kind == "reversal" and _in_window(e["time"], since, until):
            reversals += 1

    filed_in_window = sum(1 for a in filed.values() if _in_window(a["time"], since, until))
    outcomes: Counter[str] = Counter()
    per_rule: dict[str, Counter[str]] = {}
    durations: list[float] = []
    for appeal_id, res in resolved.items():
        if not _in_window(res["time"], since, until):
            continue
        outcomes[res["outcome"]] += 1
        for rule in decision_rules.get(res["decision"], ()):
            per_rule.setdefault(rule, Counter())[res["outcome"]] += 1
        appeal = filed.get(appeal_id)
        if appeal is not None:
            durations.append(
                (parse_rfc3339(res["time"]) - parse_rfc3339(appeal["time"])).total_seconds()
            )
    time_now = rfc3339(now)
    overdue = sorted(
        a["id"] for a in filed.values() if a["id"] not in resolved and a["decide_by"] < time_now
    )
    open_now = sum(1 for a in filed.values() if a["id"] not in resolved)

    return {
        "window": {"since": since, "until": until},
        "as_of": time_now,
        "decisions": {
            "total": sum(by_action.values()),
            "by_action": dict(sorted(by_action.items())),
            "by_rule": dict(sorted(by_rule.items())),
            "by_app": dict(sorted(by_app.items())),
            "automated": automated,
            "human": human,
        },
        "appeals": {
            "filed": filed_in_window,
            "resolved": sum(outcomes.values()),
            **{o: outcomes[o] for o in OUTCOMES},
            "open": open_now,
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
        },
        "reversals": reversals,
    }
