"""A decision's language: stated by the client or detected, recorded in the hashed body,
and choosing the notice's language."""

from __future__ import annotations

import hashlib

import pytest
import rfc8785

from tests.conftest import log_size

FRENCH_INSULT = "Les gens qui veulent sortir du nucléaire sont des crétins et devraient se taire."
ENGLISH_INSULT = "People who oppose rent control are morons and they should just shut up."
FRENCH_NOTICE_START = "Votre publication est affichée avec une mention de civilité"
ENGLISH_NOTICE_START = "Your post is shown with a civility label"


def moderate(client, auth, **body):
    return client.post("/v1/moderations", json={"subject": "user-1", **body}, headers=auth)


def test_french_text_gets_the_french_notice(client, auth):
    resp = moderate(client, auth, text=FRENCH_INSULT)
    assert resp.status_code == 201, resp.get_json()
    decision = resp.get_json()["decision"]
    assert decision["action"] == "label"
    assert decision["language"]["tag"] == "fr"
    assert decision["language"]["source"] == "detected"
    assert decision["language"]["detector"].startswith("py3langid-")
    assert decision["notice"].startswith(FRENCH_NOTICE_START)
    assert decision["rules"][0]["notice"] == decision["notice"]


def test_english_text_gets_the_english_notice(client, auth):
    decision = moderate(client, auth, text=ENGLISH_INSULT).get_json()["decision"]
    assert decision["language"]["tag"] == "en"
    assert decision["language"]["source"] == "detected"
    assert decision["notice"].startswith(ENGLISH_NOTICE_START)


def test_a_stated_language_wins_over_detection(client, auth):
    decision = moderate(client, auth, text=ENGLISH_INSULT, language="fr").get_json()["decision"]
    assert decision["language"] == {"tag": "fr", "source": "stated"}
    assert decision["notice"].startswith(FRENCH_NOTICE_START)

    decision = moderate(client, auth, text=FRENCH_INSULT, language="en").get_json()["decision"]
    assert decision["language"] == {"tag": "en", "source": "stated"}
    assert decision["notice"].startswith(ENGLISH_NOTICE_START)


def test_a_regional_tag_finds_the_language_and_is_recorded_in_lower_case(client, auth):
    decision = moderate(client, auth, text=ENGLISH_INSULT, language="fr-CA").get_json()["decision"]
    assert decision["language"] == {"tag": "fr-ca", "source": "stated"}
    assert decision["notice"].startswith(FRENCH_NOTICE_START)


def test_a_language_the_policy_lacks_falls_back_to_the_policys_own(client, auth):
    decision = moderate(client, auth, text=FRENCH_INSULT, language="de").get_json()["decision"]
    assert decision["language"] == {"tag": "de", "source": "stated"}
    assert decision["notice"].startswith(ENGLISH_NOTICE_START)


def test_the_language_is_in_the_hashed_body(client, auth):
    body = moderate(client, auth, text=FRENCH_INSULT).get_json()
    leaf = hashlib.sha256(b"\x00" + rfc8785.dumps(body["decision"])).hexdigest()
    assert leaf == body["receipt"]["leaf_hash"]
    public = client.get(f"/v1/decisions/{body['decision']['id']}").get_json()
    assert public["entry"]["language"] == body["decision"]["language"]


def test_escalation_sentence_follows_the_notice_language(client, auth):
    # Three insults (a strike of weight 1 each) reach the first step.
    moderate(client, auth, text=FRENCH_INSULT)
    moderate(client, auth, text=FRENCH_INSULT)
    decision = moderate(client, auth, text=FRENCH_INSULT).get_json()["decision"]
    assert decision["action"] == "restrict_account"
    assert decision["notice"].startswith(FRENCH_NOTICE_START)
    assert decision["notice"].endswith(
        "Vous avez maintenant 3 avertissements actifs, donc votre compte est restreint "
        "pour 7 jours."
    )


def test_each_batch_item_has_its_own_language(client, auth):
    resp = client.post(
        "/v1/moderations",
        json={
            "items": [
                {"text": FRENCH_INSULT, "subject": "a"},
                {"text": FRENCH_INSULT, "subject": "b", "language": "en-GB"},
            ]
        },
        headers=auth,
    )
    first, second = (r["decision"] for r in resp.get_json()["results"])
    assert first["notice"].startswith(FRENCH_NOTICE_START)
    assert second["language"] == {"tag": "en-gb", "source": "stated"}
    assert second["notice"].startswith(ENGLISH_NOTICE_START)


@pytest.mark.parametrize(
    "language",
    [
        "",
        "fr-abcdefghi",  # a subtag of 9 letters
        "f",
        "fr_FR",
        "fr-",
        "-fr",
        "fr--ca",
        "fr-CA-",
        "fr CA",
        "fr\u0000",
        "ſr",  # a long s, which case-folds to "s"
        "fr-\u212aR",  # the Kelvin sign, which case-folds to "k"
        "x",
        "en-" + "a" * 9,
        "a" * 65,
        "en-US-" + "-".join(["abcde"] * 20),  # well-formed but longer than 64 characters
        12,
        ["fr"],
        {"tag": "fr"},
        True,
    ],
)
def test_a_malformed_language_is_refused_and_changes_nothing(client, auth, app, language):
    before = log_size(app)
    resp = moderate(client, auth, text=FRENCH_INSULT, language=language)
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["errors"][0]["pointer"] == "#/language"
    assert log_size(app) == before


def test_a_malformed_language_in_a_batch_names_its_item(client, auth, app):
    before = log_size(app)
    resp = client.post(
        "/v1/moderations",
        json={
            "items": [
                {"text": "hello", "subject": "a"},
                {"text": "hello", "subject": "b", "language": "not a tag"},
            ]
        },
        headers=auth,
    )
    assert resp.status_code == 422
    assert resp.get_json()["errors"][0]["pointer"] == "#/items/1/language"
    assert log_size(app) == before


def test_detection_reads_a_bounded_prefix_of_a_huge_text(client, auth):
    # 200,000 characters of English after a French opening longer than the prefix read:
    # the opening decides, and the rest costs nothing.
    text = (FRENCH_INSULT + " ") * 20 + "the weather is nice today " * 8000
    decision = moderate(client, auth, text=text[:200_000]).get_json()["decision"]
    assert decision["language"]["tag"] == "fr"


def test_text_without_language_is_undetermined(client, auth):
    decision = moderate(client, auth, text="🙂🙂🙂 12345").get_json()["decision"]
    assert decision["language"]["tag"] == "und"


def test_policy_view_shows_the_language_and_translations(client):
    policy = client.get("/v1/policies/civility").get_json()
    assert policy["language"] == "en"
    for rule in policy["rules"]:
        assert set(rule["translations"]) == {"fr"}, rule["id"]
    assert all(step["notice"] is None for step in policy["escalation"])
    page = client.get("/policies/civility").get_data(as_text=True)
    assert 'lang="fr"' in page
