"""Measure a text model on the held-out evaluation sets, beside a baseline model
(text-linear) and alt-profanity-check, with bootstrap 95% confidence intervals.

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

from classifiers import context_templates, datasets
from classifiers.datasets import ABUSE_LABELS
from classifiers.language import detect
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

CONTEXT_SETS = {
    "context sentences held out (English)": "en",
    "context sentences held out (French)": "fr",
}
"""Our held-out context sentences (``context_templates.validation_examples``: patterns,
groups, topics and words never trained on), one set per language; they travel with the
code, not with the evaluation directory."""
FRENCH_SETS = {
    "mlma_fr (hostile vs normal, French)": "fr",
    "ftr_fr (racist, French)": "fr",
    **{name: language for name, language in CONTEXT_SETS.items() if language != "en"},
}
"""The evaluation sets not in English, with their language (the others are ``en``)."""

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
    auc_ci: tuple[float, float] = (float("nan"), float("nan"))
    peer_auc_ci: tuple[float, float] | None = None
    baseline_auc: float | None = None
    baseline_auc_ci: tuple[float, float] | None = None
    baseline_f1: float | None = None


@dataclass
class Report:
    """Everything ``evaluate`` measured."""

    rows: list[Row] = field(default_factory=list)
    identity_fpr: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model_version: str = ""
    model_name: str = ""
    baseline_name: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)


BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def context_pairs(language: str) -> list[tuple[str, int]]:
    """The held-out context sentences in ``language`` as ``(text, abusive)``."""
    return [
        (example.text, example.targets["toxicity"])
        for example, _, number in context_templates.validation_examples()
        if context_templates.language_of_number(number) == language
    ]


def bootstrap_auc_interval(
    targets: np.ndarray,
    scores: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile 95% interval of ROC-AUC over bootstrap resamples of the rows.

    Each resample is a vector of row multiplicities; AUC is computed from them over the
    scores' sorted distinct values (ties count half), in O(n) per resample. The same seed
    draws the same resamples for every system measured on one set, so intervals are paired.
    """
    targets = np.asarray(targets)
    n = len(targets)
    _, group = np.unique(scores, return_inverse=True)
    groups = int(group.max()) + 1
    positive = targets == 1
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(resamples):
        weight = np.bincount(rng.randint(0, n, n), minlength=n).astype(np.float64)
        pos = np.bincount(group[positive], weights=weight[positive], minlength=groups)
        neg = np.bincount(group[~positive], weights=weight[~positive], minlength=groups)
        total = pos.sum() * neg.sum()
        if total == 0:
            continue
        below = np.cumsum(neg) - neg
        values.append(float((pos * (below + 0.5 * neg)).sum() / total))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion ``hits / n``."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


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

    def __init__(self, model: Any, texts: Sequence[str], languages: Sequence[str]) -> None:
        self.model = model
        self.matrix: np.ndarray = model.probabilities(texts, list(languages))
        self.columns = {label: i for i, label in enumerate(model.labels)}

    def label(self, name: str) -> np.ndarray:
        scores: np.ndarray = (
            self.matrix[:, [self.columns[a] for a in ABUSE_LABELS]].max(axis=1)
            if name == "abusive"
            else self.matrix[:, self.columns[name]]
        )
        return scores

    def decision(self, name: str) -> np.ndarray:
        if name == "abusive":
            flags = [
                self.matrix[:, self.columns[a]] >= self.model.thresholds[a] for a in ABUSE_LABELS
            ]
            flagged: np.ndarray = np.logical_or.reduce(flags)
            return flagged
        decided: np.ndarray = self.matrix[:, self.columns[name]] >= self.model.thresholds[name]
        return decided


def _row(
    dataset: str,
    score_name: str,
    targets: np.ndarray,
    scores: _Scores,
    peer: np.ndarray | None,
    baseline: _Scores | None = None,
) -> Row:
    ours = scores.label(score_name)
    row = Row(
        dataset=dataset,
        examples=len(targets),
        positives=int(targets.sum()),
        score=score_name,
        auc=float(roc_auc_score(targets, ours)),
        f1=float(f1_score(targets, scores.decision(score_name))),
        peer_auc=None if peer is None else float(roc_auc_score(targets, peer)),
        peer_f1=None if peer is None else float(f1_score(targets, peer >= 0.5)),
        auc_ci=bootstrap_auc_interval(targets, ours),
        peer_auc_ci=None if peer is None else bootstrap_auc_interval(targets, peer),
    )
    if baseline is not None:
        theirs = baseline.label(score_name)
        row.baseline_auc = float(roc_auc_score(targets, theirs))
        row.baseline_auc_ci = bootstrap_auc_interval(targets, theirs)
        row.baseline_f1 = float(f1_score(targets, baseline.decision(score_name)))
    return row


