"""Malformed queries, cursors and bodies through HTTP: every one is a 400 (problem+json on
the API, an error page on the pages) that changes nothing and logs nothing of the query,
and every cursor the service issues reads back as the position it names."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.clock import rfc3339
from service.domain.appeals import APPEALS_CURSOR
from service.domain.log_query import LOG_CURSOR, MAX_POSITION, decode_cursor, encode_cursor
from service.http.state import runtime_of
from tests import openapi_contract as contract
from tests.conftest import log_size, make_key

THREAT = "I will hurt you"
BEYOND_INT64 = str(1 << 63)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _other_unused_bits(cursor: str) -> str:
    """``cursor`` with the unused low bits of its last character changed: base64 that
    decodes to the same bytes."""
    assert len(cursor) % 4 in (2, 3), "no unused bits to change"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return cursor[:-1] + alphabet[alphabet.index(cursor[-1]) ^ 1]


# Cursors as the service used to issue them, holding what it never would: the exact
# bytes that answered 500 before, and the same positions in today's format.
HOSTILE_LOG_CURSORS = [
    _b64(json.dumps({"o": "asc", "i": 1 << 63}).encode()),
    _b64(json.dumps({"o": "desc", "i": True}).encode()),
    _b64(f"1,log,asc,{1 << 63}".encode()),
    _b64(f"1,log,desc,{MAX_POSITION + 1}".encode()),
    _b64(b"1,log,asc,-1"),
    _b64(b"1,log,asc,007"),
    _b64(b"1,log,sideways,1"),
    _b64(b"2,log,asc,1"),
    _b64(b"1,appeals,asc,1"),
    _b64("1,log,asc,١".encode()),
    encode_cursor("asc", 5) + "A",  # a valid cursor with a character more
    _other_unused_bits(encode_cursor("asc", 5)),  # the same bytes, spelt otherwise
    "=" * 8,
    "a b",
]
HOSTILE_APPEALS_CURSORS = [
    _b64(json.dumps(["\ud800", "apl_x"]).encode()),
    _b64(json.dumps(["2026-01-01T00:00:00.000Z", "\ud800"]).encode()),
    _b64(b"1,appeals,2026-01-01T00:00:00.000Z,apl_\xed\xa0\x80"),
    _b64(b"1,appeals,2026-13-01,apl_00000000000000000000000000"),
    encode_cursor("asc", 1),  # a log cursor is not an appeals cursor
]


def _post(client, auth, text: str, subject: str = "u"):
    resp = client.post("/v1/moderations", headers=auth, json={"text": text, "subject": subject})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _assert_api_400(resp, pointer: str) -> None:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == 400
    assert pointer in [e["pointer"] for e in body["errors"]], body


def _assert_page_400(resp) -> None:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == "text/html"
    assert "Bad Request" in resp.get_data(as_text=True)


LOG_READERS = [
    ("/v1/log/entries", {}, "api"),
    ("/v1/log/entries", {"Accept": "text/csv"}, "api"),
    ("/v1/log/entries", {"Accept": "application/x-ndjson"}, "api"),
    ("/log", {}, "page"),
    ("/log/export.csv", {}, "page"),
    ("/log/export.ndjson", {}, "page"),
]


@pytest.mark.parametrize(("path", "headers", "face"), LOG_READERS)
def test_hostile_log_cursors_are_400_everywhere(client, auth, path, headers, face, capsys):
    _post(client, auth, THREAT)
    capsys.readouterr()
    for cursor in HOSTILE_LOG_CURSORS:
        resp = client.get(path, query_string={"cursor": cursor}, headers=headers)
        if face == "api":
            _assert_api_400(resp, "#/query/cursor")
        else:
            _assert_page_400(resp)
    logged = capsys.readouterr().err
    assert "unhandled" not in logged
    # The request log names the route, never the query that failed.
    for cursor in HOSTILE_LOG_CURSORS:
        assert cursor not in logged


@pytest.mark.parametrize(("path", "headers", "face"), LOG_READERS)
def test_out_of_range_positions_and_times_are_400_everywhere(client, auth, path, headers, face):
    _post(client, auth, THREAT)
    for query, name in [
        ({"after": BEYOND_INT64}, "after"),
        ({"after": "-2"}, "after"),
        ({"after": "1_0"}, "after"),
        ({"limit": "²"}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-01:00"}, "until"),
        ({"since": "2026-02-30T00:00:00Z"}, "since"),
        ({"since": "2026-01-01"}, "since"),
        ({"kind": "decisions"}, "kind"),
        ({"action": "delete"}, "action"),
    ]:
        resp = client.get(path, query_string=query, headers=headers)
        if face == "api":
            _assert_api_400(resp, f"#/query/{name}")
        else:
            _assert_page_400(resp)


def test_a_parameter_given_twice_is_refused(client):
    resp = client.get("/v1/log/entries?limit=1&limit=1000")
    _assert_api_400(resp, "#/query/limit")
    resp = client.get("/v1/transparency?since=2026-01-01T00:00:00Z&since=2020-01-01T00:00:00Z")
    _assert_api_400(resp, "#/query/since")


def test_cursors_page_through_the_whole_log_both_ways(client, auth):
    for i in range(7):
        _post(client, auth, f"post number {i}", subject=f"s{i}")
    total = client.get("/v1/log/entries").get_json()["tree_size"]
    for order in ("asc", "desc"):
        seen, url = [], f"/v1/log/entries?limit=3&order={order}"
        while url:
            page = client.get(url).get_json()
            seen += [e["index"] for e in page["entries"]]
            url = page["next_cursor"] and f"/v1/log/entries?limit=3&cursor={page['next_cursor']}"
        expected = list(range(total))
        assert seen == (expected if order == "asc" else expected[::-1])


@pytest.fixture
def reviewer(database_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(database_url, 'forum-example', 'reviewer')}"}


def test_reviewer_and_client_lists_refuse_malformed_queries(client, auth, reviewer):
    for query in ("limit=²", "limit=0", "limit=99999999999999999999999", "status=closed"):
        _assert_api_400(
            client.get(f"/v1/appeals?{query}", headers=reviewer), f"#/query/{query.split('=')[0]}"
        )
        _assert_api_400(
            client.get(f"/v1/webhooks/deliveries?{query}", headers=auth),
            f"#/query/{query.split('=')[0]}",
        )
    for cursor in HOSTILE_APPEALS_CURSORS:
        resp = client.get("/v1/appeals", query_string={"cursor": cursor}, headers=reviewer)
        _assert_api_400(resp, "#/query/cursor")
        assert resp.get_json()["type"].endswith("/bad-cursor")


def test_appeals_cursor_pages_the_queue(app, client, auth, reviewer):
    for i in range(3):
        decision = _post(client, auth, THREAT, subject=f"author-{i}")
        resp = client.post(
            "/v1/appeals",
            headers=auth,
            json={"decision_id": decision["decision"]["id"], "statement": "a film quote"},
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
    seen, url = [], "/v1/appeals?limit=2"
    while url:
        page = client.get(url, headers=reviewer).get_json()
        seen += [a["id"] for a in page["appeals"]]
        url = page["next_cursor"] and f"/v1/appeals?limit=2&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 3


def test_an_export_answers_an_outage_before_its_first_byte(app, tmp_path):
    """Storage failing when an export starts is the documented 503, never a 200 that
    breaks off or a server's bare 500 page."""
    from service.storage.db import make_engine

    runtime = runtime_of(app)
    healthy = runtime.engine
    runtime.engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", timeout_seconds=0.1)
    try:
        client = app.test_client()
        resp = client.get("/v1/log/entries", headers={"Accept": "text/csv"})
        assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
        resp = client.get("/log/export.ndjson")
        assert resp.status_code == 503 and resp.mimetype == "text/html"
    finally:
        runtime.engine.dispose()
        runtime.engine = healthy


