"""Measure the text model on the held-out evaluation sets, beside alt-profanity-check.

Nothing here fits or chooses anything: thresholds come from the artifact (the default
policy's, chosen by a false-positive budget in cross-validation on train), and the peer
is used with its own 0.5 decision rule.
The "abusive" score of a text is the maximum of its toxicity, insult, identity_attack
and threat probabilities; the model calls a text abusive when *any* of those four
reaches its own threshold.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from classifiers import datasets
from classifiers.datasets import ABUSE_LABELS
from classifiers.linear import LinearTextClassifier
from classifiers.marked_block import with_block
from classifiers.spans import SPAN_LABELS, mean_span_f1, predict_offsets

Log = Callable[[str], None]

# The neutral identity terms of the bias-madlibs generator (Jigsaw's
# unintended-ml-bias-analysis, words.csv). Used only to group the evaluation sentences
# by the group they name; longer terms are matched first ("african american" before
# "african").
MADLIBS_IDENTITY_TERMS: tuple[str, ...] = (
    "lesbian", "gay", "bisexual", "transgender", "trans", "cis", "queer", "lgbt", "lgbtq",
    "homosexual", "straight", "heterosexual", "male", "female", "nonbinary", "african",
    "african american", "black", "white", "european", "hispanic", "latino", "latina",
    "latinx", "mexican", "canadian", "american", "asian", "indian", "middle eastern",
    "chinese", "japanese", "christian", "muslim", "jewish", "buddhist", "catholic",
    "protestant", "sikh", "taoist", "old", "older", "young", "younger", "teenage",
    "millenial", "middle aged", "elderly", "blind", "deaf", "paralyzed",
)  # fmt: skip

_TERM_PATTERN = re.compile(
    r"\b("
    + "|".join(re.escape(t) for t in sorted(MADLIBS_IDENTITY_TERMS, key=lambda t: (-len(t), t)))
    + r")\b"
)

BEGIN = "<!-- evaluate:begin (written by `fairwitness classifiers evaluate --markdown`) -->"
END = "<!-- evaluate:end -->"


def identity_term(sentence: str) -> str | None:
    """The madlibs identity term a sentence names (longest match), or None."""
    match = _TERM_PATTERN.search(sentence.lower())
    return match.group(1) if match else None


@dataclass
class Row:
    """One evaluation figure pair: a set, the model score used, and both systems' numbers."""

    dataset: str
    examples: int
    positives: int
    score: str
    auc: float
    f1: float
    peer_auc: float | None
    peer_f1: float | None


@dataclass
class Report:
    """Everything ``evaluate`` measured."""

    rows: list[Row] = field(default_factory=list)
    identity_fpr: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model_version: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)


def load_peer() -> Callable[[Sequence[str]], np.ndarray] | None:
    """alt-profanity-check's ``predict_prob``, or None when it is not installed."""
    try:
        with warnings.catch_warnings():
            # It was pickled with an older scikit-learn; the warning is about that.
            warnings.simplefilter("ignore")
            from profanity_check import predict_prob
    except ImportError:
        return None

    def score(texts: Sequence[str]) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(predict_prob(list(texts)), dtype=np.float64)

    return score


class _Scores:
    """The model's probabilities for a list of texts, with derived scores."""

    def __init__(self, model: LinearTextClassifier, texts: Sequence[str]) -> None:
        self.model = model
        self.matrix = model.probabilities(texts)
        self.columns = {label: i for i, label in enumerate(model.labels)}

    def label(self, name: str) -> np.ndarray:
        if name == "abusive":
            return self.matrix[:, [self.columns[a] for a in ABUSE_LABELS]].max(axis=1)
        return self.matrix[:, self.columns[name]]

    def decision(self, name: str) -> np.ndarray:
        if name == "abusive":
            flags = [
                self.matrix[:, self.columns[a]] >= self.model.thresholds[a] for a in ABUSE_LABELS
            ]
            return np.logical_or.reduce(flags)
        return self.matrix[:, self.columns[name]] >= self.model.thresholds[name]


