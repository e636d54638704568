"""Texts built to make pattern matching slow are judged promptly, through the API.

A single post of ``"i"`` and 16,000 spaces used to hold a worker for half a minute in the
default policy's threat pattern, and a run of letters did the same in the pattern that
masks personal data in redacted excerpts; at the 256 KiB body limit neither finished.
Every policy pattern now runs on a linear-time engine and every internal one is linear
(tests/test_pattern_time.py), so each of these answers in well under the budget, which
is generous for a busy machine: it only has to tell seconds from minutes.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from service.http.state import runtime_of
from tests.conftest import LIBRARY

BODY_LIMIT = 256 * 1024
BUDGET_SECONDS = 15.0


def _largest_text(unit: str, prefix: str = "", suffix: str = "") -> str:
    """``prefix`` + ``unit`` repeated + ``suffix``, as long as a moderation body allows."""
    envelope = len(json.dumps({"text": prefix + suffix, "subject": "u"}).encode())
    room = BODY_LIMIT - envelope - 16
    return prefix + unit * (room // len(json.dumps(unit).strip('"').encode())) + suffix


def _timed_post(client, auth, text: str):
    started = time.perf_counter()
    resp = client.post("/v1/moderations", headers=auth, json={"text": text, "subject": "u"})
    return resp, time.perf_counter() - started


def test_the_reported_post_of_sixteen_thousand_spaces_is_judged_promptly(client, auth):
    resp, elapsed = _timed_post(client, auth, "i" + " " * 16000 + "z")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["decision"]["action"] == "allow"
    assert elapsed < BUDGET_SECONDS, f"{elapsed:.1f} s"


HOSTILE_TEXTS = {
    "spaces after a speaker": _largest_text(" ", "i", "z"),
    "spaces after an address": _largest_text(" ", "you", "z"),
    "one letter": _largest_text("a"),
    "spaced letters": _largest_text("a "),
    "digits and spaces": _largest_text("1 "),
    "speakers": _largest_text("i will "),
    "half an address": _largest_text("a@"),
    "threat words without a target": _largest_text("we will find "),
}


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(HOSTILE_TEXTS))
def test_a_hostile_text_at_the_body_limit_is_judged_promptly(client, auth, shape):
    text = HOSTILE_TEXTS[shape]
    assert BODY_LIMIT - 64 < len(json.dumps({"text": text, "subject": "u"})) <= BODY_LIMIT
    resp, elapsed = _timed_post(client, auth, text)
    assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    assert elapsed < BUDGET_SECONDS, f"{shape}: {elapsed:.1f} s"


@pytest.fixture
def redacting_app(database_url: str, instance_dir: Path, tmp_path: Path):
    """The default policy with ``public_excerpt: redacted``."""
    from service.http.app import create_app

    target = tmp_path / "policies"
    shutil.copytree(LIBRARY, target)
    path = target / "civility.yaml"
    source = path.read_text()
    assert "public_excerpt: none" in source
    path.write_text(source.replace("public_excerpt: none", "public_excerpt: redacted"))
    application = create_app(
        {"database_url": database_url, "instance_dir": instance_dir, "policy_dir": target}
    )
    yield application
    runtime_of(application).engine.dispose()


@pytest.mark.slow
def test_a_redacted_excerpt_of_a_long_letter_run_is_made_promptly(redacting_app, auth):
    client = redacting_app.test_client()
    resp, elapsed = _timed_post(client, auth, _largest_text("a"))
    assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    assert elapsed < BUDGET_SECONDS, f"{elapsed:.1f} s"
    # The pattern still finds what it is for: addresses, links, mentions, phone numbers.
    resp, _ = _timed_post(
        client, auth, "you idiot, mail jöhn@exämple.org or call +44 20 7946 0958, @bob"
    )
    assert resp.status_code == 201
    # The log holds a commitment; the excerpt itself is served beside it.
    decision_id = resp.get_json()["decision"]["id"]
    excerpt = client.get(f"/v1/decisions/{decision_id}").get_json()["excerpt"]["text"]
    assert excerpt == "███ █████, mail ████████████████ or call ███ ██ ████ ████, ████"
