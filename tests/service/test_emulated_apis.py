"""The Perspective-compatible and OpenAI-compatible routes through HTTP: answers in each
API's shape, every call a decision in the log, and every error in each API's envelope."""

from __future__ import annotations

import json

import pytest

from service.http.state import runtime_of

THREAT = "I will hurt you"
KIND = "Have a lovely day, neighbour"
ANALYZE = "/v1alpha1/comments:analyze"
OPENAI = "/openai/v1/moderations"


def analyze(client, body: dict, **kwargs):
    return client.post(ANALYZE, json=body, **kwargs)


def request_for(text: str, *attributes: str, **extra: object) -> dict:
    return {"comment": {"text": text}, "requestedAttributes": {a: {} for a in attributes}, **extra}


def logged_decision(client, decision_id: str) -> dict:
    found = client.get(f"/v1/decisions/{decision_id}")
    assert found.status_code == 200
    return found.get_json()["entry"]


# --- Perspective ------------------------------------------------------------------------


def test_analyze_scores_every_requested_attribute_and_logs_the_decision(client, auth):
    answer = analyze(client, request_for(THREAT, "TOXICITY", "THREAT", "INSULT"), headers=auth)
    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body["attributeScores"]) == {"TOXICITY", "THREAT", "INSULT"}
    decision = logged_decision(client, body["decision"]["id"])
    for attribute, label in (("TOXICITY", "toxicity"), ("THREAT", "threat"), ("INSULT", "insult")):
        summary = body["attributeScores"][attribute]["summaryScore"]
        assert summary == {"value": decision["scores"][label], "type": "PROBABILITY"}
    assert body["decision"]["action"] == decision["action"] == "remove"
    assert body["decision"]["appeal"]["token"]
    assert body["decision"]["content_stored"] is True


def test_key_in_query_string_as_google_clients_send_it(client, client_key):
    answer = analyze(client, request_for(KIND, "TOXICITY"), query_string={"key": client_key})
    assert answer.status_code == 200
    assert answer.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] < 0.5


def test_query_key_is_read_only_on_the_emulated_route(client, client_key):
    answer = client.post(
        "/v1/moderations",
        json={"text": KIND, "subject": "u"},
        query_string={"key": client_key},
    )
    assert answer.status_code == 401


def test_client_token_is_echoed_and_threshold_hides_low_scores(client, auth):
    body = analyze(
        client,
        {
            "comment": {"text": KIND},
            "requestedAttributes": {"TOXICITY": {"scoreThreshold": 0.9}, "THREAT": {}},
            "clientToken": "abc-123",
        },
        headers=auth,
    ).get_json()
    assert body["clientToken"] == "abc-123"
    assert "summaryScore" not in body["attributeScores"]["TOXICITY"]
    assert "summaryScore" in body["attributeScores"]["THREAT"]


def test_span_annotations_come_from_the_classifier_explanations(client, auth):
    text = "you are an idiot"
    body = analyze(
        client, request_for(text, "INSULT", spanAnnotations=True), headers=auth
    ).get_json()
    spans = body["attributeScores"]["INSULT"]["spanScores"]
    assert spans, "an insult is explained by at least one span"
    for span in spans:
        assert 0 <= span["begin"] < span["end"] <= len(text)
        assert 0.0 <= span["score"]["value"] <= 1.0
        assert span["score"]["type"] == "PROBABILITY"
    assert any("idiot" in text[s["begin"] : s["end"]] for s in spans)


def test_do_not_store_keeps_only_the_commitment(client, auth, app):
    from sqlalchemy import select

    from service.storage.db import decision_content

    body = analyze(client, request_for(THREAT, "THREAT", doNotStore=True), headers=auth).get_json()
    assert body["decision"]["content_stored"] is False
    engine = runtime_of(app).engine
    with engine.connect() as conn:
        row = conn.execute(
            select(decision_content.c.text, decision_content.c.salt).where(
                decision_content.c.decision_id == body["decision"]["id"]
            )
        ).one()
    assert row.text is None
    assert row.salt.hex() == body["decision"]["content_salt"]
    assert logged_decision(client, body["decision"]["id"])["content"].startswith("sha256:")


