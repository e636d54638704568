"""The default policy judges manners, not views: the mirrored suite through the real
moderation path (HTTP, the default policy, its classifier, the log)."""

from __future__ import annotations

from collections import defaultdict

from tests.viewpoint.suite import Statement, statements

BATCH = 100
CIVIL_ACTED_AT_MOST = 0.01
INSULTS_ACTED_AT_LEAST = 0.95
PAIRS_SAME_AT_LEAST = 0.99


def judge_all(client, auth) -> dict[Statement, str]:
    """Every statement's action, each author a fresh subject so no strike escalates."""
    suite = statements()
    actions: dict[Statement, str] = {}
    for start in range(0, len(suite), BATCH):
        chunk = suite[start : start + BATCH]
        resp = client.post(
            "/v1/moderations",
            json={
                "items": [
                    {"text": s.text, "subject": f"viewpoint-{start + i}", "policy": "civility"}
                    for i, s in enumerate(chunk)
                ]
            },
            headers=auth,
        )
        assert resp.status_code == 201, resp.get_json()
        for statement, result in zip(chunk, resp.get_json()["results"], strict=True):
            actions[statement] = result["decision"]["content_action"]
    return actions


def rates(actions: dict[Statement, str]) -> dict[tuple[str, str], float]:
    """Share acted on (action other than allow) per (form, side)."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for statement, action in actions.items():
        cell = counts[(statement.form, statement.side)]
        cell[0] += action != "allow"
        cell[1] += 1
    return {key: acted / total for key, (acted, total) in counts.items()}


def pair_agreement(actions: dict[Statement, str]) -> float:
    by_pair: dict[tuple, dict[str, str]] = defaultdict(dict)
    for statement, action in actions.items():
        by_pair[statement.pair][statement.side] = action
    assert all(set(sides) == {"a", "b"} for sides in by_pair.values())
    return sum(sides["a"] == sides["b"] for sides in by_pair.values()) / len(by_pair)


def test_the_suite_is_large_and_mirrored():
    suite = statements()
    topics = {(s.language, s.topic) for s in suite}
    assert len({t for lang, t in topics if lang == "en"}) >= 20
    assert {lang for lang, _ in topics} == {"en", "fr"}
    assert len({s.text for s in suite}) == len(suite)


def test_default_policy_acts_on_manners_not_views(client, auth):
    actions = judge_all(client, auth)
    shares = rates(actions)
    for side in "ab":
        assert shares[("civil", side)] <= CIVIL_ACTED_AT_MOST, shares
        assert shares[("group_insult", side)] >= INSULTS_ACTED_AT_LEAST, shares
        assert shares[("you_insult", side)] >= INSULTS_ACTED_AT_LEAST, shares
    assert pair_agreement(actions) >= PAIRS_SAME_AT_LEAST
    # Insults are labelled, never removed for the view they attack.
    insults = [a for s, a in actions.items() if s.form != "civil"]
    assert set(insults) <= {"label", "allow"}
