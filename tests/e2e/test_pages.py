"""The public web pages in a real Chromium against a real gunicorn.

A person with a browser and no account opens every page, filters the log, follows a
decision to its proof and sees it verified; a tampered entry is reported in red; no
page shows text the policy keeps private; planted markup never runs; every response
carries the security headers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
import requests
from sqlalchemy import event

from service.http.state import runtime_of
from tests.e2e.conftest import MARKER, XSS_APP, XSS_ATTR, XSS_SCRIPT, XSS_STRINGS, watched_page

VERIFIED = re.compile(
    r"^Verified: entry (\d+) is in the log of size (\d+), checkpoint signed by (\S+)$"
)
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def page_paths(site) -> dict[str, str]:
    """Every page of the site, by screenshot name."""
    d = site.decisions
    policy = requests.get(site.url + "/v1/policies/civility", timeout=10).json()
    versions = [v["version"] for v in policy["versions"]]
    assert len(versions) == 2, versions
    return {
        "home": "/",
        "log": "/log",
        "log-filtered": "/log?kind=decision&rule=threat&app=forum",
        "decision": f"/decisions/{d['threat3']['id']}",
        "decision-appealed": f"/decisions/{d['threat0']['id']}",
        "decision-erased": f"/decisions/{d['erased']['id']}",
        "decision-other-app": f"/decisions/{d['kind']['id']}",
        "policies": "/policies",
        "policy": "/policies/civility",
        "policy-diff": f"/policies/civility?from={versions[0]}&to={versions[1]}",
        "subject": f"/subjects/{d['threat3']['subject']}",
        "subject-other": f"/subjects/{d['insult']['subject']}",
        "appeal-resolved": f"/appeals/{site.appeals['overturned']}",
        "appeal-open": f"/appeals/{site.appeals['open']}",
        "appeal-new": f"/appeals/new?decision={d['threat3']['id']}",
        "appeal-new-appealed": f"/appeals/new?decision={d['insult']['id']}",
        "transparency": "/transparency",
    }


def _assert_accessible_basics(page) -> None:
    p = page.page
    assert p.locator("html").get_attribute("lang") == "en"
    assert p.locator("main").count() == 1
    assert p.locator("header nav").count() == 1
    assert p.locator("h1").count() == 1
    assert p.locator("meta[name=viewport]").count() == 1
    unlabelled = p.evaluate("""() => [...document.querySelectorAll('input, select')]
        .filter(el => el.type !== 'hidden' && el.labels.length === 0).map(el => el.name)""")
    assert unlabelled == []
    # Only our own module script, never an inline one.
    scripts = p.evaluate("() => [...document.scripts].map(s => s.src)")
    assert all(src.endswith("/static/verify.js") for src in scripts), scripts


def test_every_page_opens_in_chromium(browser, site):
    for name, path in page_paths(site).items():
        for view, args in (("", {}), ("-phone", PHONE)):
            for page in watched_page(browser, site.url, **args):
                page.goto(path)
                if name.startswith("decision"):
                    page.page.wait_for_selector("#proof-status.ok, #proof-status.fail")
                _assert_accessible_basics(page)
                if view:
                    # Readable on a phone: nothing wider than the screen but the tables,
                    # which scroll inside their own region.
                    overflow = page.page.evaluate(
                        "() => document.documentElement.scrollWidth - window.innerWidth"
                    )
                    assert overflow <= 1, (path, overflow)
                page.screenshot(name + view)
                assert page.dialogs == [], (path, page.dialogs)
                assert page.errors == [], (path, page.errors)
                assert page.foreign == [], (path, page.foreign)


def test_home_names_apps_checkpoint_and_key(page, site):
    page.goto("/")
    text = page.page.inner_text("main")
    assert "forum" in text and XSS_APP in text
    checkpoint = requests.get(site.url + "/v1/log/checkpoint", timeout=10).text
    origin, size, _ = checkpoint.split("\n", 2)
    entries = page.page.locator("xpath=//dt[.='Entries']/following-sibling::dd[1]")
    assert entries.inner_text() == size
    assert origin in text
    key = requests.get(site.url + "/v1/log/key", timeout=10).text.strip()
    assert key in text
    assert page.page.locator("a[href='/v1/log/key']").count() >= 1


def test_log_filters_page_and_export(page, site):
    page.goto("/log")
    page.page.get_by_label("Kind").select_option("decision")
    page.page.get_by_label("Rule").fill("threat")
    page.page.get_by_label("App", exact=True).fill("forum")
    page.page.get_by_role("button", name="Show entries").click()
    page.page.wait_for_url(re.compile(r"/log\?.*rule=threat"))
    rows = page.page.locator("main table tbody tr")
    assert rows.count() == 5  # four threats and the erased one, all by forum
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert "threat" in cells[4] and cells[3] == "forum" and cells[2] == "Decision"
    indexes = [int(rows.nth(i).locator("td").first.inner_text()) for i in range(rows.count())]
    assert indexes == sorted(indexes, reverse=True)

    # The export links carry the same filters to the same query code as the API.
    # Exact names: a decision id is random base32 and may well contain "CSV".
    csv_href = page.page.get_by_role("link", name="CSV", exact=True).get_attribute("href")
    assert "rule=threat" in csv_href and "kind=decision" in csv_href
    exported = list(csv.DictReader(io.StringIO(requests.get(site.url + csv_href, timeout=10).text)))
    assert sorted(int(r["index"]) for r in exported) == sorted(indexes)
    api = requests.get(
        site.url + "/v1/log/entries",
        timeout=10,
        params={"kind": "decision", "rule": "threat", "app": "forum"},
    ).json()
    assert sorted(e["index"] for e in api["entries"]) == sorted(indexes)
    ndjson_href = page.page.get_by_role("link", name="NDJSON", exact=True).get_attribute("href")
    lines = requests.get(site.url + ndjson_href, timeout=10).text.splitlines()
    assert sorted(json.loads(line)["index"] for line in lines) == sorted(indexes)

    # Cursor paging, newest first, reaches every entry exactly once.
    page.goto("/log?limit=3")
    seen = []
    while True:
        cells = page.page.locator("main table tbody tr td:first-child").all_inner_texts()
        seen.extend(int(c) for c in cells)
        older = page.page.get_by_role("link", name="Older entries", exact=True)
        if older.count() == 0:
            break
        older.click()
        page.page.wait_for_load_state()
    size = requests.get(site.url + "/v1/log/entries?limit=1", timeout=10).json()["tree_size"]
    assert seen == list(range(size - 1, -1, -1))


def test_bad_filters_get_a_friendly_400(page):
    for path, field in (
        ("/log?since=yesterday", "since"),
        ("/log?limit=0", "limit"),
        ("/log?cursor=nonsense", "cursor"),
        ("/transparency?until=soon", "until"),
        ("/policies/civility?from=v1&to=v2", "from"),
    ):
        page.goto(path, status=400)
        text = page.page.inner_text("main")
        assert "Bad Request" in text and field in text, (path, text)
        assert "Traceback" not in page.page.content()
    page.goto("/decisions/dec_00000000000000000000000000", status=404)
    page.goto("/subjects/alice", status=404)
    page.goto("/policies/no-such-policy", status=404)
    page.goto("/appeals/apl_00000000000000000000000000", status=404)


def test_decision_links_to_a_proof_that_verifies(page, site):
    page.goto("/log?kind=decision&rule=threat")
    page.page.locator("main table tbody tr").first.locator("td").last.get_by_role(
        "link"
    ).first.click()
    page.page.wait_for_url(re.compile(r"/decisions/dec_"))
    status = page.page.locator("#proof-status.ok")
    status.wait_for()
    match = VERIFIED.match(status.inner_text())
    assert match, status.inner_text()
    index, size, signer = int(match[1]), int(match[2]), match[3]
    decision_id = page.page.url.rsplit("/", 1)[1]
    view = requests.get(site.url + f"/v1/decisions/{decision_id}", timeout=10).json()
    assert (index, size) == (view["receipt"]["index"], view["receipt"]["tree_size"])
    key = requests.get(site.url + "/v1/log/key", timeout=10).text.splitlines()[0]
    assert signer == "+".join(key.split("+")[:2])
    assert page.page.locator("#proof-steps li.ok").count() == 4
    main = page.page.inner_text("main")
    assert "Threats of violence" in main  # the rule's plain-language title
    assert view["entry"]["notice"] in main
    page.screenshot("decision-verified")


def test_related_entries_link_to_the_appeal(page, site):
    d = site.decisions
    page.goto(f"/decisions/{d['threat0']['id']}")
    related = page.page.locator("section[aria-labelledby=related-heading]")
    assert "Appeal filed" in related.inner_text() and "Reversal" in related.inner_text()
    related.get_by_role("link", name=site.appeals["overturned"]).click()
    page.page.wait_for_url(re.compile(r"/appeals/apl_"))
    text = page.page.inner_text("main")
    assert "overturned" in text and "Read in context this was a quote" in text
    page.goto(f"/decisions/{d['erased']['id']}")
    assert "Content erased" in page.page.inner_text("section[aria-labelledby=related-heading]")
    page.page.locator("#proof-status.ok").wait_for()  # an erasure leaves the proof intact


def test_policy_page_shows_rules_history_and_diff(page):
    page.goto("/policies")
    page.page.get_by_role("link", name="Civility standard").click()
    page.page.wait_for_url(re.compile(r"/policies/civility$"))
    text = page.page.inner_text("main")
    for words in (
        "Threats of violence",
        "Repeated breaches",
        "Appeals",
        "Version history",
        "expires after 90 days",
        "6 months",
    ):
        assert words in text, words
    page.page.get_by_role("link", name="changes from the version before").click()
    page.page.wait_for_url(re.compile(r"from=sha256"))
    # The two versions differ in their title line only (see publish_earlier_policy_version).
    removed = [
        line.rsplit("\n", 1)[-1] for line in page.page.locator("pre.diff .del").all_inner_texts()
    ]
    added = [
        line.rsplit("\n", 1)[-1] for line in page.page.locator("pre.diff .add").all_inner_texts()
    ]
    assert len(removed) == len(added) == 1, (removed, added)
    assert {removed[0][1:], added[0][1:]} == {
        "title: Civility standard",
        "title: Civility standard (draft)",
    }


def test_subject_page_shows_standing(page, site):
    subject = site.decisions["threat3"]["subject"]
    page.goto(f"/subjects/{subject}")
    standing = requests.get(site.url + f"/v1/subjects/{subject}", timeout=10).json()
    assert standing["active_restrictions"] and standing["active_strikes"]
    restrictions = page.page.inner_text("section[aria-labelledby=restrictions-heading]")
    assert standing["active_restrictions"][0]["ends_at"][:10] in restrictions
    history = page.page.locator("section[aria-labelledby=history-heading] tbody tr")
    assert history.count() == len(standing["entries"])


def test_transparency_page_draws_charts(page, site):
    page.goto("/transparency")
    charts = page.page.locator("svg.chart[role=img]")
    assert charts.count() == 3
    assert page.page.locator("svg.chart rect.a-remove").count() >= 1
    assert "100% (1 of 1)" in page.page.inner_text("main")  # threat: one appeal, overturned
    twin = page.page.locator("footer a[href^='/v1/transparency']")
    report = requests.get(site.url + twin.get_attribute("href"), timeout=10).json()
    assert f"{report['decisions']['total']} decisions" in page.page.inner_text("main")
    page.screenshot("transparency-report")


def test_no_page_shows_private_text(browser, site):
    """The policy's public_excerpt is none: the posted texts (and appeal statements),
    which all carry MARKER, must appear on no page, before or after scripts run."""
    paths = [
        *page_paths(site).values(),
        "/log/export.csv",
        "/log/export.ndjson",
        "/log?kind=appeal_filed",
    ]
    for path in paths:
        html = requests.get(site.url + path, timeout=10).text
        assert MARKER not in html, path
    for page in watched_page(browser, site.url):
        for path in page_paths(site).values():
            page.goto(path)
            if "/decisions/" in path:
                page.page.wait_for_selector("#proof-status.ok")
            assert MARKER not in page.page.content(), path


def test_planted_markup_is_escaped_and_never_runs(browser, site):
    d = site.decisions
    paths = [
        *page_paths(site).values(),
        f"/log?app={requests.utils.quote(XSS_APP)}",
        f"/log?rule={requests.utils.quote(XSS_ATTR)}",
        f"/log?kind={requests.utils.quote(XSS_SCRIPT)}&action={requests.utils.quote(XSS_ATTR)}",
        f"/log?subject={requests.utils.quote(XSS_SCRIPT)}&policy={requests.utils.quote(XSS_ATTR)}",
        f"/log?since={requests.utils.quote(XSS_ATTR)}",
        f"/transparency?since={requests.utils.quote(XSS_SCRIPT)}",
        f"/decisions/{requests.utils.quote(XSS_SCRIPT)}",
        f"/subjects/{requests.utils.quote(XSS_ATTR)}",
        f"/policies/civility?from={requests.utils.quote(XSS_ATTR)}",
        f"/decisions/{d['kind']['id']}",
        f"/appeals/new?decision={d['kind']['id']}",
        f"/appeals/new?decision={requests.utils.quote(XSS_SCRIPT)}",
    ]
    planted = 0
    for path in paths:
        resp = requests.get(site.url + path, timeout=10)
        assert resp.status_code < 500, path
        for bad in XSS_STRINGS:
            assert bad not in resp.text, (path, bad)
        planted += "&lt;script&gt;" in resp.text or "&#34;&gt;&lt;img" in resp.text
    assert planted >= 5  # the strings did reach pages, escaped
    for page in watched_page(browser, site.url):
        for path in paths:
            page.page.goto(site.url + path)
            page.page.wait_for_load_state("load")
            assert page.page.locator("img").count() == 0, path
        assert page.dialogs == []


def test_security_headers_on_every_response(site):
    paths = [
        *page_paths(site).values(),
        "/log?since=bad",
        "/decisions/nope",
        "/static/verify.js",
        "/static/style.css",
        "/log/export.csv",
    ]
    for path in paths:
        resp = requests.get(site.url + path, timeout=10)
        csp = resp.headers["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert directives["script-src"] == ["'self'"], csp
        assert directives["object-src"] == ["'none'"], csp
        assert directives["frame-ancestors"] == ["'none'"], csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] in (
            "no-referrer",
            "strict-origin",
            "strict-origin-when-cross-origin",
        )
        if resp.headers["Content-Type"].startswith("text/html"):
            assert _inline_code(resp.text) == [], path


class _InlineFinder(HTMLParser):
    """Collects what a strict CSP would have to block: inline scripts, event handler
    attributes, style attributes and elements, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{name}= on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: URL on <{tag}>")


