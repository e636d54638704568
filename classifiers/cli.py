"""``fairwitness classifiers …``: train, score and evaluate the text model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

BATCH = 512


def _progress(message: str) -> None:
    click.echo(message, err=True)


_CLASSIFIER_OPTION = click.option(
    "--classifier",
    "classifier_name",
    type=click.Choice(["text-encoder", "text-linear"]),
    default="text-encoder",
    show_default=True,
    help="Which model to run.",
)

_TRAIN_DATA_OPTION = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The train/ folder of the shared corpora.",
)
_LIMIT_OPTION = click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use at most this many rows per corpus (quick runs; not for the shipped model).",
)
_ENCODER_CACHE_OPTION = click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".cache/text-encoder"),
    show_default=True,
    help="Where embeddings (and, for training, out-of-fold n-gram log-odds) are kept between runs.",
)


def _load(classifier_name: str, model_dir: Path | None) -> Any:
    """The named model; ``model_dir`` replaces its packaged artifact directory."""
    from classifiers.registry import load_named

    if model_dir is None:
        return load_named(classifier_name)
    if classifier_name == "text-linear":
        from classifiers.linear import load_model

        return load_model(model_dir)
    from classifiers.encoder import load_model as load_encoder_model

    return load_encoder_model(model_dir, ngram=load_named("text-linear"))


@click.group(name="classifiers")
def classifiers_cli() -> None:
    """Train, score and evaluate the text models (text-encoder, text-linear)."""


@classifiers_cli.command()
@_TRAIN_DATA_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where model.joblib and MODEL_CARD.md go.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for folds and liblinear.")
@_LIMIT_OPTION
def train(data_dir: Path, out_dir: Path, seed: int, limit: int | None) -> None:
    """Train on DATA and write a byte-reproducible artifact and its card to OUT."""
    from classifiers.train import train_and_save

    _progress(f"training text-linear from {data_dir} (seed {seed}) into {out_dir}")
    digest = train_and_save(data_dir, out_dir, seed=seed, limit=limit, log=_progress)
    click.echo(digest)


@classifiers_cli.command(name="template-scales")
@_TRAIN_DATA_OPTION
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


@classifiers_cli.command(name="train-encoder")
@_TRAIN_DATA_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where heads.joblib and MODEL_CARD.md go.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for folds.")
@_LIMIT_OPTION
@_ENCODER_CACHE_OPTION
def train_encoder(
    data_dir: Path, out_dir: Path, seed: int, limit: int | None, cache_dir: Path
) -> None:
    """Fit the text-encoder heads on DATA (stacked on the packaged text-linear model)."""
    from classifiers.train_encoder import train_and_save

    _progress(f"training text-encoder heads from {data_dir} (seed {seed}) into {out_dir}")
    digest = train_and_save(
        data_dir, out_dir, seed=seed, limit=limit, cache=cache_dir, log=_progress
    )
    click.echo(digest)


@classifiers_cli.command(name="french-ceiling")
@_TRAIN_DATA_OPTION
@_ENCODER_CACHE_OPTION
def french_ceiling(data_dir: Path, cache_dir: Path) -> None:
    """How well each French training corpus can be learnt inside itself (JSON lines)."""
    from threadpoolctl import threadpool_limits

    from classifiers import french_ceiling as measure_module
    from classifiers.sentence_encoder import load_encoder
    from classifiers.train_encoder import CachedEncoder

    with threadpool_limits(limits=1):
        encoder = CachedEncoder(load_encoder(), cache_dir, _progress)
        for result in measure_module.measure(data_dir, lambda texts: encoder.embed(texts)):
            click.echo(json.dumps(result, ensure_ascii=False))


@classifiers_cli.command()
@_CLASSIFIER_OPTION
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Model directory (default: the packaged one).",
)
@click.option(
    "--detect-language/--no-detect-language",
    default=True,
    show_default=True,
    help="Detect the language of a text that states none, as the service does.",
)
def score(classifier_name: str, model_dir: Path | None, detect_language: bool) -> None:
    """Read JSON lines {"text": ..., "language": ...} on stdin; write {"scores": {...},
    "language": {...}} lines in order.

    "language", a BCP 47 tag, is optional: without it the language is detected, as the
    service detects it for a decision, so a text scores here as it would be judged there
    (--no-detect-language leaves it unknown, and the answer's "language" null)."""
    from classifiers.language import Language, language_of

    model = _load(classifier_name, model_dir)
    pending: list[str] = []
    languages: list[Language | None] = []

    def flush() -> None:
        tags = [language.tag if language else None for language in languages]
        for scores, language in zip(model.score(pending, tags), languages, strict=True):
            answer = {"scores": scores, "language": language.as_body() if language else None}
            sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        pending.clear()
        languages.clear()

    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise click.ClickException(f"line {number}: not JSON ({error.msg})") from error
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise click.ClickException(f'line {number}: expected an object with a "text" string')
        stated = item.get("language")
        if not isinstance(stated, str | None):
            raise click.ClickException(f'line {number}: "language" must be a string')
        pending.append(item["text"])
        if stated is None and not detect_language:
            languages.append(None)
        else:
            languages.append(language_of(item["text"], stated))
        if len(pending) >= BATCH:
            flush()
    flush()


@classifiers_cli.command()
@_CLASSIFIER_OPTION
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
    help="Model directory (default: the packaged one).",
)
@click.option(
    "--baseline",
    type=click.Choice(["text-linear", "none"]),
    default="text-linear",
    show_default=True,
    help="A second model measured beside the first (skipped when it is the same).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep text-encoder embeddings here between runs (e.g. .cache/text-encoder).",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the tables here (replacing the evaluation block if the file has one).",
)
def evaluate(
    classifier_name: str,
    eval_dir: Path,
    model_dir: Path | None,
    baseline: str,
    cache_dir: Path | None,
    markdown_path: Path | None,
) -> None:
    """Measure the model on every eval set beside text-linear and alt-profanity-check,
    with bootstrap 95% confidence intervals."""
    from classifiers import evaluate as evaluation
    from classifiers.registry import load_named

    model = _load(classifier_name, model_dir)
    if cache_dir is not None and hasattr(model, "encoder"):
        from classifiers.train_encoder import CachedEncoder

        model = model.with_encoder(CachedEncoder(model.encoder, cache_dir, _progress))
    second = None if baseline == "none" or baseline == classifier_name else load_named(baseline)
    peer = evaluation.load_peer()
    if peer is None:
        _progress("alt-profanity-check is not installed; the peer columns will be empty")
    report = evaluation.evaluate(model, eval_dir, peer=peer, baseline=second, log=_progress)
    text = evaluation.markdown(report)
    click.echo(text)
    if markdown_path is not None:
        evaluation.write_markdown(report, markdown_path)
        _progress(f"wrote {markdown_path}")
