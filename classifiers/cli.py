"""``fairwitness classifiers …``: train, score and evaluate the text model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

BATCH = 512


def _progress(message: str) -> None:
    click.echo(message, err=True)


@click.group(name="classifiers")
def classifiers_cli() -> None:
    """Train, score and evaluate the text-linear model."""


@classifiers_cli.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The train/ folder of the shared corpora.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where model.joblib and MODEL_CARD.md go.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for folds and liblinear.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use at most this many rows per corpus (quick runs; not for the shipped model).",
)
def train(data_dir: Path, out_dir: Path, seed: int, limit: int | None) -> None:
    """Train on DATA and write a byte-reproducible artifact and its card to OUT."""
    from classifiers.train import train_and_save

    _progress(f"training text-linear from {data_dir} (seed {seed}) into {out_dir}")
    digest = train_and_save(data_dir, out_dir, seed=seed, limit=limit, log=_progress)
    click.echo(digest)


@classifiers_cli.command(name="template-scales")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The train/ folder of the shared corpora.",
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Model whose per-label settings to keep (default: the packaged model).",
)
@click.option("--scale", "scales", type=float, multiple=True, help="Scales to try (repeatable).")
def template_scales(data_dir: Path, model_dir: Path | None, scales: tuple[float, ...]) -> None:
    """Compare identity-template weight scales by cross-validation on DATA (train only)."""
    from classifiers import template_scale
    from classifiers.linear import load_model
    from classifiers.train import Setting

    model = load_model(model_dir)
    chosen_before = model.metadata["cross_validation"]
    settings = {label: Setting(cv["c"], cv["nb"]) for label, cv in chosen_before.items()}
    results = template_scale.compare_scales(
        data_dir, settings, scales or template_scale.CANDIDATES, log=_progress
    )
    click.echo(template_scale.markdown(results))
    chosen = template_scale.choose(results)
    click.echo(f"\nchosen scale: {'none passes' if chosen is None else f'{chosen:g}'}")


@classifiers_cli.command()
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Model directory (default: the packaged text-linear model).",
)
def score(model_dir: Path | None) -> None:
    """Read JSON lines {"text": ...} on stdin; write {"scores": {...}} lines in order."""
    from classifiers.linear import load_model

    model = load_model(model_dir)
    pending: list[str] = []

    def flush() -> None:
        for scores in model.score(pending):
            sys.stdout.write(json.dumps({"scores": scores}) + "\n")
        sys.stdout.flush()
        pending.clear()

    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise click.ClickException(f"line {number}: not JSON ({error.msg})") from error
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise click.ClickException(f'line {number}: expected an object with a "text" string')
        pending.append(item["text"])
        if len(pending) >= BATCH:
            flush()
    flush()


@classifiers_cli.command()
@click.option(
    "--data",
    "eval_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The eval/ folder of the shared corpora.",
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Model directory (default: the packaged text-linear model).",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the tables here (replacing the evaluation block if the file has one).",
)
def evaluate(eval_dir: Path, model_dir: Path | None, markdown_path: Path | None) -> None:
    """Measure the model on every eval set beside alt-profanity-check."""
    from classifiers import evaluate as evaluation
    from classifiers.linear import load_model

    model = load_model(model_dir)
    peer = evaluation.load_peer()
    if peer is None:
        _progress("alt-profanity-check is not installed; the peer columns will be empty")
    report = evaluation.evaluate(model, eval_dir, peer=peer, log=_progress)
    text = evaluation.markdown(report)
    click.echo(text)
    if markdown_path is not None:
        evaluation.write_markdown(report, markdown_path)
        _progress(f"wrote {markdown_path}")
