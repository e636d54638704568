"""Concurrent requests share classifier calls, and get the scores they would alone."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

TEXTS = [
    f"{opening} #{n}"
    for n, opening in enumerate(
        [
            "Thanks for the detailed answer, it helped me fix the build.",
            "I will hurt you if you post that again",
            "You are a complete idiot and everyone knows it",
            "Check out my channel for free gift cards http://spam.example",
            "The meeting moved to Thursday, see you there.",
            "People who oppose rent control are morons and should shut up",
            "Les gens qui veulent sortir du nucléaire se trompent, à mon avis.",
            "what a load of bullsh1t",
        ]
        * 2
    )
]


def scores_of(client, auth, text: str, language: str | None = None) -> dict[str, float]:
    item = {"text": text, "subject": "u"} | ({"language": language} if language else {})
    resp = client.post("/v1/moderations", json=item, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["decision"]["scores"]


def batch_texts_scored(client) -> float:
    metrics = client.get("/metrics").get_data(as_text=True)
    found = re.search(r"^fairwitness_inference_batch_texts_sum (\S+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


def assert_same(got: dict[str, float], want: dict[str, float]) -> None:
    assert got.keys() == want.keys()
    for label, value in want.items():
        # Scores are logged to 4 decimals; the classifier promises equality within 1e-6,
        # which can move a rounded score by one unit in the last place at most.
        assert got[label] == pytest.approx(value, abs=1.01e-4), label


def test_concurrent_requests_get_the_scores_they_get_alone(app, auth):
    client = app.test_client()
    alone = {text: scores_of(client, auth, text) for text in TEXTS}
    before = batch_texts_scored(client)

    start = threading.Barrier(len(TEXTS))

    def post(text: str) -> dict[str, float]:
        own_client = app.test_client()
        start.wait()
        return scores_of(own_client, auth, text)

    with ThreadPoolExecutor(len(TEXTS)) as pool:
        together = dict(zip(TEXTS, pool.map(post, TEXTS), strict=True))
    for text in TEXTS:
        assert_same(together[text], alone[text])
    # Every text went through the scoring batches.
    assert batch_texts_scored(client) - before == len(TEXTS)


def test_a_batch_request_gets_the_scores_of_single_requests(client, auth):
    # One batch, mixed languages: stated French, stated English, detected.
    languages = [("fr", "en", None)[i % 3] for i in range(8)]
    pairs = list(zip(TEXTS[:8], languages, strict=True))
    alone = [scores_of(client, auth, text, language) for text, language in pairs]
    items = [
        {"text": text, "subject": f"s{i}"} | ({"language": language} if language else {})
        for i, (text, language) in enumerate(pairs)
    ]
    resp = client.post("/v1/moderations", json={"items": items}, headers=auth)
    assert resp.status_code == 201
    for want, result in zip(alone, resp.get_json()["results"], strict=True):
        assert_same(result["decision"]["scores"], want)


def test_a_huge_text_is_scored_beside_short_ones(app, auth):
    """A post at the body limit and short posts sent at the same time all succeed with
    their own scores (the huge one is scored in its own lane)."""
    client = app.test_client()
    huge = "You are a complete idiot and everyone knows it. " * 5000
    alone_short = scores_of(client, auth, TEXTS[0])
    start = threading.Barrier(5)

    def post(text: str) -> dict[str, float]:
        own_client = app.test_client()
        start.wait()
        return scores_of(own_client, auth, text)

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(post, [huge, TEXTS[0], TEXTS[0], TEXTS[0], TEXTS[0]]))
    assert results[0]["lexicon:insults"] == 1.0
    for short in results[1:]:
        assert_same(short, alone_short)
