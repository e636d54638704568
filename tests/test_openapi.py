"""``openapi.yaml`` is the contract: valid OpenAPI 3.1, complete, and kept by the app.

1. The document is valid OpenAPI 3.1 and its examples fit their own schemas.
2. Every route the app serves is documented, and every documented route is served.
3. Schemathesis generates requests for every operation but webhook registration (pages
   and exports included)
   and runs them against the WSGI app in-process: no 5xx, only documented statuses,
   media types and headers, and bodies that fit the documented schemas.
4. Plain requests hold to the spec the shapes fuzzing may not reach: the batch result,
   escalations, every documented error, the 503 storage answer, the policy version
   bytes, a real decision, subject, export and proofs, and requests at the edges of
   each parameter.
5. Every query parameter of every operation gets values built to break parsers (digits
   ``int()`` takes and the contract does not, positions past 64 bits, forged cursors)
   and is given twice: a documented answer, never a 5xx.

Every response is checked against the spec by ``tests/openapi_contract.py`` (jsonschema,
Draft 2020-12) as well as by schemathesis, so a broken shape fails either way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.http.state import runtime_of
from tests import openapi_contract as contract
from tests.conftest import LIBRARY, make_key

# Generated cases per operation in the fuzzing phase (the examples and coverage phases
# add their own). Keeps the whole file well under a minute and a half on two cores.
MAX_EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
THREAT = "I will hurt you"
KIND = "Have a lovely day, neighbour"


@pytest.fixture
def api_app(sqlite_url: str, instance_dir: Path, clock):
    """The app on SQLite, built as ``tests/conftest.py``'s ``app`` fixture builds it."""
    from service.http.app import create_app

    application = create_app(
        {"database_url": sqlite_url, "instance_dir": instance_dir, "policy_dir": LIBRARY},
        clock=clock,
    )
    yield application
    runtime_of(application).engine.dispose()


@pytest.fixture
def api_client(api_app):
    return api_app.test_client()


@pytest.fixture
def role_headers(sqlite_url: str):
    """``role_headers("client")``: an Authorization header with a fresh key of that role."""
    made: dict[str, dict[str, str]] = {}

    def headers_for(role: str) -> dict[str, str]:
        if role not in made:
            made[role] = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum-example', role)}"}
        return made[role]

    return headers_for


# --- 1. the document itself --------------------------------------------------------------


def test_spec_is_valid_openapi_3_1():
    spec = contract.load_spec()
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_schemathesis_loads_the_spec():
    schema = schemathesis.openapi.from_path(contract.SPEC_PATH)
    assert {(op.path, op.method.upper()) for op in _operations(schema)} == (
        contract.documented_operations(contract.load_spec())
    )


def _operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def test_examples_fit_their_schemas():
    checked = 0
    failures = []
    for where, schema_at, value in contract.iter_examples(contract.load_spec()):
        checked += 1
        failures.extend(f"{where}: {error}" for error in contract.schema_errors(schema_at, value))
    assert checked > 10
    assert not failures, "\n".join(failures)


# --- 2. route coverage -------------------------------------------------------------------


def test_every_route_is_documented_and_every_documented_route_is_served(api_app):
    served = contract.served_operations(api_app)
    documented = contract.documented_operations(contract.load_spec())
    undocumented = sorted(served - documented)
    unserved = sorted(documented - served)
    assert not undocumented, f"routes missing from openapi.yaml: {undocumented}"
    assert not unserved, f"openapi.yaml documents routes the app does not serve: {unserved}"


def test_flask_rules_become_openapi_templates():
    assert contract.flask_path("/v1/policies/<policy_id>/versions/<version>") == (
        "/v1/policies/{policy_id}/versions/{version}"
    )
    assert contract.flask_path("/v1/log/proof/<int:index>") == "/v1/log/proof/{index}"
    assert contract.flask_path("/healthz") == "/healthz"


# --- 3. schemathesis against the WSGI app ------------------------------------------------


def _fuzzed(ctx) -> bool:
    # Every operation but webhook registration: a fuzzed URL there could make a later
    # delivery reach an address off this machine.
    operation = ctx.operation
    return (operation.method.upper(), operation.path) != ("POST", "/v1/webhooks")