def _row(
    dataset: str,
    score_name: str,
    targets: np.ndarray,
    scores: _Scores,
    peer: np.ndarray | None,
) -> Row:
    return Row(
        dataset=dataset,
        examples=len(targets),
        positives=int(targets.sum()),
        score=score_name,
        auc=float(roc_auc_score(targets, scores.label(score_name))),
        f1=float(f1_score(targets, scores.decision(score_name))),
        peer_auc=None if peer is None else float(roc_auc_score(targets, peer)),
        peer_f1=None if peer is None else float(f1_score(targets, peer >= 0.5)),
    )


def evaluate(
    model: LinearTextClassifier,
    eval_dir: Path,
    peer: Callable[[Sequence[str]], np.ndarray] | None = None,
    log: Log = lambda message: None,
) -> Report:
    """Score every evaluation set under ``eval_dir`` with ``model`` (and ``peer``)."""
    report = Report(model_version=model.version, thresholds=dict(model.thresholds))
    if peer is None:
        report.notes.append(
            "alt-profanity-check is not installed: peer columns are empty "
            "(pip install alt-profanity-check to fill them)."
        )
    binary_sets: list[tuple[str, Callable[[], list[tuple[str, int]]], tuple[str, ...]]] = [
        ("olid (OFF vs NOT)", lambda: datasets.read_olid_test(eval_dir / "olid"),
         ("toxicity", "abusive")),
        ("convabuse test (abusive)", lambda: datasets.read_convabuse_test(eval_dir / "convabuse"),
         ("abusive", "toxicity")),
        ("kaggle_insults test", lambda: datasets.read_kaggle_insults_test(
            eval_dir / "kaggle_insults"), ("insult", "abusive")),
        ("wikipedia_toxicity", lambda: datasets.read_wikipedia_toxicity(
            eval_dir / "wikipedia_toxicity", fuzzed=False), ("toxicity", "abusive")),
        ("wikipedia_toxicity fuzzed", lambda: datasets.read_wikipedia_toxicity(
            eval_dir / "wikipedia_toxicity", fuzzed=True), ("toxicity", "abusive")),
        ("identity_bias (BAD vs NOT_BAD)", lambda: datasets.read_identity_bias(
            eval_dir / "identity_bias"), ("abusive", "toxicity")),
        ("youtube_spam", lambda: datasets.read_youtube_spam(eval_dir / "youtube_spam"),
         ("spam",)),
    ]  # fmt: skip
    for name, read, score_names in binary_sets:
        pairs = read()
        texts = [text for text, _ in pairs]
        targets = np.array([target for _, target in pairs])
        log(f"{name}: {len(texts)} texts, {int(targets.sum())} positive")
        scores = _Scores(model, texts)
        peer_scores = peer(texts) if peer is not None else None
        for score_name in score_names:
            report.rows.append(_row(name, score_name, targets, scores, peer_scores))
        if name.startswith("identity_bias"):
            report.identity_fpr = _identity_fpr(texts, targets, scores, peer_scores)
    log("toxic_spans: span F1")
    report.spans = _span_figures(model, eval_dir / "toxic_spans")
    return report


def _identity_fpr(
    texts: list[str], targets: np.ndarray, scores: _Scores, peer: np.ndarray | None
) -> dict[str, Any]:
    negatives = targets == 0
    flagged = scores.decision("abusive")
    flagged_toxicity = scores.decision("toxicity")
    terms = np.array([identity_term(text) or "(none)" for text in texts])
    per_term = {}
    for term in sorted(set(terms[negatives])):
        mask = negatives & (terms == term)
        per_term[term] = {
            "n": int(mask.sum()),
            "abusive": float(flagged[mask].mean()),
            "toxicity": float(flagged_toxicity[mask].mean()),
            "peer": None if peer is None else float((peer[mask] >= 0.5).mean()),
        }
    return {
        "n": int(negatives.sum()),
        "abusive": float(flagged[negatives].mean()),
        "toxicity": float(flagged_toxicity[negatives].mean()),
        "peer": None if peer is None else float((peer[negatives] >= 0.5).mean()),
        "per_term": per_term,
    }


