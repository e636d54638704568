"""Fixtures for the browser tests: a real gunicorn on 127.0.0.1 serving a SQLite
instance made by the ``fairwitness`` command, and Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from service.http.state import runtime_of
from tests.conftest import IN_CI, LIBRARY

BIN = Path(sys.executable).parent
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# A word no policy, template or lexicon holds: if it shows up on a page, private text
# leaked past the policy's public_excerpt.
MARKER = "Zebrafinchquokka"
# Strings that would run script if any page let them through unescaped.
XSS_SCRIPT = '<script>alert("fw-xss-1")</script>'
XSS_ATTR = '"><img src=x onerror=alert("fw-xss-2")>'
XSS_APP = "<script>alert('fw-app')</script>"
XSS_STRINGS = (XSS_SCRIPT, XSS_ATTR, XSS_APP)


def pytest_collection_modifyitems(config, items) -> None:
    """Every test here drives a real server or browser: ``-m "not e2e"`` leaves them out."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Instance:
    """One served instance: its URL, environment (for the CLI) and SQLite file."""

    url: str
    env: dict[str, str]
    db_path: Path
    proc: subprocess.Popen | None = None
    keys: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, dict] = field(default_factory=dict)
    appeals: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "fairwitness"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def create_key(self, app: str) -> str:
        self.keys[app] = self.cli("keys", "create", "--app", app, "--role", "client")
        return self.keys[app]

    def moderate(self, app: str, text: str, subject: str, content_ref: str | None = None) -> dict:
        body = {"text": text, "subject": subject}
        if content_ref is not None:
            body["content_ref"] = content_ref
        resp = requests.post(
            self.url + "/v1/moderations",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {self.keys[app]}"},
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["decision"]

    def appeal(self, app: str, decision_id: str, statement: str) -> str:
        resp = requests.post(
            self.url + "/v1/appeals",
            timeout=10,
            json={"decision_id": decision_id, "statement": statement},
            headers={"Authorization": f"Bearer {self.keys[app]}"},
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def resolve(self, reviewer_key: str, appeal_id: str, outcome: str, rationale: str) -> None:
        resp = requests.post(
            self.url + f"/v1/appeals/{appeal_id}/resolution",
            timeout=10,
            json={"outcome": outcome, "rationale": rationale},
            headers={"Authorization": f"Bearer {reviewer_key}"},
        )
        assert resp.status_code == 201, resp.text

    def sql(self, *statements: str, params=()) -> None:
        with sqlite3.connect(self.db_path, timeout=10) as conn:
            for statement in statements:
                conn.execute(statement, params) if params else conn.execute(statement)

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        # A file, not a pipe: nobody drains the server's log while it runs, and a full
        # pipe would stall it.
        self.server_log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "service.http.app:create_app()",
            ],
            env=self.env,
            stdout=self.server_log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 180  # workers load the classifiers on a shared machine
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        self.server_log.seek(0)
        pytest.fail("gunicorn did not become ready:\n" + self.server_log.read().decode())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_instance(root: Path) -> Instance:
    env = {
        **os.environ,
        "FAIRWITNESS_INSTANCE_DIR": str(root / "instance"),
        "FAIRWITNESS_DATABASE_URL": f"sqlite:///{root / 'fw.db'}",
    }
    env.pop("FAIRWITNESS_POLICY_DIR", None)
    instance = Instance(url="", env=env, db_path=root / "fw.db")
    instance.cli("init")
    return instance


def publish_earlier_policy_version(instance: Instance, root: Path) -> None:
    """Publish a slightly different civility policy first, so the log holds two versions
    of it and the policy page has a diff to show."""
    from service.http.app import create_app

    policy_dir = root / "policies-v1"
    shutil.copytree(LIBRARY, policy_dir)
    path = policy_dir / "civility.yaml"
    source = path.read_text(encoding="utf-8")
    assert "title: Civility standard\n" in source
    path.write_text(
        source.replace("title: Civility standard\n", "title: Civility standard (draft)\n", 1),
        encoding="utf-8",
    )
    app = create_app(
        {
            "database_url": instance.env["FAIRWITNESS_DATABASE_URL"],
            "instance_dir": instance.env["FAIRWITNESS_INSTANCE_DIR"],
            "policy_dir": policy_dir,
        }
    )
    runtime_of(app).engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Instance]:
    """An instance with two policy versions, two apps (one named with markup), a handful
    of decisions whose texts all carry ``MARKER``, an escalation and an erasure."""
    root = tmp_path_factory.mktemp("site")
    instance = make_instance(root)
    publish_earlier_policy_version(instance, root)
    instance.create_key("forum")
    instance.create_key(XSS_APP)
    instance.start()
    try:
        d = instance.decisions
        for i in range(4):
            d[f"threat{i}"] = instance.moderate(
                "forum", f"I will hurt you {MARKER}", "alice", f"post-{i}"
            )
        d["insult"] = instance.moderate("forum", f"you idiot {MARKER}", XSS_ATTR, XSS_SCRIPT)
        d["kind"] = instance.moderate(XSS_APP, f"Have a lovely day {MARKER}", XSS_SCRIPT, XSS_ATTR)
        d["erased"] = instance.moderate("forum", f"I will hurt you too {MARKER}", "bob", "p-9")
        instance.cli("content", "erase", d["erased"]["id"])
        reviewer = instance.cli("keys", "create", "--app", "forum", "--role", "reviewer")
        instance.appeals["overturned"] = instance.appeal(
            "forum", d["threat0"]["id"], f"It was a joke {MARKER} {XSS_SCRIPT}"
        )
        instance.resolve(
            reviewer,
            instance.appeals["overturned"],
            "overturned",
            f"Read in context this was a quote, not a threat. {XSS_ATTR}",
        )
        instance.appeals["open"] = instance.appeal(
            "forum", d["insult"]["id"], f"Not an insult {MARKER}"
        )
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def fresh_site(tmp_path: Path) -> Iterator[Instance]:
    """An instance of its own, for a test that damages it."""
    instance = make_instance(tmp_path)
    instance.create_key("forum")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class Watched:
    """A browser page whose dialogs, console errors and requests are recorded."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", self._request)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request) -> None:
        if not request.url.startswith((self.base_url + "/", "data:", "blob:")):
            self.foreign.append(request.url)

    def goto(self, path: str, status: int = 200):
        resp = self.page.goto(self.base_url + path)
        assert resp is not None and resp.status == status, (path, resp and resp.status)
        return resp

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def watched_page(browser, base_url: str, **context_args) -> Iterator[Watched]:
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield Watched(page, base_url)
    finally:
        context.close()


@pytest.fixture
def page(browser, site) -> Iterator[Watched]:
    yield from watched_page(browser, site.url)
