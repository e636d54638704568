"""What every ``fairwitness`` command shares: the instance's settings and where messages go."""

from __future__ import annotations

import click

from service.config import Settings


def settings_from_env() -> Settings:
    return Settings.from_env()


def say(message: str) -> None:
    """A message for the person at the terminal (stderr); stdout stays for results."""
    click.echo(message, err=True)
