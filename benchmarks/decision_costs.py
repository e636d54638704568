"""What each step of a moderation costs, per decision, in one process.

On a fresh SQLite instance, the bench's batch of 100 texts goes through each step of
``POST /v1/moderations`` on its own, many times over, and the CPU time this process
spends is divided by the decisions made. Together the steps show what a decision costs
beyond inference, and which feature each part of that goes to; the last row is the
whole request through the Flask test client, for comparison with their sum.

CPU time, not wall time: the figures hold on a busy machine, and a step that waits
(a commit) counts only what it computes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

ROUNDS = 30


def _cpu_per_decision(step: Callable[[], object], decisions: int, rounds: int = ROUNDS) -> float:
    """Microseconds of this process's CPU time per decision, ``step`` run ``rounds`` times
    after one warm-up run."""
    step()
    started = time.process_time()
    for _ in range(rounds):
        step()
    return (time.process_time() - started) / rounds / decisions * 1e6


def measure(texts: list[str], body: str) -> list[tuple[str, float]]:
    """(step, µs of CPU per decision) for ``texts`` moderated as one batch (``body``)."""
    from receipt_cost import fresh_app

    from classifiers.language import language_of
    from policies.evaluate import match_rules
    from service.domain.moderation import (
        Item,
        LogSide,
        Request,
        _rule_spans,
        append_requests,
        prepare,
    )
    from service.http.api.moderations import _batch, _result_json
    from service.http.state import runtime_of

    with fresh_app() as (app, auth):
        runtime = runtime_of(app)
        policy_id = runtime.settings.default_policy
        judge = runtime.judges[policy_id]
        secret = runtime.instance.secret
        side = LogSide(runtime.log, runtime.clock, runtime.published, "")
        items = [Item(text, f"bench-{i % 50}", policy_id) for i, text in enumerate(texts)]
        requests = [Request(items, "bench")]
        n = len(texts)
        languages = [language_of(text, None) for text in texts]
        tags = [language.tag for language in languages]
        scores = judge.classifier.score(texts, tags)
        matches = [match_rules(judge.policy, s, t) for s, t in zip(scores, texts, strict=True)]
        prepared = prepare(requests, judges=runtime.judges, secret=secret)
        (moderated,) = append_requests(requests, prepared, side)
        client = app.test_client()
        headers = {**auth, "Content-Type": "application/json"}

        def whole_request() -> None:
            response = client.post("/v1/moderations", data=body, headers=headers)
            assert response.status_code == 201, response.get_data(as_text=True)

        steps: list[tuple[str, Callable[[], object]]] = [
            ("inference (the classifier's score)", lambda: judge.classifier.score(texts, tags)),
            ("language detection", lambda: [language_of(text, None) for text in texts]),
            (
                "rules",
                lambda: [
                    match_rules(judge.policy, s, t) for s, t in zip(scores, texts, strict=True)
                ],
            ),
            (
                "explanations (spans)",
                lambda: [
                    _rule_spans(judge, text, m.labels, m.spans)
                    for found, text in zip(matches, texts, strict=True)
                    for m in found
                ],
            ),
            ("prepare, whole", lambda: prepare(requests, judges=runtime.judges, secret=secret)),
            (
                "append (strikes, bodies, hashes, SQL, commit)",
                lambda: append_requests(requests, prepared, side),
            ),
            ("request body (JSON, schema)", lambda: _batch.load(json.loads(body))),
            ("answers (receipts, JSON)", lambda: [_result_json(m) for m in moderated]),
            ("whole request (Flask test client)", whole_request),
        ]
        return [(name, _cpu_per_decision(step, n)) for name, step in steps]


def report(costs: list[tuple[str, float]]) -> dict[str, float]:
    """Print the table; the figures, by step, for the bench's JSON."""
    by_name = dict(costs)
    inference = by_name["inference (the classifier's score)"]
    parts = ("language detection", "rules", "explanations (spans)")
    rest_of_prepare = by_name["prepare, whole"] - inference - sum(by_name[p] for p in parts)
    rows = [
        *((name, by_name[name]) for name in parts),
        ("rest of prepare (subjects, salts, commitments, excerpts)", rest_of_prepare),
        *(
            (name, by_name[name])
            for name in (
                "append (strikes, bodies, hashes, SQL, commit)",
                "request body (JSON, schema)",
                "answers (receipts, JSON)",
            )
        ),
    ]
    beyond = sum(cost for _, cost in rows)
    whole = by_name["whole request (Flask test client)"]
    print(f"{'step':58} {'µs/decision':>12} {'share':>7}")
    print(f"{'inference (the classifier score)':58} {inference:12.0f} {inference / whole:7.0%}")
    for name, cost in rows:
        print(f"{name:58} {cost:12.0f} {cost / whole:7.0%}")
    print(f"{'sum of the steps':58} {inference + beyond:12.0f}")
    print(f"{'whole request (Flask test client)':58} {whole:12.0f} {1:7.0%}")
    print(
        f"beyond inference: {beyond:.0f} µs per decision, "
        f"{beyond / inference:.0%} of inference's own cost"
    )
    return {
        **{
            f"cost_us_{name.split(' (')[0].replace(' ', '_').replace(',', '')}": round(cost, 1)
            for name, cost in [("inference", inference), *rows]
        },
        "cost_us_whole_request": round(whole, 1),
        "cost_us_beyond_inference": round(beyond, 1),
    }


if __name__ == "__main__":
    os.environ.setdefault("FAIRWITNESS_LOG_LEVEL", "warning")
    from run import BATCH_BODY, BATCH_TEXTS

    report(measure(BATCH_TEXTS, BATCH_BODY))