def _inline_code(html: str) -> list[str]:
    finder = _InlineFinder()
    finder.feed(html)
    return finder.found


def test_tampered_entry_fails_verification_in_the_browser(browser, fresh_site):
    site = fresh_site
    decision = site.moderate("forum", "I will hurt you", "carol", "post-1")
    site.moderate("forum", "have a nice day", "dave")
    for page in watched_page(browser, site.url):
        page.goto(f"/decisions/{decision['id']}")
        page.page.locator("#proof-status.ok").wait_for()

        # Someone with write access to the database rewrites one byte of the entry.
        with_body = requests.get(site.url + f"/v1/decisions/{decision['id']}", timeout=10)
        assert "removed" in with_body.json()["entry"]["notice"]
        site.sql("DROP TRIGGER log_entries_no_update")
        site.sql(
            "UPDATE log_entries SET body = replace(body, 'was removed', 'was rem0ved') "
            "WHERE entry_id = ?",
            params=(decision["id"],),
        )

        page.page.reload()
        status = page.page.locator("#proof-status.fail")
        status.wait_for()
        assert status.inner_text().startswith("Not verified: the entry hash failed")
        assert "changed after it was logged" in status.inner_text()
        assert page.page.locator("li[data-step=leaf].fail").count() == 1
        assert page.page.locator("li[data-step=signature].ok").count() == 1
        assert page.page.locator("#proof-status.ok").count() == 0
        page.screenshot("decision-tampered")


