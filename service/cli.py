"""The ``fairwitness`` command: thin wrappers over the functions the HTTP API calls.

Results a script may capture go to stdout; messages go to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from service.config import Settings

DEMO_KEY_FILE = "demo-client.key"


def _settings() -> Settings:
    return Settings.from_env()


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def main() -> None:
    """Fair Witness: transparent moderation with a verifiable public log."""
    from service.applog import configure_logging

    # Key actions and other events go to stderr as JSON lines; stdout stays for results.
    configure_logging()
    # Whatever a command creates (database, keys, key files) is for this user alone.
    os.umask(0o077)


@main.command()
@click.option(
    "--demo-key/--no-demo-key",
    default=False,
    help="Create a client key for the app 'demo' when the instance has no keys.",
)
def init(demo_key: bool) -> None:
    """Create the instance (signing key, pseudonym secret, database) if missing."""
    from sqlalchemy import func, select

    from audit_log.store import Log
    from policies.load import load_policy_dir
    from service.clock import system_clock
    from service.db import api_keys, init_database, make_engine, write_transaction
    from service.instance import (
        InstanceError,
        init_instance,
        load_instance,
        secure_instance_files,
        signers_for,
    )
    from service.keys import create_key
    from service.publish import publish_all
    from service.runtime import build_judges

    settings = _settings()
    policies = load_policy_dir(settings.policy_dir)
    build_judges(policies)
    url = settings.effective_database_url
    try:
        secure_instance_files(settings.instance_dir, url)
    except InstanceError as exc:
        raise click.ClickException(str(exc)) from exc
    created = init_instance(settings.instance_dir)
    for name in created:
        _say(f"created {settings.instance_dir / name}")
    init_database(url)
    engine = make_engine(url)
    signers = signers_for(load_instance(settings.instance_dir), settings.log_origin)
    log = Log(engine=engine, origin=settings.log_origin, signers=signers)
    published = publish_all(log, list(policies.policies.values()), system_clock(), set())
    for policy_id, version in sorted(published):
        _say(f"policy {policy_id} {version} is in the log")
    if demo_key:
        with write_transaction(engine) as conn:
            has_keys = conn.execute(select(func.count()).select_from(api_keys)).scalar_one()
            if not has_keys:
                _, plaintext = create_key(conn, "demo", "client", system_clock())
                path = settings.instance_dir / DEMO_KEY_FILE
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(plaintext + "\n")
                _say("")
                _say(f"Demo client key for the app 'demo' (shown once; also in {path}):")
                _say(f"  {plaintext}")
                _say("")
    engine.dispose()
    _say(f"instance ready in {settings.instance_dir}")


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--app", "app_name", required=True, help="The client app the key acts for.")
@click.option("--role", type=click.Choice(["client", "reviewer", "admin"]), required=True)
@click.option(
    "--expires-in",
    "expires_in",
    default=None,
    metavar="DURATION",
    help="ISO-8601 duration after which the key stops working, e.g. P30D.",
)
@click.option(
    "--rate-limit",
    "rate_limit",
    default=None,
    metavar="LIMIT",
    help="Requests this key may make, e.g. '600 per minute' (default: no limit).",
)
def keys_create(app_name: str, role: str, expires_in: str | None, rate_limit: str | None) -> None:
    """Create a key and print it once, alone on stdout."""
    from policies.duration import parse_duration
    from service.clock import rfc3339, system_clock
    from service.db import make_engine, write_transaction
    from service.keys import create_key

    now = system_clock()
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = parse_duration(expires_in).add_to(now)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--expires-in") from exc
    engine = make_engine(_settings().effective_database_url)
    try:
        with write_transaction(engine) as conn:
            key, plaintext = create_key(conn, app_name, role, now, expires_at, rate_limit)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        engine.dispose()
    until = f", expires {rfc3339(expires_at)}" if expires_at else ""
    _say(
        f"created {key.key_id} ({role} for {app_name}{until}); store it now, it is not shown again"
    )
    click.echo(plaintext)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def keys_list(as_json: bool) -> None:
    """Print every key's id, app, role, dates and status; never a secret."""
    import json

    from service.clock import system_clock
    from service.db import make_engine
    from service.keys import list_keys

    engine = make_engine(_settings().effective_database_url)
    try:
        with engine.connect() as conn:
            records = list_keys(conn)
    finally:
        engine.dispose()
    now = system_clock()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "key_id": r.key_id,
                        "app": r.app,
                        "role": r.role,
                        "created_at": r.created_at,
                        "expires_at": r.expires_at,
                        "revoked_at": r.revoked_at,
                        "rate_limit": r.rate_limit,
                        "status": r.status(now),
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return
    header = ("KEY_ID", "APP", "ROLE", "STATUS", "CREATED", "EXPIRES", "REVOKED", "LIMIT")
    rows = [header] + [
        (
            r.key_id,
            r.app,
            r.role,
            r.status(now),
            r.created_at,
            r.expires_at or "-",
            r.revoked_at or "-",
            r.rate_limit or "-",
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke KEY_ID (as `keys list` shows it); it is refused from the next request on."""
    from service.clock import system_clock
    from service.db import make_engine, write_transaction
    from service.keys import revoke_key

    engine = make_engine(_settings().effective_database_url)
    try:
        with write_transaction(engine) as conn:
            record = revoke_key(conn, key_id, system_clock())
    except LookupError as exc:
        _say(str(exc.args[0]))
        sys.exit(1)
    finally:
        engine.dispose()
    _say(f"revoked {record.key_id} ({record.role} for {record.app}) at {record.revoked_at}")


@keys.command("limit")
@click.argument("key_id")
@click.argument("rate_limit", metavar="LIMIT")
def keys_limit(key_id: str, rate_limit: str) -> None:
    """Limit KEY_ID to LIMIT requests (e.g. '600 per minute'), or 'none' to lift it."""
    from service.db import make_engine, write_transaction
    from service.keys import set_rate_limit

    engine = make_engine(_settings().effective_database_url)
    try:
        with write_transaction(engine) as conn:
            record = set_rate_limit(conn, key_id, rate_limit)
    except LookupError as exc:
        _say(str(exc.args[0]))
        sys.exit(1)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="LIMIT") from exc
    finally:
        engine.dispose()
    _say(
        f"{record.key_id} ({record.role} for {record.app}): {record.rate_limit or 'no rate limit'}"
    )


@main.group()
def policy() -> None:
    """Work with policy files."""


@policy.command("test")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def policy_test(directory: Path) -> None:
    """Run every rule's examples; exit 1 naming each rule and example that misses."""
    from policies.examples import check_examples
    from policies.load import PolicyError, load_policy_dir
    from service.runtime import build_judges

    try:
        judges = build_judges(load_policy_dir(directory))
    except PolicyError as exc:
        _say(str(exc))
        sys.exit(2)
    failures = []
    total = 0
    for judge in judges.values():
        total += sum(len(r.examples.match) + len(r.examples.no_match) for r in judge.policy.rules)
        failures += check_examples(judge.policy, judge.classifier.score)
    for failure in failures:
        click.echo(f"FAIL {failure.describe()}")
    click.echo(f"{total - len(failures)} of {total} examples pass in {len(judges)} policies")
    if failures:
        sys.exit(1)


@main.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--graceful-timeout",
    "graceful_timeout",
    default=None,
    type=int,
    metavar="SECONDS",
    help="On SIGTERM, how long in-flight requests may take to finish before "
    "their workers are killed (default: FAIRWITNESS_GRACEFUL_TIMEOUT, 30).",
)
def serve(bind: str, workers: int, graceful_timeout: int | None) -> None:
    """Serve the API with gunicorn (policies are checked before it starts).

    SIGTERM stops accepting connections and lets every request in flight finish (a
    batch commits whole or not at all) for up to the graceful timeout; SIGINT and
    SIGQUIT stop at once.
    """
    from policies.load import PolicyError, load_policy_dir
    from service.runtime import build_judges

    settings = _settings()
    if graceful_timeout is None:
        graceful_timeout = settings.graceful_timeout
    try:
        build_judges(load_policy_dir(settings.policy_dir))
    except PolicyError as exc:
        _say(f"refusing to start: {exc}")
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
        # Long streamed exports (a whole log as CSV) must outlive the sync worker's
        # default 30 s watchdog.
        # No gunicorn access log: the app writes one JSON line per request with its
        # request id and route pattern, and without the client address or query string.
        "--timeout",
        "300",
        "--graceful-timeout",
        str(graceful_timeout),
        "service:create_app()",
    ]
    os.execv(args[0], args)


