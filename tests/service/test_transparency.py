"""The transparency report: pure numbers from entries, and the HTTP view of them."""

from __future__ import annotations

from datetime import UTC, datetime

from service.domain.transparency import median, percentile, report
from tests import openapi_contract as contract
from tests.conftest import make_key

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PV = {"id": "civility", "version": "sha256:" + "0" * 64}


def dec(i, time, action="remove", rules=("threat",), app="a", automated=True):
    return {
        "kind": "decision",
        "id": f"dec_{i}",
        "time": time,
        "app": app,
        "policy": PV,
        "rules": [{"id": r} for r in rules],
        "action": action,
        "automated": automated,
    }


def filed(i, decision, time, decide_by):
    return {
        "kind": "appeal_filed",
        "id": f"apl_{i}",
        "time": time,
        "ref": decision,
        "decide_by": decide_by,
    }


def resolved(i, appeal, decision, time, outcome):
    return {
        "kind": "appeal_resolved",
        "id": f"res_{i}",
        "time": time,
        "ref": appeal,
        "decision": decision,
        "outcome": outcome,
    }


ENTRIES = [
    dec(1, "2026-10-01T00:00:00.000Z"),
    dec(2, "2026-11-01T00:00:00.000Z", rules=("threat", "insult")),
    dec(3, "2026-11-02T00:00:00.000Z", action="label", rules=("insult",), app="b", automated=False),
    dec(4, "2026-11-03T00:00:00.000Z", action="allow", rules=()),
    filed(1, "dec_1", "2026-10-02T00:00:00.000Z", "2026-10-09T00:00:00.000Z"),
    resolved(1, "apl_1", "dec_1", "2026-11-02T00:00:00.000Z", "overturned"),
    {"kind": "reversal", "id": "rev_1", "time": "2026-11-02T00:00:00.000Z", "ref": "dec_1"},
    filed(2, "dec_2", "2026-11-05T00:00:00.000Z", "2026-11-12T00:00:00.000Z"),
    resolved(2, "apl_2", "dec_2", "2026-11-05T01:00:00.000Z", "upheld"),
    filed(3, "dec_3", "2026-11-20T00:00:00.000Z", "2026-11-27T00:00:00.000Z"),  # overdue
    filed(4, "dec_2", "2026-11-28T00:00:00.000Z", "2026-12-05T00:00:00.000Z"),  # open
]


def test_report_counts_the_window():
    r = report(ENTRIES, NOW, since="2026-11-01T00:00:00.000Z")
    assert r["window"] == {"since": "2026-11-01T00:00:00.000Z", "until": None}
    assert r["decisions"] == {
        "total": 3,
        "by_action": {"allow": 1, "label": 1, "remove": 1},
        "by_rule": {"insult": 2, "threat": 1},
        "by_app": {"a": 2, "b": 1},
        "automated": 2,
        "human": 1,
    }
    a = r["appeals"]
    assert (a["filed"], a["resolved"], a["upheld"], a["overturned"], a["modified"]) == (
        3,
        2,
        1,
        1,
        0,
    )
    assert a["open"] == 2 and a["overdue"] == 1 and a["overdue_ids"] == ["apl_3"]
    assert a["overturn_rate_by_rule"] == {
        "threat": {"resolved": 2, "overturned": 1, "modified": 0, "overturn_rate": 0.5},
        "insult": {"resolved": 1, "overturned": 0, "modified": 0, "overturn_rate": 0.0},
    }
    # apl_1 took 31 days, apl_2 one hour.
    t = a["time_to_resolution_seconds"]
    assert t == {"count": 2, "median": (31 * 86400 + 3600) / 2, "p90": 31 * 86400}
    assert r["reversals"] == 1


def test_until_is_exclusive_and_overdue_ignores_the_window():
    r = report(ENTRIES, NOW, until="2026-11-01T00:00:00.000Z")
    assert r["decisions"]["total"] == 1 and r["appeals"]["filed"] == 1
    assert r["appeals"]["resolved"] == 0 and r["appeals"]["overdue"] == 1


def test_percentiles():
    assert median([]) is None and percentile([], 90) is None
    assert median([3, 1, 2]) == 2 and median([4, 1, 2, 3]) == 2.5
    assert percentile(list(range(1, 11)), 90) == 9 and percentile([5], 90) == 5


def test_http_report_and_bad_parameters(client, auth, database_url):
    client.post("/v1/moderations", json={"text": "I will hurt you", "subject": "u"}, headers=auth)
    reviewer = {"Authorization": f"Bearer {make_key(database_url, 'forum-example', 'reviewer')}"}
    client.post(
        "/v1/decisions",
        json={"subject": "u", "policy": "civility", "rule": "spam"},
        headers=reviewer,
    )
    resp = client.get("/v1/transparency")
    assert resp.status_code == 200
    contract.assert_conforms("/v1/transparency", "GET", resp)
    body = resp.get_json()
    assert body["decisions"]["automated"] == 1 and body["decisions"]["human"] == 1
    resp = client.get("/v1/transparency?since=2999-01-01T00:00:00Z")
    assert resp.get_json()["decisions"]["total"] == 0
    for bad in ("since=yesterday", "until=0001-01-01T00:00:00Z", "since=2026-01-01T00:00:00"):
        resp = client.get(f"/v1/transparency?{bad}")
        assert resp.status_code == 400, bad
        contract.assert_conforms("/v1/transparency", "GET", resp)