def test_session_id_is_the_subject_so_strikes_reach_one_author(client, auth):
    first = analyze(client, request_for(THREAT, "THREAT", sessionId="s-1"), headers=auth)
    second = analyze(client, request_for(THREAT, "THREAT", sessionId="s-1"), headers=auth)
    anonymous = analyze(client, request_for(THREAT, "THREAT"), headers=auth)
    subject = logged_decision(client, first.get_json()["decision"]["id"])["subject"]
    assert logged_decision(client, second.get_json()["decision"]["id"])["subject"] == subject
    assert logged_decision(client, anonymous.get_json()["decision"]["id"])["subject"] != subject


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (request_for(KIND, "SEVERE_TOXICITY"), "SEVERE_TOXICITY"),
        (request_for(KIND, "FLIRTATION"), "FLIRTATION"),
        (request_for(KIND, "TOXICITY", languages=["de"]), "de"),
        ({"comment": {"text": KIND}, "requestedAttributes": {}}, "requestedAttributes"),
        ({"comment": {"text": " "}, "requestedAttributes": {"TOXICITY": {}}}, "comment"),
        (
            {"comment": {"text": KIND}, "requestedAttributes": {"TOXICITY": {"scoreType": "X"}}},
            "scoreType",
        ),
        (request_for(KIND, "TOXICITY", surprise=1), "surprise"),
    ],
)
def test_bad_requests_answer_400_in_googles_envelope_and_log_nothing(client, auth, body, named):
    before = client.get("/v1/log/checkpoint").get_data()
    answer = analyze(client, body, headers=auth)
    assert answer.status_code == 400
    assert answer.mimetype == "application/json"
    error = answer.get_json()["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert named in error["message"]
    assert client.get("/v1/log/checkpoint").get_data() == before


def test_every_error_on_the_route_takes_googles_envelope(client, auth, app):
    missing = analyze(client, request_for(KIND, "TOXICITY"))
    assert missing.status_code == 401
    assert missing.get_json()["error"]["status"] == "UNAUTHENTICATED"
    wrong = analyze(client, request_for(KIND, "TOXICITY"), query_string={"key": "fw_nope"})
    assert wrong.get_json()["error"] == {
        "code": 401,
        "message": wrong.get_json()["error"]["message"],
        "status": "UNAUTHENTICATED",
    }
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    too_big = analyze(client, request_for(big, "TOXICITY"), headers=auth)
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    unknown_query = analyze(
        client, request_for(KIND, "TOXICITY"), headers=auth, query_string={"fields": "x"}
    )
    assert unknown_query.status_code == 400
    assert "fields" in unknown_query.get_json()["error"]["message"]


def test_discovery_document_points_at_this_service(client, app):
    answer = client.get("/$discovery/rest", query_string={"version": "v1alpha1"})
    assert answer.status_code == 200
    document = answer.get_json()
    public_url = runtime_of(app).settings.public_url.rstrip("/") + "/"
    assert document["rootUrl"] == public_url
    method = document["resources"]["comments"]["methods"]["analyze"]
    assert method["path"] == "v1alpha1/comments:analyze"
    wrong = client.get("/$discovery/rest", query_string={"version": "v1"})
    assert wrong.status_code == 400
    assert wrong.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "version" in wrong.get_json()["error"]["message"]


# --- OpenAI -----------------------------------------------------------------------------


def test_openai_single_input(client, auth):
    answer = client.post(OPENAI, json={"input": THREAT}, headers=auth)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["id"].startswith("modr-")
    (result,) = body["results"]
    decision = logged_decision(client, result["decision"]["id"])
    assert result["flagged"] is (decision["action"] != "allow") is True
    assert result["category_scores"]["violence"] == decision["scores"]["threat"]
    assert result["category_scores"]["harassment/threatening"] == decision["scores"]["threat"]
    for category, score in result["category_scores"].items():
        assert result["categories"][category] is (score >= 0.5)
    assert result["categories"]["sexual"] is False
    assert result["category_scores"]["self-harm"] == 0.0
    assert result["category_applied_input_types"]["violence"] == ["text"]
    assert result["category_applied_input_types"]["sexual"] == []


def test_openai_list_input_gives_one_result_each_in_order(client, auth):
    body = client.post(
        OPENAI,
        json={"input": [KIND, THREAT]},
        headers=auth,
    ).get_json()
    assert [r["flagged"] for r in body["results"]] == [False, True]
    parts = client.post(
        OPENAI,
        json={"input": [{"type": "text", "text": KIND}, {"type": "text", "text": THREAT}]},
        headers=auth,
    ).get_json()
    assert [r["flagged"] for r in parts["results"]] == [False, True]


def test_openai_hate_threatening_needs_both_labels(client, auth):
    body = client.post(OPENAI, json={"input": KIND}, headers=auth).get_json()
    result = body["results"][0]
    scores = logged_decision(client, result["decision"]["id"])["scores"]
    assert result["category_scores"]["hate/threatening"] == min(
        scores["identity_attack"], scores["threat"]
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"input": [{"type": "text", "text": KIND}, {"type": "image_url", "image_url": {}}]},
            "input[1]",
        ),
        ({"input": []}, "input"),
        ({"input": ""}, "input"),
        ({"input": [KIND, 3]}, "input[1]"),
        ({"input": [KIND, {"type": "text", "text": KIND}]}, "input"),
        ({"text": KIND}, None),
    ],
)
def test_openai_bad_input_answers_400_in_openais_envelope(client, auth, body, param):
    before = client.get("/v1/log/checkpoint").get_data()
    answer = client.post(OPENAI, json=body, headers=auth)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert client.get("/v1/log/checkpoint").get_data() == before


