"""``fairwitness appeals``: the appeals queue as an operator sees it."""

from __future__ import annotations

import click

from service.cli.common import settings_from_env


@click.group()
def appeals() -> None:
    """Work with appeals."""


@appeals.command("overdue")
def appeals_overdue() -> None:
    """Print how many open appeals are past their decide-by time, then their ids."""
    from service.clock import system_clock
    from service.domain.appeals import overdue_appeals
    from service.storage.db import make_engine

    engine = make_engine(settings_from_env().effective_database_url)
    try:
        with engine.connect() as conn:
            ids = overdue_appeals(conn, system_clock())
    finally:
        engine.dispose()
    click.echo(str(len(ids)))
    for appeal_id in ids:
        click.echo(appeal_id)
