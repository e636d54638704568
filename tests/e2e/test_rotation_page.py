"""The decision page verifies a checkpoint signed by two keys during a rotation's overlap."""

from __future__ import annotations

import re

import requests

from tests.e2e.conftest import watched_page

VERIFIED = re.compile(
    r"^Verified: entry \d+ is in the log of size \d+, checkpoint signed by "
    r"(\S+) and (\S+)$"
)


def test_a_rotated_log_verifies_in_the_browser(browser, fresh_site):
    before = fresh_site.moderate("forum", "I will hurt you", "alice")
    new_key = fresh_site.cli("log", "rotate-key", "--overlap", "P7D")
    # The running server finds the new key in its instance folder on its next append.
    during = fresh_site.moderate("forum", "I will hurt you again", "alice")
    keys = requests.get(fresh_site.url + "/v1/log/key", timeout=10).text.splitlines()
    assert keys[0] == new_key and len(keys) == 2
    labels = ["+".join(key.split("+")[:2]) for key in keys]
    for decision in (during, before):
        for page in watched_page(browser, fresh_site.url):
            page.goto(f"/decisions/{decision['id']}")
            status = page.page.locator("#proof-status.ok")
            status.wait_for()
            match = VERIFIED.match(status.inner_text())
            assert match, status.inner_text()
            assert [match[1], match[2]] == labels
            assert page.page.locator("#proof-steps li.ok").count() == 4
            assert not page.errors, page.errors
