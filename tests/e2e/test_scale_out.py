"""Scale-out: two gunicorn servers, standing in for two hosts, share one PostgreSQL log.

Host A is made with ``fairwitness init``; host B gets a copy of A's instance folder (the
signing key and the pseudonym secret, as docs/operations.md tells an operator to
distribute them) and runs ``fairwitness init`` against the same database, which creates
nothing. Eight clients then post singles and batches to both servers for 20 s while a
monitor samples each server's checkpoint and a key is revoked through the command line.

Afterwards the log has no gap or duplicate and recomputes to its one root, every
checkpoint either server served is consistent with every other (proved by the other
server), every acknowledged decision is served by the other server with a receipt that
verifies, and ``fairwitness log audit`` passes against each server.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest
import requests

from audit_log.checkpoint import Checkpoint, Verifier, verify_note
from audit_log.verify import parse_proof, verify_consistency, verify_document
from service.storage.instance import SECRET_FILE, SIGNING_KEY_FILE
from tests.e2e.servers import Gunicorn, fairwitness, instance_env
from tests.service.test_storage import assert_log_consistent

CLIENTS = 8
LOAD_SECONDS = 20.0
REVOKE_AFTER = 8.0
BATCH_EVERY = 8  # every 8th request of a client is a batch
BATCH_ITEMS = 10
USERS = 7
TEXTS = (
    "I will hurt you",
    "Have a lovely day, neighbour",
    "you are an idiot",
    "see you at the market",
    "click here for free gift cards",
)


@dataclass
class Traffic:
    """What the clients saw: every acknowledged result and anything that was not a 201."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # (server name, user id, one result of a 201: {"decision", "receipt", ...})
    acknowledged: list[tuple[str, str, dict]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    requests: int = 0
    batches: int = 0
    # (server name, checkpoint note) sampled while the clients ran
    checkpoints: list[tuple[str, str]] = field(default_factory=list)


def _post(session: requests.Session, url: str, key: str, body: dict) -> requests.Response:
    return session.post(
        url + "/v1/moderations", json=body, timeout=30, headers={"Authorization": f"Bearer {key}"}
    )


def _client(
    servers: dict[str, Gunicorn], key: str, worker: int, stop: threading.Event, traffic: Traffic
) -> None:
    names = sorted(servers)
    n = 0
    with requests.Session() as session:
        while not stop.is_set():
            n += 1
            # Alternate servers per request, starting from a different one per client.
            name = names[(worker + n) % len(names)]
            body: dict[str, object]
            if n % BATCH_EVERY == 0:
                users = [f"user-{(n + i) % USERS}" for i in range(BATCH_ITEMS)]
                body = {
                    "items": [
                        {"text": f"{TEXTS[i % len(TEXTS)]} #{worker}-{n}-{i}", "subject": u}
                        for i, u in enumerate(users)
                    ]
                }
            else:
                users = [f"user-{n % USERS}"]
                body = {"text": f"{TEXTS[n % len(TEXTS)]} #{worker}-{n}", "subject": users[0]}
            try:
                resp = _post(session, servers[name].url, key, body)
            except requests.RequestException as exc:
                with traffic.lock:
                    traffic.unexpected.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            with traffic.lock:
                traffic.requests += 1
                if resp.status_code != 201:
                    traffic.unexpected.append(f"{name}: {resp.status_code} {resp.text[:200]}")
                    continue
                doc = resp.json()
                results = doc["results"] if "items" in body else [doc]
                traffic.batches += "items" in body
                traffic.acknowledged.extend(
                    (name, user, result) for user, result in zip(users, results, strict=True)
                )


def _sample_checkpoints(
    servers: dict[str, Gunicorn], stop: threading.Event, traffic: Traffic
) -> None:
    with requests.Session() as session:
        while not stop.wait(0.4):
            for name, server in servers.items():
                resp = session.get(server.url + "/v1/log/checkpoint", timeout=30)
                with traffic.lock:
                    if resp.status_code == 200:
                        traffic.checkpoints.append((name, resp.text))
                    else:
                        traffic.unexpected.append(f"{name} checkpoint: {resp.status_code}")


def _revoke_on_both(
    servers: dict[str, Gunicorn], env_a: dict[str, str], env_b: dict[str, str], traffic: Traffic
) -> None:
    """A key created on host B works on both servers; revoked on host A, it is refused by
    both from the very next request."""
    doomed = fairwitness(env_b, "keys", "create", "--app", "doomed", "--role", "client")
    with requests.Session() as session:
        for name, server in servers.items():
            resp = _post(session, server.url, doomed, {"text": "hello", "subject": "d"})
            assert resp.status_code == 201, resp.text
            with traffic.lock:
                traffic.acknowledged.append((name, "d", resp.json()))
        listed = json.loads(fairwitness(env_a, "keys", "list", "--json"))
        (key_id,) = [k["key_id"] for k in listed if k["app"] == "doomed"]
        fairwitness(env_a, "keys", "revoke", key_id)
        for server in servers.values():
            resp = _post(session, server.url, doomed, {"text": "hello again", "subject": "d"})
            assert resp.status_code == 401, resp.text
            assert resp.headers["Content-Type"] == "application/problem+json"
    listed = json.loads(fairwitness(env_b, "keys", "list", "--json"))
    assert [k["status"] for k in listed if k["app"] == "doomed"] == ["revoked"]


def _check_checkpoints(
    servers: dict[str, Gunicorn], verifiers: list[Verifier], traffic: Traffic
) -> int:
    """Every sampled or receipted checkpoint verifies; equal sizes have equal roots; each
    one is proved consistent with the next larger one by the server that did not serve
    the larger one. Returns the number of proofs checked."""
    served = list(traffic.checkpoints)
    served += [(name, result["receipt"]["checkpoint"]) for name, _, result in traffic.acknowledged]
    by_size: dict[int, tuple[str, Checkpoint]] = {}
    for name, note in served:
        checkpoint = verify_note(note, verifiers)
        if checkpoint.size in by_size:
            assert by_size[checkpoint.size][1].root == checkpoint.root, (
                f"two roots for tree size {checkpoint.size}"
            )
        else:
            by_size[checkpoint.size] = (name, checkpoint)
    assert {name for name, _ in by_size.values()} == set(servers), "one server's checkpoints only"
    ordered = [by_size[size] for size in sorted(by_size)]
    other = {a: b for a, b in zip(sorted(servers), reversed(sorted(servers)), strict=True)}
    proofs = 0
    with requests.Session() as session:
        for (_, old), (new_name, new) in pairwise(ordered):
            prover = servers[other[new_name]]
            resp = session.get(
                prover.url + "/v1/log/proof/consistency",
                params={"from": old.size, "to": new.size},
                timeout=30,
            )
            assert resp.status_code == 200, resp.text
            verify_consistency(old, new, parse_proof(resp.json()["proof"]))
            proofs += 1
    return proofs


def _check_receipts_elsewhere(
    servers: dict[str, Gunicorn], verifiers: list[Verifier], traffic: Traffic
) -> None:
    """Each acknowledged decision, fetched from the server that did NOT acknowledge it,
    is the same body with a receipt that verifies."""
    other = {a: b for a, b in zip(sorted(servers), reversed(sorted(servers)), strict=True)}

    def fetch(item: tuple[str, str, dict]) -> None:
        name, _, result = item
        verify_document(result, verifiers)
        decision = result["decision"]
        resp = requests.get(f"{servers[other[name]].url}/v1/decisions/{decision['id']}", timeout=30)
        assert resp.status_code == 200, (decision["id"], resp.text)
        public = resp.json()
        assert public["entry"] == decision
        assert public["receipt"]["index"] == result["receipt"]["index"]
        verify_document(public, verifiers)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(fetch, traffic.acknowledged))


