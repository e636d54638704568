"""Rate limits through HTTP: a per-address budget on anonymous requests, appeal limits,
limits shared by every server through the database, keys exempt unless limited."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.http.app import create_app
from service.http.ratelimits import address_key
from service.http.state import runtime_of
from tests import openapi_contract as contract
from tests.conftest import LIBRARY, make_key

FAIRWITNESS = str(Path(sys.executable).with_name("fairwitness"))
FLOODER = {"REMOTE_ADDR": "203.0.113.7"}
NEIGHBOUR = {"REMOTE_ADDR": "198.51.100.2"}
THREAT = "I will hurt you"


@pytest.fixture
def make_app(database_url: str, instance_dir: Path, clock) -> Iterator:
    """``make_app(**settings)``: an app on the test database with these settings."""
    made = []

    def build(**settings):
        app = create_app(
            {
                "database_url": database_url,
                "instance_dir": instance_dir,
                "policy_dir": LIBRARY,
                **settings,
            },
            clock=clock,
        )
        made.append(app)
        return app

    yield build
    for app in made:
        runtime_of(app).engine.dispose()


def assert_limited(resp, problem: bool = True) -> int:
    assert resp.status_code == 429, resp.get_data(as_text=True)
    retry = int(resp.headers["Retry-After"])
    assert 1 <= retry <= 86400
    if problem:
        assert resp.mimetype == "application/problem+json"
        body = resp.get_json()
        assert body["status"] == 429 and body["type"].endswith("/rate-limited")
        assert "Retry in" in body["detail"]
    return retry


def test_a_flooding_address_gets_429_while_others_are_served(make_app):
    client = make_app(rate_limit_public="5 per minute").test_client()
    for _ in range(5):
        assert client.get("/v1/log/checkpoints", environ_base=FLOODER).status_code == 200
    refused = client.get("/v1/log/checkpoints", environ_base=FLOODER)
    assert_limited(refused)
    contract.assert_conforms("/v1/log/checkpoints", "GET", refused)
    # The budget is per address across every public route, pages included...
    assert_limited(client.get("/v1/policies", environ_base=FLOODER))
    page = client.get("/log", environ_base=FLOODER)
    assert_limited(page, problem=False)
    contract.assert_conforms("/log", "GET", page)
    assert page.mimetype == "text/html" and "Too many requests" in page.get_data(as_text=True)
    # ...while another address, and the platform's probes, are still served.
    assert client.get("/v1/log/checkpoints", environ_base=NEIGHBOUR).status_code == 200
    assert client.get("/log", environ_base=NEIGHBOUR).status_code == 200
    assert client.get("/healthz", environ_base=FLOODER).status_code == 200
    assert client.get("/readyz", environ_base=FLOODER).status_code == 200


def test_an_ipv6_client_is_counted_by_its_64_so_fresh_addresses_do_not_reset_it(make_app):
    client = make_app(rate_limit_public="5 per minute").test_client()
    # Five addresses of one /64, as a subscriber may pick at will: one budget.
    for host in range(1, 6):
        ok = client.get("/v1/policies", environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{host}"})
        assert ok.status_code == 200
    assert_limited(client.get("/v1/policies", environ_base={"REMOTE_ADDR": "2001:db8:1:2::ff"}))
    # The next /64 has its own budget, and an IPv4-mapped address is its IPv4 one.
    next_64 = client.get("/v1/policies", environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"})
    assert next_64.status_code == 200
    for _ in range(5):
        ipv4 = client.get("/v1/policies", environ_base={"REMOTE_ADDR": "192.0.2.44"})
        assert ipv4.status_code == 200
    mapped = client.get("/v1/policies", environ_base={"REMOTE_ADDR": "::ffff:192.0.2.44"})
    assert_limited(mapped)


def test_address_keys() -> None:
    assert address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert address_key("2001:DB8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key(None) == "unknown"
    assert address_key("not an address") == "not an address"


def test_guessing_keys_is_limited_but_valid_keys_are_not(make_app, database_url):
    client = make_app(rate_limit_public="3 per minute").test_client()
    wrong = {"Authorization": "Bearer fw_000000000000_guess"}
    for _ in range(3):
        resp = client.post(
            "/v1/moderations",
            json={"text": "hi", "subject": "u"},
            headers=wrong,
            environ_base=FLOODER,
        )
        assert resp.status_code == 401
    assert_limited(
        client.post(
            "/v1/moderations",
            json={"text": "hi", "subject": "u"},
            headers=wrong,
            environ_base=FLOODER,
        )
    )
    # A client app with a valid key, from the same address, has no limit by default.
    auth = {"Authorization": f"Bearer {make_key(database_url, 'forum', 'client')}"}
    for i in range(6):
        resp = client.post(
            "/v1/moderations",
            json={"text": THREAT, "subject": f"u{i}"},
            headers=auth,
            environ_base=FLOODER,
        )
        assert resp.status_code == 201, resp.get_json()
        assert client.get("/v1/log/entries", headers=auth, environ_base=FLOODER).status_code == 200


@pytest.mark.subprocess
def test_a_limit_set_on_a_key_applies_to_it(make_app, database_url, instance_dir):
    client = make_app().test_client()
    plaintext = make_key(database_url, "forum", "client")
    key_id = "key_" + plaintext.split("_")[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWITNESS_")}
    env.update(FAIRWITNESS_DATABASE_URL=database_url, FAIRWITNESS_INSTANCE_DIR=str(instance_dir))

    def limit(value: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [FAIRWITNESS, "keys", "limit", key_id, value],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = limit("2 per minute")
    assert done.returncode == 0, done.stderr
    assert '"event": "key_rate_limit_set"' in done.stderr and plaintext not in done.stderr
    auth = {"Authorization": f"Bearer {plaintext}"}
    for i in range(2):
        resp = client.post(
            "/v1/moderations", json={"text": THREAT, "subject": f"u{i}"}, headers=auth
        )
        assert resp.status_code == 201
    resp = client.post("/v1/moderations", json={"text": THREAT, "subject": "u9"}, headers=auth)
    assert_limited(resp)
    assert key_id in resp.get_json()["detail"]
    assert limit("soon").returncode == 2
    assert limit("none").returncode == 0
    resp = client.post("/v1/moderations", json={"text": THREAT, "subject": "u9"}, headers=auth)
    assert resp.status_code == 201


# --- appeals: strangers' refused attempts never stand between an author and the rules ---

STRANGER = {"REMOTE_ADDR": "203.0.113.66"}
AUTHOR = {"REMOTE_ADDR": "192.0.2.9"}


def threat_decision(client, database_url: str, subject: str = "author-1") -> tuple[str, str]:
    """A decision that removed a post, and the appeal token its author was given."""
    auth = {"Authorization": f"Bearer {make_key(database_url, 'forum', 'client')}"}
    resp = client.post("/v1/moderations", headers=auth, json={"text": THREAT, "subject": subject})
    assert resp.status_code == 201, resp.get_json()
    result = resp.get_json()
    return result["decision"]["id"], result["appeal"]["token"]


def appeal(client, decision_id: str, token: str, who: dict, headers: dict | None = None):
    return client.post(
        "/v1/appeals",
        environ_base=who,
        headers=headers or {},
        json={"decision_id": decision_id, "token": token, "statement": "Not a threat."},
    )


@pytest.mark.parametrize("storage", ["memory", "database"])
def test_wrong_tokens_from_a_stranger_never_lock_the_author_out(make_app, database_url, storage):
    # The attack as reported: ten wrong tokens for one decision from another address
    # used to spend the decision's budget and answer the author "Retry in 86400 seconds".
    client = make_app(rate_limit_storage=storage).test_client()  # the default limits
    decision_id, token = threat_decision(client, database_url)
    for _ in range(10):
        refused = appeal(client, decision_id, "wrong-token", STRANGER)
        assert refused.status_code == 403, refused.get_json()
        assert refused.get_json()["errors"][0]["pointer"] == "#/token"
    # The stranger's own address has spent its budget of refused attempts...
    limited = appeal(client, decision_id, "wrong-token", STRANGER)
    assert_limited(limited)
    assert "refused appeal tokens from your address" in limited.get_json()["detail"]
    contract.assert_conforms("/v1/appeals", "POST", limited)
    # ...which is the only one spent: another stranger is refused on the token, not limited.
    assert appeal(client, decision_id, "wrong-token", NEIGHBOUR).status_code == 403
    filed = appeal(client, decision_id, token, AUTHOR)
    assert filed.status_code == 201, filed.get_json()
    assert filed.get_json()["filed_by"] == "author"


def test_a_genuine_token_passes_a_spent_address_budget_and_meets_the_rules(make_app, database_url):
    # A stranger behind the author's own address (a shared NAT) spends its budget.
    client = make_app(rate_limit_appeal_failures_per_ip="2 per hour").test_client()
    decision_id, token = threat_decision(client, database_url)
    assert appeal(client, decision_id, "wrong-token", AUTHOR).status_code == 403
    assert appeal(client, decision_id, "wrong-token", AUTHOR).status_code == 403
    assert_limited(appeal(client, decision_id, "wrong-token", AUTHOR))
    filed = appeal(client, decision_id, token, AUTHOR)
    assert filed.status_code == 201, filed.get_json()
    # Filing again, however often, meets the one-open-appeal rule: a 409 naming the open
    # appeal, never a 429. Successful and rule-refused filings spend no budget.
    for _ in range(4):
        again = appeal(client, decision_id, token, AUTHOR)
        assert again.status_code == 409, again.get_json()
        assert filed.get_json()["id"] in again.get_json()["detail"]
        contract.assert_conforms("/v1/appeals", "POST", again)
    # The budget still holds for wrong tokens from that address.
    assert_limited(appeal(client, decision_id, "wrong-token", AUTHOR))


def test_every_refused_attempt_counts_and_a_limited_one_records_nothing(make_app, database_url):
    client = make_app(rate_limit_appeal_failures_per_ip="3 per hour").test_client()
    decision_id, token = threat_decision(client, database_url)
    other_id, _ = threat_decision(client, database_url, subject="author-2")
    # A wrong token, another decision's token, a decision that does not exist.
    assert appeal(client, decision_id, "wrong-token", STRANGER).status_code == 403
    assert appeal(client, other_id, token, STRANGER).status_code == 403
    assert appeal(client, "dec_" + "0" * 26, token, STRANGER).status_code == 404
    before = client.get("/v1/log/checkpoint").get_data(as_text=True)
    # Limited now, even when guessing at a different decision.
    assert_limited(appeal(client, other_id, "another-guess", STRANGER))
    assert client.get("/v1/log/checkpoint").get_data(as_text=True) == before
    # The app that asked for the decision files with its key: never counted per address.
    app_key = {"Authorization": f"Bearer {make_key(database_url, 'forum', 'client')}"}
    resp = client.post(
        "/v1/appeals",
        environ_base=STRANGER,
        headers=app_key,
        json={"decision_id": other_id, "statement": "For our user."},
    )
    assert resp.status_code == 201, resp.get_json()


def test_behind_a_proxy_wrong_tokens_are_counted_on_the_forwarded_address(make_app, database_url):
    client = make_app(
        trusted_proxy_hops=1, rate_limit_appeal_failures_per_ip="2 per hour"
    ).test_client()
    decision_id, token = threat_decision(client, database_url)
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    def through_proxy(token: str, forwarded: str):
        return appeal(client, decision_id, token, proxy, headers={"X-Forwarded-For": forwarded})

    # The stranger writes the author's address first; the proxy appends the real one,
    # and only that one is trusted.
    spoofed = "192.0.2.9, 203.0.113.66"
    assert through_proxy("wrong-token", spoofed).status_code == 403
    assert through_proxy("wrong-token", spoofed).status_code == 403
    assert_limited(through_proxy("wrong-token", spoofed))
    # Every other client behind the same proxy keeps its own budget...
    for i in range(1, 6):
        assert through_proxy("wrong-token", f"198.51.100.{i}").status_code == 403
    # ...and the author files.
    filed = through_proxy(token, "192.0.2.9")
    assert filed.status_code == 201, filed.get_json()


def test_retired_appeal_limit_settings_stop_the_start(make_app, monkeypatch):
    for name, says in (
        ("FAIRWITNESS_RATE_LIMIT_APPEALS_PER_DECISION", "APPEAL_FAILURES_PER_IP"),
        ("FAIRWITNESS_RATE_LIMIT_APPEALS_PER_IP", "APPEAL_FAILURES_PER_IP"),
    ):
        with monkeypatch.context() as env:
            env.setenv(name, "5 per day")
            with pytest.raises(ValueError, match=f"{name} .*{says}"):
                make_app()
    with pytest.raises(ValueError, match="FAIRWITNESS_RATE_LIMIT_APPEAL_FAILURES_PER_IP"):
        make_app(rate_limit_appeal_failures_per_ip="often")


def test_database_limits_are_shared_by_two_servers(make_app, clock):
    settings = {"rate_limit_storage": "database", "rate_limit_public": "3 per minute"}
    first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
    assert first.get("/v1/policies", environ_base=FLOODER).status_code == 200
    assert second.get("/v1/policies", environ_base=FLOODER).status_code == 200
    assert first.get("/v1/log/checkpoints", environ_base=FLOODER).status_code == 200
    retry = assert_limited(second.get("/v1/policies", environ_base=FLOODER))
    assert 1 <= retry <= 60
    assert_limited(first.get("/v1/policies", environ_base=FLOODER))
    assert second.get("/v1/policies", environ_base=NEIGHBOUR).status_code == 200
    # A new window opens once the clock passes the old one's end, on both servers.
    clock.advance(seconds=61)
    assert first.get("/v1/policies", environ_base=FLOODER).status_code == 200
    assert second.get("/v1/policies", environ_base=FLOODER).status_code == 200


def test_client_addresses_come_from_trusted_proxies_only(make_app):
    direct = make_app(rate_limit_public="2 per minute").test_client()
    behind = make_app(rate_limit_public="2 per minute", trusted_proxy_hops=1).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for client_ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        headers = {"X-Forwarded-For": client_ip}
        assert behind.get("/v1/policies", headers=headers, environ_base=proxy).status_code == 200
    # Without trusted hops the header is the client's own say-so and is ignored.
    statuses = [
        direct.get(
            "/v1/policies", headers={"X-Forwarded-For": f"203.0.113.{i}"}, environ_base=proxy
        ).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_rate_limit_settings_are_checked_at_start(make_app):
    with pytest.raises(ValueError, match="FAIRWITNESS_RATE_LIMIT_PUBLIC"):
        make_app(rate_limit_public="lots")
    with pytest.raises(ValueError, match="FAIRWITNESS_RATE_LIMIT_STORAGE"):
        make_app(rate_limit_storage="redis")
    client = make_app(rate_limit_storage="off", rate_limit_public="1 per minute").test_client()
    assert [client.get("/v1/policies").status_code for _ in range(3)] == [200, 200, 200]


def test_overlong_query_strings_are_refused(make_app):
    client = make_app(max_query_bytes=256).test_client()
    resp = client.get("/v1/log/entries?app=" + "a" * 300)
    assert resp.status_code == 414 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["errors"][0]["pointer"] == "#/query"
    contract.assert_conforms("/v1/log/entries", "GET", resp)
    assert client.get("/log?app=" + "a" * 300).status_code == 414


def _request_series(client) -> set[tuple]:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").get_data(as_text=True)
    return {
        tuple(sorted(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        if family.name == "fairwitness_http_requests"
        for sample in family.samples
        if sample.name == "fairwitness_http_requests_total"
    }


def _random_requests(client, count: int, environ: dict) -> list[int]:
    """``count`` requests with made-up methods and paths; their statuses."""
    import random

    rng = random.Random(7)
    statuses = []
    for i in range(count):
        method = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=rng.randint(3, 12)))
        if i % 2:
            path = "/" + "/".join(f"{rng.getrandbits(40):x}" for _ in range(rng.randint(1, 3)))
        else:
            path = rng.choice(["/v1/moderations", "/v1/log/entries", "/log", "/v1/appeals"])
        statuses.append(client.open(path, method=method, environ_base=environ).status_code)
    return statuses


def test_made_up_methods_and_paths_add_no_metric_series(make_app):
    app = make_app(rate_limit_storage="off")
    client = app.test_client()
    client.get("/metrics")  # its own series exists before the first count
    before = _request_series(client)
    statuses = _random_requests(client, 2000, FLOODER)
    assert set(statuses) <= {404, 405}
    added = _request_series(client) - before
    labels = {(dict(s)["method"], dict(s)["route"], dict(s)["status"]) for s in added}
    assert {m for m, _, _ in labels} <= {"other"}, labels
    assert {r for _, r, _ in labels} <= {"unmatched"}, labels
    assert len(added) <= 2, added  # other × unmatched × (404, 405)


def test_unmatched_routes_and_methods_share_the_anonymous_budget(make_app):
    app = make_app(rate_limit_public="50 per minute")
    client = app.test_client()
    statuses = _random_requests(client, 2000, FLOODER)
    assert set(statuses[:50]) <= {404, 405}
    assert set(statuses[50:]) == {429}
    # The budget is the address's, over every route: a real page is refused too …
    assert_limited(client.get("/v1/log/entries", environ_base=FLOODER))
    # … while another address is served, and /metrics shows no new series for either.
    assert client.get("/v1/log/entries", environ_base=NEIGHBOUR).status_code == 200
    assert client.open("/nope", method="BREW", environ_base=NEIGHBOUR).status_code == 404
    labels = {dict(s)["method"] for s in _request_series(client)}
    assert "BREW" not in labels