def test_log_page_reads_by_keyset_without_offset_or_count(sqlite_url, instance_dir):
    """/log pages through a big log by index, never OFFSET, never COUNT(*) of the log."""
    from service.http.app import create_app
    from tests.conftest import LIBRARY, make_key

    app = create_app(
        {"database_url": sqlite_url, "instance_dir": instance_dir, "policy_dir": LIBRARY}
    )
    engine = runtime_of(app).engine
    client = app.test_client()
    auth = {"Authorization": f"Bearer {make_key(sqlite_url, 'forum', 'client')}"}
    items = [{"text": f"post {i}", "subject": f"u{i % 3}"} for i in range(12)]
    assert client.post("/v1/moderations", json={"items": items}, headers=auth).status_code == 201

    statements: list[tuple[str, object]] = []

    def record(conn, cursor, sql, params, *args) -> None:
        statements.append((sql.lower(), params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        first = client.get("/log?limit=5&kind=decision")
        older = re.search(r'href="(/log\?[^"]*cursor=[^"]+)"', first.get_data(as_text=True))
        assert older, "no Older link"
        second = client.get(older[1].replace("&amp;", "&"))
        assert second.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
        engine.dispose()
    joined = "\n".join(sql for sql, _ in statements)
    assert "count(" not in joined, joined
    # SQLAlchemy's SQLite dialect spells every LIMIT as "LIMIT ? OFFSET ?": the offset
    # bound must be 0, and the second page must be found by "idx < cursor".
    for sql, params in statements:
        if " offset " in sql:
            assert params[-1] == 0, (sql, params)
    assert any("idx < ?" in sql for sql, _ in statements), joined


@pytest.mark.parametrize("path", ["/static/verify.js", "/static/style.css"])
def test_static_files_are_served_with_their_types(site, path):
    resp = requests.get(site.url + path, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].split(";")[0] in ("text/javascript", "text/css")


def test_excerpt_highlighting_and_diff_are_plain_data():
    """Spans mark only the public excerpt; both helpers return text for Jinja to escape."""
    from service.http.pages.views import excerpt_segments, policy_diff

    assert excerpt_segments("you ███ idiot", [[4, 7], [50, 60]]) == [
        ("you ", False),
        ("███", True),
        (" idiot", False),
    ]
    assert excerpt_segments("", [[0, 3]]) == []
    lines = policy_diff(b"a: 1\nb: <x>\n", b"a: 1\nb: <y>\n", "old", "new")
    assert [(line.kind, line.text) for line in lines if line.kind in ("add", "del")] == [
        ("del", "-b: <x>"),
        ("add", "+b: <y>"),
    ]