# --- cursors as properties ------------------------------------------------------------

positions = st.integers(min_value=0, max_value=MAX_POSITION)
orders = st.sampled_from(["asc", "desc"])


@given(orders, positions)
def test_log_cursors_round_trip(order, position):
    cursor = encode_cursor(order, position)
    assert decode_cursor(cursor) == (order, position)
    assert len(cursor) <= LOG_CURSOR.MAX_CURSOR


@given(
    st.datetimes(min_value=datetime(1000, 1, 1)),
    st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26),
)
def test_appeals_cursors_round_trip(moment, ulid):
    position = (rfc3339(moment.replace(tzinfo=UTC)), "apl_" + ulid)
    assert APPEALS_CURSOR.decode(APPEALS_CURSOR.encode(*position)) == position


# Strings near the format as well as any at all: base64url of arbitrary bytes, of
# near-miss plaintexts, and raw text.
near_misses = st.builds(
    lambda version, scope, order, number: _b64(f"{version},{scope},{order},{number}".encode()),
    st.sampled_from(["1", "0", "2", ""]),
    st.sampled_from(["log", "appeals", "LOG"]),
    st.sampled_from(["asc", "desc", "", "ASC"]),
    st.one_of(st.integers(), st.text(max_size=24)),
)
any_cursor = st.one_of(st.text(max_size=300), st.binary(max_size=200).map(_b64), near_misses)