from classifiers.cli import classifiers_cli  # noqa: E402
from service.cli_log import content, log, verify  # noqa: E402

main.add_command(classifiers_cli)
main.add_command(content)
main.add_command(log)
main.add_command(verify)


@main.group()
def appeals() -> None:
    """Work with appeals."""


@appeals.command("overdue")
def appeals_overdue() -> None:
    """Print how many open appeals are past their decide-by time, then their ids."""
    from service.appeals import overdue_appeals
    from service.clock import system_clock
    from service.db import make_engine

    engine = make_engine(_settings().effective_database_url)
    try:
        with engine.connect() as conn:
            ids = overdue_appeals(conn, system_clock())
    finally:
        engine.dispose()
    click.echo(str(len(ids)))
    for appeal_id in ids:
        click.echo(appeal_id)


@main.group()
def webhooks() -> None:
    """Deliver webhook events."""


@webhooks.command("deliver")
@click.option("--once", is_flag=True, help="Attempt what is due now, then exit.")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=float,
    help="Seconds between passes when not --once.",
)
def webhooks_deliver(once: bool, interval: float) -> None:
    """Send every due webhook delivery (pending, next attempt reached), retrying with
    backoff; without --once, keep doing so until interrupted."""
    import time

    from service.clock import system_clock
    from service.db import make_engine
    from service.outage import is_storage_failure
    from service.webhooks import deliver_due, log_pass_failure, make_sender

    settings = _settings()
    engine = make_engine(settings.effective_database_url, settings.db_timeout_seconds)
    send = make_sender(allow_private=settings.webhook_allow_private)
    try:
        while True:
            try:
                counts = deliver_due(engine, system_clock, send)
            except Exception as exc:
                # Logged without the database's error text, which quotes statements
                # and their parameters; the events wait in the outbox for the next pass.
                log_pass_failure(exc)
                if once or not is_storage_failure(exc):
                    sys.exit(1)
            else:
                _say(" ".join(f"{k}={v}" for k, v in counts.items()))
            if once:
                return
            time.sleep(interval)
    finally:
        engine.dispose()
