"""An author appeals from the link in a real moderation answer, in Chromium against a
real gunicorn: the exact ``appeal.url`` opens the form, a wrong token is refused on the
page, the right one files, and the appeal is in the public log. The token never
appears in a URL the browser visits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import watched_page
from tests.e2e.servers import Gunicorn, new_instance

STATEMENT = "I was quoting a line from a film, not threatening anyone."


@pytest.fixture
def server(tmp_path: Path):
    env, key = new_instance(tmp_path / "instance", f"sqlite:///{tmp_path / 'fw.db'}")
    gunicorn = Gunicorn(env, tmp_path / "server.log")
    gunicorn.start()
    try:
        yield gunicorn, key
    finally:
        gunicorn.stop()


def test_the_author_appeals_from_the_link_in_the_answer(browser, server):
    gunicorn, key = server
    base = gunicorn.url
    answer = requests.post(
        base + "/v1/moderations",
        json={"text": "I will hurt you", "subject": "author-7", "content_ref": "post-7"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    decision, offer = answer.json()["decision"], answer.json()["appeal"]
    assert offer["url"] == f"{base}/appeals/new?decision={decision['id']}"
    token = offer["token"]

    visited: list[str] = []
    for page in watched_page(browser, base):
        page.page.on("request", lambda r: visited.append(r.url))
        opened = page.page.goto(offer["url"])
        assert opened is not None and opened.status == 200
        p = page.page
        assert p.get_by_role("heading", level=1).inner_text() == "Appeal this decision"
        assert decision["notice"] in p.inner_text("main")
        page.screenshot("appeal-form")

        # A wrong token: refused on the page, which keeps the statement and clears the token.
        p.get_by_label("Appeal token").fill("not-my-token")
        p.get_by_label("Why the decision is wrong").fill(STATEMENT)
        with p.expect_navigation() as refused:
            p.get_by_role("button", name="File the appeal").click()
        assert refused.value is not None and refused.value.status == 403
        alert = p.get_by_role("alert")
        assert "Your appeal was not filed" in alert.inner_text()
        assert "does not belong to this decision" in alert.inner_text()
        assert p.get_by_label("Why the decision is wrong").input_value() == STATEMENT
        assert p.get_by_label("Appeal token").input_value() == ""
        assert p.get_by_label("Appeal token").get_attribute("aria-invalid") == "true"
        page.screenshot("appeal-form-refused")

        # The right token files it, and the browser lands on the appeal's page.
        p.get_by_label("Appeal token").fill(token)
        p.get_by_role("button", name="File the appeal").click()
        p.wait_for_url(re.compile(r"/appeals/apl_[0-9A-HJKMNP-TV-Z]{26}$"))
        appeal_id = p.url.rsplit("/", 1)[1]
        assert p.get_by_role("heading", level=1).inner_text() == "Appeal: open"
        log_section = p.locator("section[aria-labelledby=log-heading]")
        row = log_section.locator("tbody tr").first
        cells = row.locator("td").all_inner_texts()
        page.screenshot("appeal-filed")

        # The appeal is in the public log, at the index the page shows, about the decision.
        entries = requests.get(
            base + "/v1/log/entries", params={"kind": "appeal_filed"}, timeout=10
        ).json()["entries"]
        logged = [e for e in entries if e["entry"]["id"] == appeal_id]
        assert len(logged) == 1
        entry = logged[0]
        assert entry["entry"]["ref"] == decision["id"] and entry["entry"]["filed_by"] == "author"
        assert cells[0] == str(entry["index"]) and cells[2] == "Appeal filed"
        assert appeal_id in cells[-1] and decision["id"] in cells[-1]
        # The statement is private: neither on the public page nor in the log.
        assert STATEMENT not in p.content()
        assert STATEMENT not in requests.get(base + "/v1/log/entries", timeout=10).text

        # The token went only in the POST bodies: no URL the browser asked for holds it.
        assert visited and not [u for u in visited if token in u]
        # Chromium reports the refused form's 403 answer on the console; nothing else.
        assert page.errors == [
            "Failed to load resource: the server responded with a status of 403 (FORBIDDEN)"
        ]
        assert page.dialogs == [] and page.foreign == []
    assert token not in gunicorn.output()