@given(any_cursor)
def test_any_string_is_a_log_position_or_refused(text):
    try:
        order, position = decode_cursor(text)
    except ValueError:
        return
    assert order in ("asc", "desc") and 0 <= position <= MAX_POSITION
    assert encode_cursor(order, position) == text


@given(any_cursor)
def test_any_string_is_an_appeals_position_or_refused(text):
    try:
        decide_by, appeal_id = APPEALS_CURSOR.decode(text)
    except ValueError:
        return
    assert APPEALS_CURSOR.encode(decide_by, appeal_id) == text


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cursor=any_cursor)
def test_any_cursor_through_http_is_a_page_or_a_400(client, cursor):
    for path in ("/v1/log/entries", "/log"):
        resp = client.get(path, query_string={"cursor": cursor})
        assert resp.status_code in (200, 400), (cursor, resp.get_data(as_text=True))


# --- JSON bodies ----------------------------------------------------------------------


def _body_operations():
    spec = contract.load_spec()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in contract.HTTP_METHODS or "requestBody" not in operation:
                continue
            if "application/json" in operation["requestBody"]["content"]:
                yield path, method.upper()


# Routes that emulate another API answer in that API's error envelope.
EMULATED = {"/v1alpha1/comments:analyze", "/openai/v1/moderations"}


def _example_body(path: str, method: str) -> dict:
    media = contract.load_spec()["paths"][path][method.lower()]["requestBody"]["content"]
    media = media["application/json"]
    if "example" in media:
        return media["example"]
    return next(iter(media["examples"].values()))["value"]


@pytest.mark.parametrize(("path", "method"), sorted(_body_operations()))
def test_a_repeated_json_key_is_refused_on_every_body(app, client, database_url, path, method):
    roles = contract.required_roles(contract.load_spec(), path, method)
    headers = {"Content-Type": "application/json"}
    if roles:
        headers["Authorization"] = f"Bearer {make_key(database_url, 'forum-example', roles[0])}"
    url = path.replace("{appeal_id}", "apl_" + "0" * 26)
    example = _example_body(path, method)
    first = next(iter(example))
    encoded = json.dumps(example)
    # The first key again, last: a reader that keeps the last copy sees another value.
    body = encoded[:-1] + f", {json.dumps(first)}: {json.dumps(example[first])}" + "}"
    size = log_size(app)
    resp = client.open(url, method=method, data=body, headers=headers)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    if path in EMULATED:
        assert repr(first) in resp.get_json()["error"]["message"]
        assert log_size(app) == size
        return
    problem = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert repr(first) in problem["detail"]
    assert problem["errors"] == [
        {"pointer": f"#/{first}", "detail": "This key appears more than once in its object."}
    ]
    assert log_size(app) == size


def test_a_repeated_key_deep_in_a_batch_is_named(app, client, auth):
    body = '{"items": [{"text": "hi", "subject": "u"}, {"text": "a", "subject": "v", "text": "b"}]}'
    size = log_size(app)
    resp = client.post("/v1/moderations", data=body, headers=auth, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["pointer"] == "#/items/1/text"
    assert log_size(app) == size
