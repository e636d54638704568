"""``fairwitness policy``: check policy files against their own examples."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli.common import say

if TYPE_CHECKING:
    from classifiers.protocol import Classifier


@click.group()
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
        say(str(exc))
        sys.exit(2)
    failures = []
    total = 0
    for judge in judges.values():
        total += sum(len(r.examples.match) + len(r.examples.no_match) for r in judge.policy.rules)
        failures += check_examples(judge.policy, partial(_score_as_served, judge.classifier))
    for failure in failures:
        click.echo(f"FAIL {failure.describe()}")
    click.echo(f"{total - len(failures)} of {total} examples pass in {len(judges)} policies")
    if failures:
        sys.exit(1)


def _score_as_served(classifier: Classifier, texts: Sequence[str]) -> list[dict[str, float]]:
    """Scores for ``texts``, each in its detected language, as the service scores them."""
    from classifiers.language import language_of

    return classifier.score(texts, [language_of(text, None).tag for text in texts])
