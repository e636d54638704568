"""The ``fairwitness`` command: thin wrappers over the functions the HTTP API calls.

Results a script may capture go to stdout; messages go to stderr.
"""

from __future__ import annotations

import os

import click

from classifiers.cli import classifiers_cli
from service.cli.appeals import appeals
from service.cli.content import content
from service.cli.instance import init, serve
from service.cli.keys import keys
from service.cli.log import log, verify
from service.cli.policies import policy
from service.cli.webhooks import webhooks


@click.group()
def main() -> None:
    """Fair Witness: transparent moderation with a verifiable public log."""
    from service.jsonlog import configure_logging

    # Key actions and other events go to stderr as JSON lines; stdout stays for results.
    configure_logging()
    # Whatever a command creates (database, keys, key files) is for this user alone.
    os.umask(0o077)


for command in (
    init,
    serve,
    keys,
    policy,
    log,
    verify,
    content,
    appeals,
    webhooks,
    classifiers_cli,
):
    main.add_command(command)