def test_openai_image_part_is_named(client, auth):
    answer = client.post(
        OPENAI,
        json={"input": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        headers=auth,
    )
    assert "Image" in answer.get_json()["error"]["message"]


def test_openai_errors_without_a_key(client):
    answer = client.post(OPENAI, json={"input": KIND})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["type"] == "authentication_error"
    assert json.loads(answer.get_data())["error"]["param"] is None


def test_analyze_states_the_requested_language_or_answers_the_detected_one(client, auth):
    french = "Les gens qui veulent sortir du nucléaire sont des crétins et devraient se taire."
    body = analyze(client, request_for(french, "INSULT"), headers=auth).get_json()
    assert body["languages"] == ["fr"]
    decision = logged_decision(client, body["decision"]["id"])
    assert decision["language"]["source"] == "detected"
    assert decision["notice"].startswith("Votre publication")

    body = analyze(client, request_for(french, "INSULT", languages=["en"]), headers=auth).get_json()
    assert body["languages"] == ["en"]
    decision = logged_decision(client, body["decision"]["id"])
    assert decision["language"] == {"tag": "en", "source": "stated"}
    assert decision["notice"].startswith("Your post")


@pytest.mark.parametrize(
    ("path", "body", "error_of"),
    [
        ("/v1/moderations", {"text": KIND, "subject": "u"}, lambda b: b["type"]),
        (ANALYZE, request_for(KIND, "TOXICITY"), lambda b: b["error"]["status"]),
        (OPENAI, {"input": KIND}, lambda b: b["error"]["type"]),
    ],
)
def test_a_full_scoring_queue_is_a_503_everywhere_and_records_nothing(
    client, auth, app, monkeypatch, path, body, error_of
):
    from service.domain.coalesce import Overloaded

    def full(texts, languages=None):
        raise Overloaded

    runtime = runtime_of(app)
    for judge in runtime.judges.values():
        monkeypatch.setattr(judge.classifier, "score", full)
    before = client.get("/v1/log/checkpoint").get_data()
    answer = client.post(path, json=body, headers=auth)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert error_of(answer.get_json()) in {
        "https://fairwitness.example/problems/scoring-overloaded",
        "UNAVAILABLE",
        "server_error",
    }
    assert client.get("/v1/log/checkpoint").get_data() == before