def evaluate(
    model: Any,
    eval_dir: Path,
    peer: Callable[[Sequence[str]], np.ndarray] | None = None,
    log: Log = lambda message: None,
    baseline: Any | None = None,
) -> Report:
    """Score every evaluation set under ``eval_dir`` with ``model`` (and ``baseline``,
    another model with the same labels, and ``peer``)."""
    report = Report(
        model_version=model.version,
        model_name=model.name,
        baseline_name=None if baseline is None else baseline.name,
        thresholds=dict(model.thresholds),
    )
    if peer is None:
        report.notes.append(
            "alt-profanity-check is not installed: peer columns are empty "
            "(pip install alt-profanity-check to fill them)."
        )
    # Each set is scored in its language, as the service scores a text whose language it
    # knows (stated or detected).
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
        ("mlma_fr (hostile vs normal, French)", lambda: datasets.read_mlma_fr_test(
            eval_dir / "mlma_fr"), ("abusive", "toxicity")),
        ("ftr_fr (racist, French)", lambda: datasets.read_ftr_fr_test(eval_dir / "ftr_fr"),
         ("identity_attack", "abusive")),
        *((name, lambda language=language: context_pairs(language), ("abusive",))
          for name, language in CONTEXT_SETS.items()),
    ]  # fmt: skip
    for name, read, score_names in binary_sets:
        language = FRENCH_SETS.get(name, "en")
        pairs = read()
        texts = [text for text, _ in pairs]
        targets = np.array([target for _, target in pairs])
        log(f"{name}: {len(texts)} texts, {int(targets.sum())} positive")
        passes = [(name, [language] * len(texts))]
        if language != "en":
            # Also as the service scores them when the client states no language: by the
            # detected one, which sends a text the detector misses to the shared heads.
            passes.append((f"{name}, language detected", [detect(text) for text in texts]))
        peer_scores = peer(texts) if peer is not None else None
        for row_name, languages in passes:
            scores = _Scores(model, texts, languages)
            baseline_scores = None if baseline is None else _Scores(baseline, texts, languages)
            for score_name in score_names:
                report.rows.append(
                    _row(row_name, score_name, targets, scores, peer_scores, baseline_scores)
                )
            if name.startswith("identity_bias"):
                report.identity_fpr = _identity_fpr(
                    texts, targets, scores, peer_scores, baseline_scores
                )
    log("toxic_spans: span F1")
    report.spans = _span_figures(model, eval_dir / "toxic_spans")
    return report


def _identity_fpr(
    texts: list[str],
    targets: np.ndarray,
    scores: _Scores,
    peer: np.ndarray | None,
    baseline: _Scores | None = None,
) -> dict[str, Any]:
    negatives = targets == 0
    flagged = scores.decision("abusive")
    baseline_flagged = None if baseline is None else baseline.decision("abusive")
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
        "abusive_ci": wilson_interval(int(flagged[negatives].sum()), int(negatives.sum())),
        "baseline_abusive": None
        if baseline_flagged is None
        else float(baseline_flagged[negatives].mean()),
        "abusive": float(flagged[negatives].mean()),
        "toxicity": float(flagged_toxicity[negatives].mean()),
        "peer": None if peer is None else float((peer[negatives] >= 0.5).mean()),
        "per_term": per_term,
    }


def _span_figures(model: Any, directory: Path) -> dict[str, Any]:
    posts = datasets.read_span_posts(directory)
    golds = [datasets.span_gold_offsets(post) for post in posts]
    # Every post scored in one call first, so an encoder that caches its embeddings on
    # disk computes and stores them once, not once per post.
    model.score([post.text for post in posts])
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


def _with_ci(value: float | None, interval: tuple[float, float] | None) -> str:
    if value is None or interval is None:
        return "–"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def markdown(report: Report) -> str:
    """The report as markdown tables (the model card's evaluation section)."""
    lines = [
        BEGIN,
        "",
        f"Model {report.model_name} `{report.model_version}`. Thresholds (the default "
        "policy's, chosen on train by false-positive budget): "
        + ", ".join(f"{label} {value:.2f}" for label, value in report.thresholds.items())
        + f". Baseline: {report.baseline_name or '–'} at its own thresholds. Peer: "
        "alt-profanity-check `predict_prob`, F1 at its own 0.5 rule, same run. Brackets: "
        f"bootstrap 95% intervals ({BOOTSTRAP_RESAMPLES} resamples, paired across systems).",
        "",
        "| eval set | n (positive) | score | ROC-AUC [95% CI] | F1 @ threshold "
        "| baseline ROC-AUC [95% CI] | baseline F1 | peer ROC-AUC [95% CI] | peer F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        lines.append(
            f"| {row.dataset} | {row.examples:,} ({row.positives:,}) | {row.score} | "
            f"{_with_ci(row.auc, row.auc_ci)} | {row.f1:.3f} | "
            f"{_with_ci(row.baseline_auc, row.baseline_auc_ci)} | {_fmt(row.baseline_f1)} | "
            f"{_with_ci(row.peer_auc, row.peer_auc_ci)} | {_fmt(row.peer_f1)} |"
        )
    fpr = report.identity_fpr
    if fpr:
        lines += [
            "",
            f"Identity bias, false-positive rate on the {fpr['n']:,} NOT_BAD sentences: "
            f"abusive (any of {', '.join(ABUSE_LABELS)} at its threshold) "
            f"**{fpr['abusive']:.1%}** [{fpr['abusive_ci'][0]:.1%}, {fpr['abusive_ci'][1]:.1%}]"
            f", toxicity alone {fpr['toxicity']:.1%}, baseline "
            f"{'–' if fpr['baseline_abusive'] is None else format(fpr['baseline_abusive'], '.1%')}"
            f", peer {'–' if fpr['peer'] is None else format(fpr['peer'], '.1%')}.",
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