def _load_fuzz_schema():
    # Loaded at import, not from a fixture: ``schemathesis.pytest.from_fixture`` (4.32)
    # sets ``Function._nodeid``, which pytest 9.2 no longer has. The app comes from the
    # ``api_app`` fixture at call time instead (``case.call_and_validate(app=...)``).
    return schemathesis.openapi.from_path(contract.SPEC_PATH).include(_fuzzed)


fuzz_schema = _load_fuzz_schema()


@fuzz_schema.parametrize()
@pytest.mark.slow
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # One app and database per operation, shared by its generated cases on purpose:
    # the log grows as it would in production.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_app_keeps_the_contract(case, api_app, role_headers):
    roles = contract.required_roles(
        contract.load_spec(), case.operation.path, case.operation.method
    )
    headers = role_headers(roles[0]) if roles else None
    case.call_and_validate(app=api_app, headers=headers, checks=CHECKS)


# --- 4. plain requests for the shapes fuzzing may miss -----------------------------------


def _post(client, body, headers, **kwargs):
    return client.post(
        "/v1/moderations",
        data=json.dumps(body),
        headers=headers,
        content_type=kwargs.pop("content_type", "application/json"),
        **kwargs,
    )


def test_single_and_batch_results_fit_the_201_schemas(api_client, role_headers):
    auth = role_headers("client")
    single = _post(
        api_client,
        {"text": THREAT, "subject": "u-1", "content_ref": "post-1", "policy": None},
        auth,
    )
    assert single.status_code == 201, single.get_json()
    contract.assert_conforms("/v1/moderations", "POST", single)
    assert not contract.schema_errors("#/components/schemas/ModerationResult", single.get_json())

    batch = _post(
        api_client,
        {
            "items": [
                {"text": KIND, "subject": "u-1"},
                {"text": THREAT, "subject": "u-2"},
                {"text": THREAT, "subject": "u-1"},
            ]
        },
        auth,
    )
    assert batch.status_code == 201, batch.get_json()
    contract.assert_conforms("/v1/moderations", "POST", batch)
    assert not contract.schema_errors(
        "#/components/schemas/ModerationBatchResult", batch.get_json()
    )


def test_escalated_decisions_fit_the_schema(api_client, role_headers):
    auth = role_headers("client")
    items = [{"text": THREAT, "subject": "repeat"} for _ in range(4)]
    resp = _post(api_client, {"items": items}, auth)
    assert resp.status_code == 201, resp.get_json()
    contract.assert_conforms("/v1/moderations", "POST", resp)
    decisions = [r["decision"] for r in resp.get_json()["results"]]
    assert any(d["strike"] for d in decisions), decisions
    assert any(d["escalation"] for d in decisions), "no escalation reached: nothing checked"


def test_the_schemas_reject_a_broken_decision(api_client, role_headers):
    """The 201 schema is strict enough that a changed shape fails."""
    result = _post(api_client, {"text": THREAT, "subject": "u"}, role_headers("client")).get_json()
    at = "#/components/schemas/ModerationResult"
    breakages = [
        lambda r: r["decision"].update(extra=1),
        lambda r: r["decision"].pop("content_action"),
        lambda r: r["decision"].update(action="delete"),
        lambda r: r["decision"].update(id="dec_lowercase0000000000000000"),
        lambda r: r["decision"].update(subject="alice"),
        lambda r: r["decision"]["scores"].update(threat=1.5),
        lambda r: r["receipt"].update(leaf_hash="sha256:" + "0" * 64),
        lambda r: r["receipt"].update(index=-1),
        lambda r: r.update(note="hi"),
    ]
    for i, breakage in enumerate(breakages):
        broken = json.loads(json.dumps(result))
        breakage(broken)
        assert contract.schema_errors(at, broken), f"breakage {i} passed the schema"


