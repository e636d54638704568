"""The appeal form behind a decision's ``appeal.url``, through the Flask test client on
SQLite and PostgreSQL: what the page shows, filing from it, every refusal as a page that
keeps what the author wrote, and what a hostile sender gets."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from service.http.app import create_app
from service.http.state import runtime_of
from tests import openapi_contract as contract
from tests.conftest import LIBRARY, log_size

THREAT = "I will hurt you"
KIND = "Have a lovely day, neighbour"
STATEMENT = "I was quoting a line from a film."


class Fields(HTMLParser):
    """The form controls of a page by name, with their values and attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.controls: dict[str, dict] = {}
        self.labels: set[str] = set()
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label" and attrs.get("for"):
            self.labels.add(attrs["for"])
        if tag in ("input", "textarea") and attrs.get("name"):
            self.controls[attrs["name"]] = {**attrs, "tag": tag, "text": ""}
            self._in = attrs["name"] if tag == "textarea" else None

    def handle_data(self, data):
        if self._in:
            self.controls[self._in]["text"] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._in = None


def moderate(client, auth, text=THREAT, subject="author-1") -> dict:
    resp = client.post("/v1/moderations", json={"text": text, "subject": subject}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def post_form(client, fields: dict, **kwargs):
    return client.post("/appeals/new", data=fields, **kwargs)


def conforms(resp, method="POST"):
    contract.assert_conforms("/appeals/new", method, resp)
    return resp


def test_the_offered_link_opens_a_form_without_the_token(client, auth):
    result = moderate(client, auth)
    offer = result["appeal"]
    assert offer["token"] not in offer["url"]
    page = conforms(client.get(path_of(offer["url"])), "GET")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "<h1>Appeal this decision</h1>" in html
    assert result["decision"]["notice"] in html and "Removed" in html
    form = Fields(html)
    assert form.controls["decision_id"]["value"] == result["decision"]["id"]
    assert form.controls["decision_id"]["type"] == "hidden"
    assert form.controls["token"].get("value", "") == ""
    assert form.controls["statement"]["tag"] == "textarea"
    assert form.controls["statement"]["maxlength"] == "5000"
    # Every visible control has a label.
    visible = [c for c in form.controls.values() if c.get("type") != "hidden"]
    assert all(c["id"] in form.labels for c in visible), form.controls


def test_filing_from_the_form_lands_in_the_log_and_shows_the_appeal(client, auth, app):
    result = moderate(client, auth)
    decision_id = result["decision"]["id"]
    before = log_size(app)
    filed = conforms(
        post_form(
            client,
            {
                "decision_id": decision_id,
                "token": result["appeal"]["token"],
                "statement": STATEMENT,
            },
        )
    )
    assert filed.status_code == 303, filed.get_data(as_text=True)
    appeal_id = filed.headers["Location"].rsplit("/", 1)[1]
    assert filed.headers["Location"] == f"/appeals/{appeal_id}"
    assert log_size(app) == before + 1
    view = client.get(f"/v1/appeals/{appeal_id}").get_json()
    assert view["decision_id"] == decision_id and view["filed_by"] == "author"
    entries = client.get("/v1/log/entries?kind=appeal_filed").get_json()["entries"]
    index = next(e["index"] for e in entries if e["entry"]["id"] == appeal_id)
    # The appeal's page lists its log entry with its index; the statement stays private.
    page = client.get(filed.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "In the log" in html
    assert f'<td class="num">{index}</td>' in html and "Appeal filed" in html
    assert STATEMENT not in html
    # The decision's form now lists the appeal already filed.
    again = client.get(f"/appeals/new?decision={decision_id}").get_data(as_text=True)
    assert f'href="/appeals/{appeal_id}"' in again


def test_refusals_are_pages_that_keep_the_statement(client, auth, app, clock):
    result = moderate(client, auth)
    decision_id, token = result["decision"]["id"], result["appeal"]["token"]
    other_token = moderate(client, auth, subject="someone-else")["appeal"]["token"]
    statement = 'It was a quote <script>alert("x")</script>'

    def refused(fields: dict, status: int) -> tuple[str, Fields]:
        before = log_size(app)
        resp = conforms(post_form(client, fields))
        assert resp.status_code == status, resp.get_data(as_text=True)
        assert resp.mimetype == "text/html" and resp.headers["Cache-Control"] == "no-store"
        html = resp.get_data(as_text=True)
        assert "Your appeal was not filed" in html and "<script>alert" not in html
        assert log_size(app) == before
        return html, Fields(html)

    # A wrong token (another decision's): said so, the token cleared, the statement kept.
    html, form = refused(
        {"decision_id": decision_id, "token": other_token, "statement": statement}, 403
    )
    assert "does not belong to this decision" in html
    assert form.controls["token"].get("value", "") == ""
    assert form.controls["token"]["aria-invalid"] == "true"
    assert form.controls["statement"]["text"] == statement
    # No token, an empty statement, an overlong one: 422 naming the field.
    html, form = refused({"decision_id": decision_id, "token": " ", "statement": statement}, 422)
    assert "Paste the appeal token" in html and form.controls["token"]["aria-invalid"] == "true"
    html, form = refused({"decision_id": decision_id, "token": token, "statement": ""}, 422)
    assert form.controls["statement"]["aria-invalid"] == "true"
    assert form.controls["token"]["value"] == token  # not the reason: kept
    refused({"decision_id": decision_id, "token": token, "statement": "x" * 5001}, 422)
    # Already appealed: 409 with the open appeal's id.
    first = post_form(client, {"decision_id": decision_id, "token": token, "statement": "One."})
    assert first.status_code == 303
    appeal_id = first.headers["Location"].rsplit("/", 1)[1]
    html, _ = refused({"decision_id": decision_id, "token": token, "statement": statement}, 409)
    assert f"Appeal {appeal_id} of this decision is still open" in html
    # The window closed: 409 saying when.
    late = moderate(client, auth, subject="late-author")
    clock.advance(days=186)
    html, _ = refused(
        {
            "decision_id": late["decision"]["id"],
            "token": late["appeal"]["token"],
            "statement": statement,
        },
        409,
    )
    assert "appeal window of this decision closed" in html


def test_an_allow_decision_offers_no_form(client, auth):
    decision_id = moderate(client, auth, text=KIND)["decision"]["id"]
    page = conforms(client.get(f"/appeals/new?decision={decision_id}"), "GET")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "nothing to appeal" in html
    assert "<form" not in html


def test_malformed_requests_get_html_errors_and_change_nothing(client, auth, app):
    result = moderate(client, auth)
    decision_id, token = result["decision"]["id"], result["appeal"]["token"]
    before = log_size(app)
    for path, status in (
        ("/appeals/new", 400),
        ("/appeals/new?decision=dec_nope", 400),
        ("/appeals/new?decision=" + decision_id + "%0A", 400),
        ("/appeals/new?decision=dec_" + "0" * 26, 404),
    ):
        resp = conforms(client.get(path), "GET")
        assert resp.status_code == status and resp.mimetype == "text/html", path
    fields = {"decision_id": decision_id, "token": token, "statement": STATEMENT}
    cases = [
        # JSON is the API's; the page takes its form's encoding only.
        (lambda: client.post("/appeals/new", json=fields), 415),
        # Two tokens: which one counts would be a guess.
        (
            lambda: client.post(
                "/appeals/new",
                data=f"decision_id={decision_id}&token=a&token={token}&statement=x",
                content_type="application/x-www-form-urlencoded",
            ),
            400,
        ),
        (lambda: post_form(client, {**fields, "decision_id": "dec_nope"}), 422),
        (lambda: post_form(client, {"token": token, "statement": STATEMENT}), 422),
        (lambda: post_form(client, {**fields, "decision_id": "dec_" + "0" * 26}), 404),
        (lambda: post_form(client, {**fields, "extra": "1"}), 422),
        (lambda: post_form(client, {**fields, "statement": "a\x00b"}), 422),
        (lambda: post_form(client, {**fields, "statement": "x" * 300_000}), 413),
    ]
    for send, status in cases:
        resp = conforms(send())
        assert resp.status_code == status, (status, resp.get_data(as_text=True)[:500])
        assert resp.mimetype == "text/html"
        assert "Traceback" not in resp.get_data(as_text=True)
    assert log_size(app) == before


@pytest.fixture
def limited_client(database_url, instance_dir, clock):
    app = create_app(
        {
            "database_url": database_url,
            "instance_dir": instance_dir,
            "policy_dir": LIBRARY,
            "rate_limit_appeal_failures_per_ip": "2 per hour",
        },
        clock=clock,
    )
    yield app.test_client()
    runtime_of(app).engine.dispose()


def test_the_form_shares_the_apis_budget_of_refused_attempts(limited_client, auth):
    client = limited_client
    result = moderate(client, auth)
    decision_id, token = result["decision"]["id"], result["appeal"]["token"]
    stranger = {"REMOTE_ADDR": "203.0.113.66"}
    wrong = {"decision_id": decision_id, "token": "guess", "statement": STATEMENT}
    assert post_form(client, wrong, environ_base=stranger).status_code == 403
    assert client.post("/v1/appeals", json=wrong, environ_base=stranger).status_code == 403
    limited = conforms(post_form(client, wrong, environ_base=stranger))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "refused appeal tokens from your address" in limited.get_data(as_text=True)
    # The author, from the stranger's own address, still files.
    filed = post_form(
        client,
        {"decision_id": decision_id, "token": token, "statement": STATEMENT},
        environ_base=stranger,
    )
    assert filed.status_code == 303, filed.get_data(as_text=True)
