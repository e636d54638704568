"""``fairwitness policy``: check policy files against their own examples."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli.common import say


@click.group()
def policy() -> None:
    """Work with policy files."""


@policy.command("test")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def policy_test(directory: Path) -> None:
    """Run every rule's examples; exit 1 naming each rule and example that misses."""
    from policies.examples import check_examples
    from policies.load import PolicyError, load_policy_dir
    from service.domain.language import detect
    from service.runtime import build_judges

    try:
        judges = build_judges(load_policy_dir(directory))
    except PolicyError as exc:
        say(str(exc))
        sys.exit(2)
    failures = []
    total = 0
    for judge in judges.values():
        total += sum(len(r.examples.match) + len(r.examples.no_match) for r in judge.policy.rules)
        classifier = judge.classifier
        failures += check_examples(
            judge.policy,
            # Each example in its detected language, as the service would score it.
            lambda texts, classifier=classifier: classifier.score(
                texts, [detect(text) for text in texts]
            ),
        )
    for failure in failures:
        click.echo(f"FAIL {failure.describe()}")
    click.echo(f"{total - len(failures)} of {total} examples pass in {len(judges)} policies")
    if failures:
        sys.exit(1)
