"""``fairwitness content``: the private content kept beside the log."""

from __future__ import annotations

import sys

import click

from service.cli.common import say
from service.cli.log import EXIT_FAILED, instance_log


@click.group()
def content() -> None:
    """Private content kept beside the log (admin; runs with the instance's settings)."""


@content.command("erase")
@click.argument("decision_id")
def content_erase(decision_id: str) -> None:
    """Erase a decision's text, salt, content reference and public excerpt and the
    statements of appeals against it, and log an erasure entry, in one transaction;
    then purge the old copies from the database's files."""
    from audit_log.store import SigningKeyMissing
    from service.clock import system_clock
    from service.domain.erasure import ErasureError, erase_content
    from service.storage.db import purge_erased

    _, log = instance_log()
    try:
        erased = erase_content(decision_id, log=log, clock=system_clock)
        purged = purge_erased(log.engine)
    except (ErasureError, SigningKeyMissing) as exc:
        say(f"refused: {exc}")
        sys.exit(EXIT_FAILED)
    finally:
        log.engine.dispose()
    say(
        f"erased the content of {decision_id}; erasure entry {erased.appended.index} "
        f"is in the tree of size {erased.tree_size}"
    )
    click.echo(erased.body["id"])
    if not purged:
        say(
            "but readers kept SQLite from truncating its write-ahead log: the erased "
            "values stay in the -wal file until a checkpoint completes; run "
            "`sqlite3 DATABASE 'PRAGMA wal_checkpoint(TRUNCATE)'` when the service is quiet"
        )
        sys.exit(EXIT_FAILED)
