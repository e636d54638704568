"""A policy scored by the text encoder: decisions name its full version, and concurrent
requests, batched together, get the scores they get alone."""

from __future__ import annotations

import hashlib
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from classifiers.registry import load_named
from service.http.app import create_app
from service.http.state import runtime_of
from tests.conftest import LIBRARY, make_key
from tests.service.test_batching import TEXTS, assert_same, scores_of


@pytest.fixture(scope="module")
def encoder_policy_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("policies") / "library"
    shutil.copytree(LIBRARY, directory)
    policy = directory / "civility.yaml"
    text = policy.read_text(encoding="utf-8")
    text = "\n".join(
        "classifier: text-encoder" if line.startswith("classifier:") else line
        for line in text.splitlines()
    )
    policy.write_text(text + "\n", encoding="utf-8")
    return directory


@pytest.fixture
def encoder_app(encoder_policy_dir, sqlite_url, instance_dir):
    return create_app(
        {
            "database_url": sqlite_url,
            "instance_dir": instance_dir,
            "policy_dir": encoder_policy_dir,
        }
    )


def test_decisions_name_the_encoders_full_version(encoder_app, sqlite_url):
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    client = encoder_app.test_client()
    decision = client.post(
        "/v1/moderations", json={"text": "hello there", "subject": "u"}, headers=auth
    ).get_json()["decision"]
    encoder = load_named("text-encoder")
    lexicon = runtime_of(encoder_app).judges["civility"].classifier
    [_, lexicon_member] = lexicon.members
    assert decision["classifier"]["name"] == "text-encoder+lexicon"
    joined = f"text-encoder {encoder.version}\nlexicon {lexicon_member.version}"
    assert (
        decision["classifier"]["version"] == "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
    )
    # What the encoder's version pins, so a replay can rebuild it.
    assert {"heads_sha256", "ngram", "scikit-learn", "numpy"} <= set(encoder.version_parts)


def test_concurrent_requests_get_the_encoder_scores_they_get_alone(encoder_app, sqlite_url):
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    client = encoder_app.test_client()
    alone = {text: scores_of(client, auth, text) for text in TEXTS}
    start = threading.Barrier(len(TEXTS))

    def post(text: str) -> dict[str, float]:
        own_client = encoder_app.test_client()
        start.wait()
        return scores_of(own_client, auth, text)

    with ThreadPoolExecutor(len(TEXTS)) as pool:
        together = dict(zip(TEXTS, pool.map(post, TEXTS), strict=True))
    for text in TEXTS:
        assert_same(together[text], alone[text])


FRENCH = "Les immigrés sont des animaux."
MIXED = [
    (FRENCH, "fr"),
    ("You are a complete idiot and everyone knows it", "en"),
    (FRENCH, "en"),
    ("Ces gens-là sont des rats, il faut les chasser du pays.", None),
    ("The meeting moved to Thursday, see you there.", None),
]


def _decide(client, auth, text: str, language: str | None) -> dict:
    item = {"text": text, "subject": "u"} | ({"language": language} if language else {})
    resp = client.post("/v1/moderations", json=item, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["decision"]


def test_the_stated_or_detected_language_picks_the_encoders_heads(encoder_app, sqlite_url):
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    client = encoder_app.test_client()
    as_french = _decide(client, auth, FRENCH, "fr")
    as_english = _decide(client, auth, FRENCH, "en")
    detected = _decide(client, auth, FRENCH, None)
    assert detected["language"]["tag"] == "fr"
    assert as_french["scores"]["toxicity"] != as_english["scores"]["toxicity"]
    assert as_french["scores"]["insult"] == as_english["scores"]["insult"]
    assert_same(detected["scores"], as_french["scores"])


def test_a_mixed_language_batch_gets_the_scores_each_text_gets_alone(encoder_app, sqlite_url):
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    client = encoder_app.test_client()
    alone = [_decide(client, auth, text, language)["scores"] for text, language in MIXED]
    items = [
        {"text": text, "subject": f"s{i}"} | ({"language": language} if language else {})
        for i, (text, language) in enumerate(MIXED)
    ]
    resp = client.post("/v1/moderations", json={"items": items}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    for result, want in zip(resp.get_json()["results"], alone, strict=True):
        assert_same(result["decision"]["scores"], want)


def test_a_decisions_scores_replay_from_its_text_and_language(encoder_app, sqlite_url):
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    client = encoder_app.test_client()
    classifier = encoder_app.extensions["fairwitness"].judges["civility"].classifier
    for text, language in MIXED:
        decision = _decide(client, auth, text, language)
        [replayed] = classifier.score([text], [decision["language"]["tag"]])
        assert_same(decision["scores"], replayed)


def test_perspective_languages_pick_the_encoders_heads(encoder_app, sqlite_url):
    # The requested language, else the detected one, reaches the classifier, as it does
    # through /v1/moderations.
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    client = encoder_app.test_client()
    text = "Les immigrés sont des animaux."

    def toxicity(**extra: object) -> float:
        body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, **extra}
        resp = client.post("/v1alpha1/comments:analyze", json=body, headers=auth)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]

    as_french, detected = toxicity(languages=["fr"]), toxicity()
    assert as_french != toxicity(languages=["en"])
    assert detected == pytest.approx(as_french, abs=1.01e-4)


def test_the_default_policy_on_the_sentences_that_judged_context_wrongly(encoder_app, sqlite_url):
    # Through the real moderation path: the person objecting to a slur is not removed, the
    # pile-on without a slur is, and an insult at political opponents is labelled.
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    client = encoder_app.test_client()

    def rules_of(text: str) -> tuple[str, set[str]]:
        decision = _decide(client, auth, text, None)
        return decision["content_action"], {rule["id"] for rule in decision["rules"]}

    for objection in (
        "Calling someone a 'retard' is hurtful, please don't use that word",
        "You should never call anyone a 'retard', it is cruel.",
        # The issue's own example of counter-speech: the hateful statement quoted, and
        # reported, to object to it.
        "Saying 'immigrants are vermin' is disgusting.",
        "When he said Muslims are animals, I reported him.",
    ):
        action, rules = rules_of(objection)
        assert action != "remove" and "identity_attack" not in rules, (objection, rules)
    # The same slur aimed at someone after the same objection is still removed.
    for aimed in (
        "Calling someone a 'retard' is hurtful, but Sam is a retard",
        "Calling someone a 'retard' is hurtful, but Sam is one.",
        "Immigrants are vermin",
        "Saying 'immigrants are vermin' is wrong, but honestly immigrants are vermin",
        "Black people deserve a bullet",
    ):
        action, rules = rules_of(aimed)
        assert action == "remove" and "identity_attack" in rules, (aimed, rules)
    action, rules = rules_of("You people are all the same, animals")
    assert action == "remove" and "identity_attack" in rules, rules
    for stance in ("oppose", "support"):
        action, rules = rules_of(f"People who {stance} rent control are morons and should shut up")
        assert action == "label" and "group_insult" in rules, rules
