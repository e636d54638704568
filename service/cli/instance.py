"""``fairwitness init`` and ``fairwitness serve``: create an instance, then serve it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from service.cli.common import say, settings_from_env

DEMO_KEY_FILE = "demo-client.key"


@click.command()
@click.option(
    "--demo-key/--no-demo-key",
    default=False,
    help="Create a client key for the app 'demo' when the instance has no keys.",
)
def init(demo_key: bool) -> None:
    """Create the instance (signing key, pseudonym secret, database) if missing."""
    from audit_log.store import Log
    from policies.load import load_policy_dir
    from service.clock import system_clock
    from service.domain.publishing import publish_all
    from service.runtime import build_judges
    from service.storage.db import init_database, make_engine, write_transaction
    from service.storage.instance import (
        InstanceError,
        init_instance,
        load_instance,
        secure_instance_files,
        signers_for,
    )
    from service.storage.keys import any_keys, create_key

    settings = settings_from_env()
    policies = load_policy_dir(settings.policy_dir)
    build_judges(policies)
    url = settings.effective_database_url
    try:
        secure_instance_files(settings.instance_dir, url)
    except InstanceError as exc:
        raise click.ClickException(str(exc)) from exc
    created = init_instance(settings.instance_dir)
    for name in created:
        say(f"created {settings.instance_dir / name}")
    init_database(url)
    engine = make_engine(url)
    signers = signers_for(load_instance(settings.instance_dir), settings.log_origin)
    log = Log(engine=engine, origin=settings.log_origin, signers=signers)
    published = publish_all(log, list(policies.policies.values()), system_clock(), set())
    for policy_id, version in sorted(published):
        say(f"policy {policy_id} {version} is in the log")
    if demo_key:
        with write_transaction(engine) as conn:
            if not any_keys(conn):
                _, plaintext = create_key(conn, "demo", "client", system_clock())
                path = settings.instance_dir / DEMO_KEY_FILE
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(plaintext + "\n")
                say("")
                say(f"Demo client key for the app 'demo' (shown once; also in {path}):")
                say(f"  {plaintext}")
                say("")
    engine.dispose()
    say(f"instance ready in {settings.instance_dir}")


@click.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Threads per worker. Concurrent requests of one worker share classifier calls, "
    "so more threads mean larger inference batches.",
)
@click.option(
    "--graceful-timeout",
    "graceful_timeout",
    default=None,
    type=int,
    metavar="SECONDS",
    help="On SIGTERM, how long in-flight requests may take to finish before "
    "their workers are killed (default: FAIRWITNESS_GRACEFUL_TIMEOUT, 30).",
)
def serve(bind: str, workers: int, threads: int, graceful_timeout: int | None) -> None:
    """Serve the API with gunicorn (policies are checked before it starts).

    SIGTERM stops accepting connections and lets every request in flight finish (a
    batch commits whole or not at all) for up to the graceful timeout; SIGINT and
    SIGQUIT stop at once.
    """
    from policies.load import PolicyError, load_policy_dir
    from service.runtime import build_judges

    settings = settings_from_env()
    if graceful_timeout is None:
        graceful_timeout = settings.graceful_timeout
    try:
        build_judges(load_policy_dir(settings.policy_dir))
    except PolicyError as exc:
        say(f"refusing to start: {exc}")
        sys.exit(2)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        # Each worker writes its metrics under this directory and /metrics sums them.
        # A fresh directory per start: stale files from an earlier run would be summed too.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fairwitness-metrics-")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [
        str(gunicorn),
        "--bind",
        bind,
        "--workers",
        str(workers),
        # Threaded workers: the requests a worker serves at once are handed to one thread,
        # which scores their texts in one batch and appends their decisions in one
        # transaction (Moderator, service/domain/moderation.py).
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        # Long streamed exports (a whole log as CSV) must outlive the sync worker's
        # default 30 s watchdog.
        # No gunicorn access log: the app writes one JSON line per request with its
        # request id and route pattern, and without the client address or query string.
        "--timeout",
        "300",
        "--graceful-timeout",
        str(graceful_timeout),
        "service.http.app:create_app()",
    ]
    os.execv(args[0], args)