BAD_REQUESTS = [
    # (body bytes, content type, status)
    (b'{"text": "x",', "application/json", 400),
    (json.dumps({"text": "", "subject": "u"}).encode(), "application/json", 422),
    (
        json.dumps(
            {
                "items": [
                    {"text": "ok", "subject": "u"},
                    {"text": "ok", "subject": "u", "policy": "nope"},
                ]
            }
        ).encode(),
        "application/json",
        422,
    ),
    (json.dumps([1, 2]).encode(), "application/json", 422),
    (b"text=hi", "application/x-www-form-urlencoded", 415),
    (
        json.dumps({"text": "x" * (256 * 1024 + 1), "subject": "u"}).encode(),
        "application/json",
        413,
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    BAD_REQUESTS,
    ids=["400", "422-single", "422-batch", "422-array", "415", "413"],
)
def test_refusals_fit_the_problem_schema(api_client, role_headers, body, content_type, status):
    resp = api_client.post(
        "/v1/moderations", data=body, content_type=content_type, headers=role_headers("client")
    )
    assert resp.status_code == status, resp.get_data()
    contract.assert_conforms("/v1/moderations", "POST", resp)
    assert not contract.schema_errors("#/components/schemas/Problem", resp.get_json())


@pytest.mark.parametrize("header", [None, "Bearer fw_000000000000_wrong"])
def test_401_fits_the_contract(api_client, header):
    headers = {"Authorization": header} if header else {}
    resp = _post(api_client, {"text": KIND, "subject": "u"}, headers)
    assert resp.status_code == 401
    contract.assert_conforms("/v1/moderations", "POST", resp)


def test_403_fits_the_contract(api_client, role_headers):
    resp = _post(api_client, {"text": KIND, "subject": "u"}, role_headers("reviewer"))
    assert resp.status_code == 403
    contract.assert_conforms("/v1/moderations", "POST", resp)


def test_storage_down_is_a_documented_503(api_app, tmp_path):
    """With the database unreachable, every route that reads it answers as documented."""
    from service.storage.db import make_engine

    runtime = runtime_of(api_app)
    healthy = runtime.engine
    runtime.engine = make_engine(
        f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}", timeout_seconds=0.1
    )
    try:
        client = api_app.test_client()
        resp = client.post(
            "/v1/moderations",
            json={"text": KIND, "subject": "u"},
            headers={"Authorization": "Bearer fw_000000000000_whatever"},
        )
        assert resp.status_code == 503, resp.get_data()
        contract.assert_conforms("/v1/moderations", "POST", resp)
        resp = client.get("/v1/policies/civility")
        assert resp.status_code == 503, resp.get_data()
        contract.assert_conforms("/v1/policies/{policy_id}", "GET", resp)
        resp = client.get("/readyz")
        assert resp.status_code == 503 and resp.get_json()["checks"]["database"] is False
        contract.assert_conforms("/readyz", "GET", resp)
    finally:
        runtime.engine.dispose()
        runtime.engine = healthy


def test_policy_routes_fit_the_contract(api_client, role_headers):
    # Moderate once so every policy's version is certainly published.
    _post(api_client, {"text": KIND, "subject": "u"}, role_headers("client"))
    listing = api_client.get("/v1/policies")
    contract.assert_conforms("/v1/policies", "GET", listing)
    policies = listing.get_json()["policies"]
    assert policies
    for summary in policies:
        detail = api_client.get(f"/v1/policies/{summary['id']}")
        assert detail.status_code == 200
        contract.assert_conforms("/v1/policies/{policy_id}", "GET", detail)
        versions = detail.get_json()["versions"]
        assert summary["version"] in [v["version"] for v in versions]
        for version in versions:
            raw = api_client.get(f"/v1/policies/{summary['id']}/versions/{version['version']}")
            assert raw.status_code == 200
            contract.assert_conforms("/v1/policies/{policy_id}/versions/{version}", "GET", raw)
            digest = "sha256:" + hashlib.sha256(raw.get_data()).hexdigest()
            assert digest == version["version"]
    missing = api_client.get("/v1/policies/no-such-policy")
    assert missing.status_code == 404
    contract.assert_conforms("/v1/policies/{policy_id}", "GET", missing)
    missing = api_client.get(f"/v1/policies/{policies[0]['id']}/versions/sha256:{'0' * 64}")
    assert missing.status_code == 404
    contract.assert_conforms("/v1/policies/{policy_id}/versions/{version}", "GET", missing)


def test_probes_fit_the_contract(api_client):
    for path in ("/healthz", "/readyz"):
        resp = api_client.get(path)
        assert resp.status_code == 200
        contract.assert_conforms(path, "GET", resp)