def _span_figures(model: LinearTextClassifier, directory: Path) -> dict[str, Any]:
    posts = datasets.read_span_posts(directory)
    golds = [datasets.span_gold_offsets(post) for post in posts]
    predicted = [predict_offsets(model, post.text, SPAN_LABELS) for post in posts]
    return {
        "posts": len(posts),
        "posts_with_gold": sum(1 for gold in golds if gold),
        "f1": mean_span_f1(zip(predicted, golds, strict=True)),
        "f1_on_posts_with_gold": mean_span_f1(
            (p, g) for p, g in zip(predicted, golds, strict=True) if g
        ),
        "empty_baseline_f1": mean_span_f1(((), gold) for gold in golds),
        "labels": list(SPAN_LABELS),
        "explain_min_share": model.metadata.get("explain_min_share"),
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def markdown(report: Report) -> str:
    """The report as markdown tables (the model card's evaluation section)."""
    lines = [
        BEGIN,
        "",
        f"Model `{report.model_version}`. Thresholds (the default policy's, chosen on train "
        "by false-positive budget): "
        + ", ".join(f"{label} {value:.2f}" for label, value in report.thresholds.items())
        + ". Peer: alt-profanity-check `predict_prob`, F1 at its own 0.5 rule, same run.",
        "",
        "| eval set | n (positive) | our score | ROC-AUC | F1 @ threshold "
        "| peer ROC-AUC | peer F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        lines.append(
            f"| {row.dataset} | {row.examples:,} ({row.positives:,}) | {row.score} | "
            f"{row.auc:.3f} | {row.f1:.3f} | {_fmt(row.peer_auc)} | {_fmt(row.peer_f1)} |"
        )
    fpr = report.identity_fpr
    if fpr:
        lines += [
            "",
            f"Identity bias, false-positive rate on the {fpr['n']:,} NOT_BAD sentences: "
            f"abusive (any of {', '.join(ABUSE_LABELS)} at its threshold) "
            f"**{fpr['abusive']:.1%}**, toxicity alone {fpr['toxicity']:.1%}, peer "
            f"{'–' if fpr['peer'] is None else format(fpr['peer'], '.1%')}.",
            "",
            "| identity term | NOT_BAD n | FPR abusive | FPR toxicity | peer FPR |",
            "|---|---|---|---|---|",
        ]
        for term, figures in sorted(
            fpr["per_term"].items(), key=lambda item: (-item[1]["abusive"], item[0])
        ):
            peer = "–" if figures["peer"] is None else f"{figures['peer']:.1%}"
            lines.append(
                f"| {term} | {figures['n']:,} | {figures['abusive']:.1%} | "
                f"{figures['toxicity']:.1%} | {peer} |"
            )
    spans = report.spans
    if spans:
        lines += [
            "",
            f"Toxic spans (SemEval-2021 Task 5 character F1, {spans['posts']:,} posts, "
            f"{spans['posts_with_gold']:,} with gold spans): **{spans['f1']:.3f}** "
            f"(posts with gold spans only: {spans['f1_on_posts_with_gold']:.3f}; predicting "
            f"nothing scores {spans['empty_baseline_f1']:.3f}). Prediction: union of "
            f"`explain` spans for {', '.join(spans['labels'])} where the label reaches its "
            f"threshold, `explain_min_share` {spans['explain_min_share']}. The peer has no "
            "span output.",
        ]
    for note in report.notes:
        lines += ["", f"Note: {note}"]
    lines += ["", END]
    return "\n".join(lines)


def write_markdown(report: Report, path: Path) -> None:
    """Write the tables to ``path``. An existing file keeps everything else: its
    evaluation block (between the begin/end markers) is replaced, or the block is
    appended if it has none."""
    block = markdown(report)
    if not path.exists():
        path.write_text(block + "\n", encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    text = with_block(text, BEGIN, END, block)
    path.write_text(text, encoding="utf-8")
