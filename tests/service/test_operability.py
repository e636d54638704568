"""What an operator sees: readiness, Prometheus metrics, request ids and JSON logs that
never carry the text, the key or the user id."""

from __future__ import annotations

import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from service.jsonlog import JsonFormatter
from tests.conftest import log_size

TEXT = "I will hurt you, Mallory"
USER = "user-secret-4711"


def _samples(client) -> dict[tuple[str, frozenset], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_readyz_reports_each_dependency(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {
        "status": "ready",
        "checks": {"policies": True, "classifiers": True, "database": True, "signing_keys": True},
    }


def test_metrics_count_requests_decisions_appends_and_log_size(app, client, auth):
    before = _samples(client)
    resp = client.post(
        "/v1/moderations", headers=auth, json={"text": TEXT, "subject": USER, "policy": "civility"}
    )
    assert resp.status_code == 201
    decision = resp.get_json()["decision"]
    assert client.get(f"/v1/decisions/{decision['id']}").status_code == 200
    assert client.get("/v1/decisions/dec_nope").status_code == 404
    after = _samples(client)

    def grew(name: str, **labels) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert (
        grew(
            "fairwitness_http_requests_total", method="POST", route="/v1/moderations", status="201"
        )
        == 1
    )
    assert (
        grew(
            "fairwitness_http_requests_total",
            method="GET",
            route="/v1/decisions/<decision_id>",
            status="200",
        )
        == 1
    )
    assert (
        grew(
            "fairwitness_http_requests_total",
            method="GET",
            route="/v1/decisions/<decision_id>",
            status="404",
        )
        == 1
    )
    assert decision["rules"]
    for rule in decision["rules"]:
        assert (
            grew(
                "fairwitness_decisions_total",
                policy="civility",
                action=decision["action"],
                rule=rule["id"],
            )
            == 1
        )
    assert grew("fairwitness_log_append_seconds_count") >= 1
    assert _value(after, "fairwitness_log_size") == log_size(app)
    assert _value(after, "fairwitness_database_up") == 1
    # Labels are route patterns and rule ids: nothing anyone typed or is.
    text = client.get("/metrics").get_data(as_text=True)
    assert USER not in text and "Mallory" not in text and decision["id"] not in text


def test_request_id_is_honoured_or_generated_and_echoed(client):
    given = client.get("/healthz", headers={"X-Request-Id": "lb-1234.abc"})
    assert given.headers["X-Request-Id"] == "lb-1234.abc"
    fresh = client.get("/healthz")
    other = client.get("/healthz")
    assert (
        fresh.headers["X-Request-Id"]
        and fresh.headers["X-Request-Id"] != other.headers["X-Request-Id"]
    )
    # A malformed id (header injection, absurd length) is replaced, not echoed.
    for bad in ("a b", "x" * 200, "id\u00e9"):
        resp = client.get("/healthz", headers={"X-Request-Id": bad})
        assert resp.headers["X-Request-Id"] != bad
    problem = client.get("/v1/decisions/dec_nope", headers={"X-Request-Id": "req-9"})
    assert problem.status_code == 404 and problem.headers["X-Request-Id"] == "req-9"


def test_logs_are_json_with_request_id_and_no_text_keys_or_users(client, client_key, capsys):
    capsys.readouterr()
    resp = client.post(
        "/v1/moderations",
        headers={"Authorization": f"Bearer {client_key}", "X-Request-Id": "req-77"},
        json={"text": TEXT, "subject": USER},
    )
    assert resp.status_code == 201
    client.post(
        "/v1/moderations",
        json={"text": TEXT, "subject": USER},
        headers={"Authorization": "Bearer fw_0123456789ab_forged"},
    )
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    requests = [d for d in lines if d.get("event") == "request"]
    assert any(
        d["request_id"] == "req-77"
        and d["route"] == "/v1/moderations"
        and d["status"] == 201
        and d["key_id"].startswith("key_")
        for d in requests
    )
    assert any(d["status"] == 401 for d in requests)
    for needle in (TEXT, "Mallory", USER, client_key, client_key.split("_", 2)[2], "forged"):
        assert needle not in err


def test_formatter_drops_unlisted_fields_and_exception_messages():
    record = logging.LogRecord(
        "fairwitness.x", logging.ERROR, __file__, 1, "boom %s", ("Error",), None
    )
    record.text = TEXT
    record.subject = USER
    record.decision_id = "dec_1"
    try:
        raise ValueError(f"bad input {TEXT}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "boom Error" and doc["decision_id"] == "dec_1"
    assert doc["exception"] == "ValueError" and "stack" in doc
    assert TEXT not in json.dumps(doc) and USER not in json.dumps(doc)