def test_log_routes_fit_the_contract(api_client, role_headers):
    auth = role_headers("client")
    # Enough strikes for one subject to reach the escalation ladder.
    items = [{"text": THREAT, "subject": "repeat"} for _ in range(4)] + [
        {"text": KIND, "subject": "kind"}
    ]
    results = _post(api_client, {"items": items}, auth).get_json()["results"]
    decision = results[-2]["decision"]
    assert decision["escalation"], "no escalation reached: the restriction shape is unchecked"

    resp = api_client.get(f"/v1/decisions/{decision['id']}")
    assert resp.status_code == 200
    contract.assert_conforms("/v1/decisions/{decision_id}", "GET", resp)
    assert resp.get_json()["entry"] == decision

    resp = api_client.get(f"/v1/subjects/{decision['subject']}")
    assert resp.status_code == 200
    contract.assert_conforms("/v1/subjects/{subject}", "GET", resp)
    standing = resp.get_json()
    assert standing["active_strikes"] and standing["active_restrictions"], standing

    first = api_client.get("/v1/log/entries?limit=2")
    contract.assert_conforms("/v1/log/entries", "GET", first)
    cursor = first.get_json()["next_cursor"]
    assert cursor
    resp = api_client.get(f"/v1/log/entries?limit=2&order=desc&kind=decision&cursor={cursor}")
    contract.assert_conforms("/v1/log/entries", "GET", resp)
    for accept in ("application/x-ndjson", "text/csv"):
        resp = api_client.get("/v1/log/entries", headers={"Accept": accept})
        assert resp.status_code == 200 and resp.mimetype == accept
        contract.assert_conforms("/v1/log/entries", "GET", resp)
    ndjson = api_client.get("/v1/log/entries", headers={"Accept": "application/x-ndjson"})
    for line in ndjson.get_data(as_text=True).splitlines():
        errors = contract.schema_errors("#/components/schemas/LogEntry", json.loads(line))
        assert not errors, errors

    size = first.get_json()["tree_size"]
    for path, query in [
        ("/v1/log/checkpoint", ""),
        ("/v1/log/checkpoints", "?limit=1"),
        ("/v1/log/key", ""),
        ("/v1/log/proof/inclusion", f"?index=0&size={size}"),
        ("/v1/log/proof/inclusion", "?index=1"),
        ("/v1/log/proof/consistency", f"?from=1&to={size}"),
        ("/v1/log/proof/consistency", "?from=2"),
    ]:
        resp = api_client.get(path + query)
        assert resp.status_code == 200, (path + query, resp.get_data())
        contract.assert_conforms(path, "GET", resp)


# Requests at the edges of each parameter: each must get a documented answer (never a
# 5xx) whose body fits the spec.
EDGE_REQUESTS = [
    ("/v1/decisions/{decision_id}", "/v1/decisions/dec_00000000000000000000000000"),
    ("/v1/decisions/{decision_id}", "/v1/decisions/not-an-id"),
    ("/v1/subjects/{subject}", "/v1/subjects/sub_" + "0" * 32),
    ("/v1/subjects/{subject}", "/v1/subjects/alice"),
    ("/v1/log/entries", "/v1/log/entries?limit=0"),
    ("/v1/log/entries", "/v1/log/entries?order=sideways"),
    ("/v1/log/entries", "/v1/log/entries?cursor=nonsense"),
    ("/v1/log/entries", "/v1/log/entries?since=yesterday"),
    ("/v1/log/entries", "/v1/log/entries?since=0001-01-01T00:00:00%2B01:00"),
    ("/v1/log/entries", "/v1/log/entries?until=9999-12-31T23:59:59-01:00"),
    ("/v1/log/entries", "/v1/log/entries?app=" + "a" * 257),
    ("/v1/log/checkpoints", "/v1/log/checkpoints?after=x"),
    ("/v1/log/checkpoints", "/v1/log/checkpoints?after=-2"),
    ("/v1/log/checkpoints", "/v1/log/checkpoints?after=9223372036854775808"),
    ("/v1/log/checkpoints", "/v1/log/checkpoints?limit=1001"),
    ("/v1/log/proof/inclusion", "/v1/log/proof/inclusion"),
    ("/v1/log/proof/inclusion", "/v1/log/proof/inclusion?index=5&size=1"),
    ("/v1/log/proof/inclusion", "/v1/log/proof/inclusion?index=0&size=99999999999999999999"),
    ("/v1/log/proof/consistency", "/v1/log/proof/consistency?from=0"),
    ("/v1/log/proof/consistency", "/v1/log/proof/consistency?from=1"),
    ("/v1/log/proof/consistency", "/v1/log/proof/consistency?from=3&to=2"),
]


