"""``fairwitness classifiers score``: JSON lines in, scores out, in order."""

from __future__ import annotations

import json

from click.testing import CliRunner

from classifiers.cli import classifiers_cli
from classifiers.linear import default_model_dir, load_model

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
        assert set(line) == {"scores"}
        assert line["scores"] == scores


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
