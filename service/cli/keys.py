"""``fairwitness keys``: create, list, revoke and limit API keys."""

from __future__ import annotations

import sys

import click

from service.cli.common import say, settings_from_env


@click.group()
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
    from service.storage.db import make_engine, write_transaction
    from service.storage.keys import create_key

    now = system_clock()
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = parse_duration(expires_in).add_to(now)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--expires-in") from exc
    engine = make_engine(settings_from_env().effective_database_url)
    try:
        with write_transaction(engine) as conn:
            key, plaintext = create_key(conn, app_name, role, now, expires_at, rate_limit)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        engine.dispose()
    until = f", expires {rfc3339(expires_at)}" if expires_at else ""
    say(f"created {key.key_id} ({role} for {app_name}{until}); store it now, it is not shown again")
    click.echo(plaintext)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def keys_list(as_json: bool) -> None:
    """Print every key's id, app, role, dates and status; never a secret."""
    import json

    from service.clock import system_clock
    from service.storage.db import make_engine
    from service.storage.keys import list_keys

    engine = make_engine(settings_from_env().effective_database_url)
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
    from service.storage.db import make_engine, write_transaction
    from service.storage.keys import revoke_key

    engine = make_engine(settings_from_env().effective_database_url)
    try:
        with write_transaction(engine) as conn:
            record = revoke_key(conn, key_id, system_clock())
    except LookupError as exc:
        say(str(exc.args[0]))
        sys.exit(1)
    finally:
        engine.dispose()
    say(f"revoked {record.key_id} ({record.role} for {record.app}) at {record.revoked_at}")


@keys.command("limit")
@click.argument("key_id")
@click.argument("rate_limit", metavar="LIMIT")
def keys_limit(key_id: str, rate_limit: str) -> None:
    """Limit KEY_ID to LIMIT requests (e.g. '600 per minute'), or 'none' to lift it."""
    from service.storage.db import make_engine, write_transaction
    from service.storage.keys import set_rate_limit

    engine = make_engine(settings_from_env().effective_database_url)
    try:
        with write_transaction(engine) as conn:
            record = set_rate_limit(conn, key_id, rate_limit)
    except LookupError as exc:
        say(str(exc.args[0]))
        sys.exit(1)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="LIMIT") from exc
    finally:
        engine.dispose()
    say(f"{record.key_id} ({record.role} for {record.app}): {record.rate_limit or 'no rate limit'}")