@pytest.mark.parametrize(("template", "url"), EDGE_REQUESTS, ids=[u for _, u in EDGE_REQUESTS])
def test_edge_requests_get_documented_answers(api_client, template, url):
    resp = api_client.get(url)
    assert resp.status_code < 500, resp.get_data()
    contract.assert_conforms(template, "GET", resp)


@pytest.mark.parametrize("text", ["Æsop", "Œuvre", "ᴭ", "straße", "İstanbul", "ﬁne", "\u200b"])
def test_unusual_letters_are_judged(api_client, role_headers, text):
    resp = _post(api_client, {"text": f"{text} is here", "subject": "u"}, role_headers("client"))
    assert resp.status_code == 201, resp.get_data()
    contract.assert_conforms("/v1/moderations", "POST", resp)


# --- 5. every query parameter of every operation, with values built to break parsers ----

# Digits that int() takes and the contract does not, positions past 64 bits, times past
# the ends of the calendar, NUL, an over-long value, and cursors holding what the service
# never issues. Sent to every query parameter of every operation, pages and exports
# included; the answer must be documented and never a 5xx.
HOSTILE_QUERY_VALUES = [
    "²",
    "١٢",
    "1_0",
    " 1",
    "+1",
    "1e3",
    "true",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "9" * 40,
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-02-30T00:00:00Z",
    "\x00",
    "x" * 257,
    "eyJvIjoiYXNjIiwiaSI6OTIyMzM3MjAzNjg1NDc3NTgwOH0",  # {"o":"asc","i":2**63}
    "eyJvIjoiYXNjIiwiaSI6dHJ1ZX0",  # {"o":"asc","i":true}
    "WyJcdWQ4MDAiLCJhcGxfeCJd",  # ["\ud800","apl_x"]
    "MSxsb2csYXNjLDkyMjMzNzIwMzY4NTQ3NzU4MDg",  # 1,log,asc,2**63
]
PATH_VALUES = {
    "policy_id": "civility",
    "decision_id": "dec_00000000000000000000000000",
    "subject": "sub_" + "0" * 32,
    "appeal_id": "apl_00000000000000000000000000",
    "version": "sha256:" + "0" * 64,
    "webhook_id": "whk_00000000000000000000000000",
}


def _query_operations():
    schema = schemathesis.openapi.from_path(contract.SPEC_PATH)
    for operation in _operations(schema):
        names = [p.name for p in operation.iter_parameters() if p.location.value == "query"]
        if names:
            yield operation.path, operation.method.upper(), names


QUERY_OPERATIONS = sorted(_query_operations())


@pytest.mark.parametrize(
    ("path", "method", "names"), QUERY_OPERATIONS, ids=[f"{m} {p}" for p, m, _ in QUERY_OPERATIONS]
)
def test_hostile_query_values_get_documented_answers(
    sqlite_url, instance_dir, clock, role_headers, path, method, names
):
    from service.http.app import create_app

    # Rate limits off: this sends several hundred requests from one address.
    app = create_app(
        {
            "database_url": sqlite_url,
            "instance_dir": instance_dir,
            "policy_dir": LIBRARY,
            "rate_limit_storage": "off",
        },
        clock=clock,
    )
    try:
        operation = schemathesis.openapi.from_path(contract.SPEC_PATH)[path][method]
        roles = contract.required_roles(contract.load_spec(), path, method)
        headers = role_headers(roles[0]) if roles else None
        spec_params = {
            p.name: p.definition.get("schema", {})
            for p in operation.iter_parameters()
            if p.location.value == "query"
        }
        path_parameters = {
            p.name: PATH_VALUES[p.name]
            for p in operation.iter_parameters()
            if p.location.value == "path"
        }
        for name in names:
            for value in HOSTILE_QUERY_VALUES:
                case = operation.Case(path_parameters=path_parameters, query={name: value})
                response = case.call_and_validate(app=app, headers=headers, checks=CHECKS)
                assert response.status_code < 500, (name, value)
                if spec_params[name].get("type") == "integer" and not value.isascii():
                    assert response.status_code == 400, (name, value, response.text)
            # Given twice, a parameter is refused rather than one copy winning.
            resp = app.test_client().open(
                case.formatted_path,
                method=method.upper(),
                query_string=[(name, "1"), (name, "2")],
                headers=headers,
            )
            assert resp.status_code == 400, (name, resp.get_data(as_text=True))
    finally:
        runtime_of(app).engine.dispose()
