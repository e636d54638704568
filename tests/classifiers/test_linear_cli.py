"""``fairwitness classifiers score``: JSON lines in, scores out, in order."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from classifiers.cli import classifiers_cli
from classifiers.language import DETECTOR
from classifiers.linear import default_model_dir, load_model
from classifiers.registry import load_named

TEXTS = ["you are a stupid idiot", "thanks, see you at lunch", "", "🙂 ok"]


def test_score_reads_json_lines_and_answers_in_order() -> None:
    stdin = "\n".join(json.dumps({"text": text}) for text in TEXTS) + "\n"
    result = CliRunner().invoke(
        classifiers_cli, ["score", "--classifier", "text-linear"], input=stdin
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(TEXTS)
    expected = load_model(default_model_dir()).score(TEXTS)
    for line, scores in zip(lines, expected, strict=True):
        assert set(line) == {"scores", "language"}
        assert line["scores"] == scores


def test_a_text_without_a_language_is_scored_in_the_detected_one() -> None:
    # As the service judges it: the same French heads, and the answer says how the
    # language became known.
    text = "Ces gens-là sont des rats, il faut les chasser du pays."
    lines = [
        {"text": text},
        {"text": text, "language": "fr"},
        {"text": text, "language": "en"},
        {"text": "thanks, see you at lunch"},
    ]
    result = CliRunner().invoke(
        classifiers_cli, ["score"], input="\n".join(map(json.dumps, lines)) + "\n"
    )
    assert result.exit_code == 0, result.output
    detected, stated_fr, stated_en, english = map(json.loads, result.stdout.splitlines())
    assert detected["language"] == {
        "tag": "fr",
        "source": "detected",
        "detector": DETECTOR,
    }
    assert stated_fr["language"] == {"tag": "fr", "source": "stated"}
    # The same text at two places in one batch: the same scores to the batch tolerance.
    assert detected["scores"] == pytest.approx(stated_fr["scores"], abs=1e-6)
    assert stated_en["scores"] != pytest.approx(stated_fr["scores"], abs=1e-3)
    assert english["language"]["tag"] == "en"
    model = load_named("text-encoder")
    # Alone or in a batch, a text scores the same to within 1e-6 (the model card).
    assert detected["scores"] == pytest.approx(model.score([text], ["fr"])[0], abs=1e-6)


def test_without_detection_a_text_states_its_language_or_has_none() -> None:
    text = "Ces gens-là sont des rats, il faut les chasser du pays."
    result = CliRunner().invoke(
        classifiers_cli, ["score", "--no-detect-language"], input=json.dumps({"text": text})
    )
    assert result.exit_code == 0, result.output
    (line,) = map(json.loads, result.stdout.splitlines())
    assert line["language"] is None
    assert line["scores"] == pytest.approx(load_named("text-encoder").score([text])[0], abs=1e-6)


def test_score_skips_blank_lines() -> None:
    stdin = '\n{"text": "hello there"}\n\n'
    result = CliRunner().invoke(classifiers_cli, ["score"], input=stdin)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1


def test_score_rejects_a_line_without_text() -> None:
    result = CliRunner().invoke(classifiers_cli, ["score"], input='{"body": "x"}\n')
    assert result.exit_code != 0
    assert "line 1" in result.output


def test_score_rejects_malformed_json() -> None:
    result = CliRunner().invoke(classifiers_cli, ["score"], input='{"text": \n')
    assert result.exit_code != 0
    assert "not JSON" in result.output


def test_the_group_is_named_for_mounting() -> None:
    assert classifiers_cli.name == "classifiers"
    assert set(classifiers_cli.commands) == {
        "train",
        "train-encoder",
        "score",
        "evaluate",
        "template-scales",
        "french-ceiling",
    }