@pytest.mark.slow
@pytest.mark.postgres
def test_two_servers_share_one_postgres_log(postgres_url: str, tmp_path: Path):
    started = time.monotonic()
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    # Every client reads receipts back anonymously from one address, far past the public
    # per-address budget; the limits have tests of their own.
    env_a = instance_env(host_a / "instance", postgres_url, rate_limit_storage="off")
    env_b = instance_env(host_b / "instance", postgres_url, rate_limit_storage="off")
    fairwitness(env_a, "init")
    # What an operator copies to every further host: the signing key and the secret.
    (host_b / "instance").mkdir(parents=True)
    for name in (SIGNING_KEY_FILE, SECRET_FILE):
        shutil.copy2(host_a / "instance" / name, host_b / "instance" / name)
    fairwitness(env_b, "init")
    assert sorted(p.name for p in (host_b / "instance").iterdir()) == sorted(
        [SIGNING_KEY_FILE, SECRET_FILE]
    ), "init on the second host created something"
    key = fairwitness(env_a, "keys", "create", "--app", "forum", "--role", "client")

    servers = {"A": Gunicorn(env_a, tmp_path / "a.log"), "B": Gunicorn(env_b, tmp_path / "b.log")}
    traffic = Traffic()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(servers, key, w, stop, traffic), daemon=True)
        for w in range(CLIENTS)
    ]
    threads.append(
        threading.Thread(target=_sample_checkpoints, args=(servers, stop, traffic), daemon=True)
    )
    try:
        for server in servers.values():
            server.start()
        load_started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(REVOKE_AFTER)
        _revoke_on_both(servers, env_a, env_b, traffic)
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - load_started)))
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a client hung"
        print(
            f"{traffic.requests} requests ({traffic.batches} batches of {BATCH_ITEMS}), "
            f"{len(traffic.acknowledged)} decisions acknowledged by 2 servers in "
            f"{LOAD_SECONDS:.0f} s"
        )
        assert not traffic.unexpected, traffic.unexpected[:5]
        assert {name for name, _, _ in traffic.acknowledged} == {"A", "B"}

        # No gap, no duplicate, one root, recomputed from the stored entries.
        assert_log_consistent(postgres_url)
        indexes = [r["receipt"]["index"] for _, _, r in traffic.acknowledged]
        assert len(indexes) == len(set(indexes)), "two receipts name one index"
        exported = requests.get(
            servers["B"].url + "/v1/log/entries",
            timeout=60,
            headers={"Accept": "application/x-ndjson"},
        ).text.splitlines()
        logged = [json.loads(line)["entry"] for line in exported]
        decision_ids = [e["id"] for e in logged if e["kind"] == "decision"]
        assert len(decision_ids) == len(set(decision_ids))
        # Every request answered 201, so the log holds exactly the acknowledged decisions.
        assert sorted(decision_ids) == sorted(
            r["decision"]["id"] for _, _, r in traffic.acknowledged
        )
        # Policies were published once, whichever host booted first.
        published = [
            (e["policy"]["id"], e["policy"]["version"])
            for e in logged
            if e["kind"] == "policy_published"
        ]
        assert len(published) == len(set(published))

        # Both hosts derive one pseudonym per user: the secret really is shared.
        subjects: dict[str, set[str]] = defaultdict(set)
        for _, user, result in traffic.acknowledged:
            subjects[user].add(result["decision"]["subject"])
        assert all(len(s) == 1 for s in subjects.values()), subjects

        key_text = requests.get(servers["A"].url + "/v1/log/key", timeout=10).text
        assert requests.get(servers["B"].url + "/v1/log/key", timeout=10).text == key_text
        key_file = tmp_path / "log.key"
        key_file.write_text(fairwitness(env_b, "log", "key") + "\n")
        assert key_file.read_text() == key_text
        verifiers = [Verifier.from_key(line) for line in key_text.splitlines()]

        proofs = _check_checkpoints(servers, verifiers, traffic)
        _check_receipts_elsewhere(servers, verifiers, traffic)

        # The monitor, as a user runs it: A first, then B from A's saved state, so the
        # second run also checks B's tree extends the one A showed.
        state = tmp_path / "monitor.json"
        for server in servers.values():
            summary = fairwitness(
                env_a,
                "log",
                "audit",
                "--url",
                server.url,
                "--key",
                str(key_file),
                "--state",
                str(state),
            )
            assert summary.startswith("ok: "), summary
        print(
            f"{len(traffic.checkpoints)} sampled checkpoints, {proofs} cross-server "
            f"consistency proofs; audit: {summary}"
        )
    finally:
        stop.set()
        for server in servers.values():
            server.stop()
    for server in servers.values():
        assert "unhandled error" not in server.output()
    assert time.monotonic() - started < 240
