"""``fairwitness webhooks``: send the webhook events waiting in the outbox."""

from __future__ import annotations

import sys

import click

from service.cli.common import say, settings_from_env


@click.group()
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
    from service.delivery.webhooks import deliver_due, log_pass_failure, make_sender
    from service.storage.db import make_engine
    from service.storage.failures import is_storage_failure

    settings = settings_from_env()
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
                say(" ".join(f"{k}={v}" for k, v in counts.items()))
            if once:
                return
            time.sleep(interval)
    finally:
        engine.dispose()
