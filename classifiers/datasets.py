"""Readers for the labelled moderation corpora, and the mapping from each corpus's own
labels onto ours.

Every reader returns :class:`Example` rows whose ``targets`` hold only the labels that
the corpus actually speaks to. A label a corpus is silent about is absent, never 0: the
trainer fits one binary model per label on the rows that carry that label. The mapping
is written out, with the reasons, in ``classifiers/models/text-linear/MODEL_CARD.md``.

The file layout is the one under ``/work/shared/data/{train,eval}`` (see its README).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LABELS: tuple[str, ...] = (
    "toxicity",
    "insult",
    "threat",
    "identity_attack",
    "profanity",
    "spam",
)
"""Every label the text model scores, in artifact order."""

ABUSE_LABELS: tuple[str, ...] = ("toxicity", "insult", "identity_attack", "threat")
"""The labels whose maximum is the "abusive" score used against binary abuse sets."""

_ABUSE_NEGATIVE = {"toxicity": 0, "insult": 0, "threat": 0, "identity_attack": 0, "profanity": 0}

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class Example:
    """One text with the labels its source corpus assigns to it (0 or 1 each)."""

    text: str
    source: str
    targets: dict[str, int]


@dataclass(frozen=True)
class SpanPost:
    """A Toxic Spans post with every annotator's typed character spans.

    ``annotations`` holds one entry per annotator: the flags they ticked and their spans
    as ``(type, start, end)`` with ``end`` exclusive.
    """

    comment_id: int
    text: str
    annotations: list[SpanAnnotation] = field(default_factory=list)


@dataclass(frozen=True)
class SpanAnnotation:
    """One annotator's answer for one Toxic Spans post."""

    all_toxic: bool
    not_toxic: bool
    spans: tuple[tuple[str, int, int], ...]


def _read_csv(path: Path, delimiter: str = ",", header: bool = True) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        if delimiter == "\t":
            rows = list(csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE))
        else:
            rows = list(csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL))
    return rows[1:] if header else rows


def _read_dicts(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- Davidson et al. 2017 -----------------------------------------------------------------


def read_davidson(directory: Path) -> list[Example]:
    """Davidson tweets: hate speech, offensive language or neither, by majority vote.

    * toxicity: hate or offensive → 1, neither → 0.
    * identity_attack: hate-speech majority → 1; no annotator chose hate speech → 0;
      a minority chose it → left out (the crowd disagreed about the very thing).
    * profanity: offensive → 1 (the paper's "offensive" class is profane or
      slur-laden language used without hateful intent), neither → 0, hate → left out.
    * insult, threat: neither → 0 (not offensive at all); the other classes are left
      out because the scheme does not separate insults or threats.
    """
    examples = []
    for row in _read_csv(directory / "labeled_data.csv"):
        hate_votes, klass, text = int(row[2]), row[5], row[6]
        if klass == "2":
            targets = dict(_ABUSE_NEGATIVE)
            if hate_votes:
                del targets["identity_attack"]
        else:
            targets = {"toxicity": 1}
            if klass == "0":
                targets["identity_attack"] = 1
            else:
                targets["profanity"] = 1
                if hate_votes == 0:
                    targets["identity_attack"] = 0
        examples.append(Example(text, "davidson", targets))
    return examples


# --- OLID (OffensEval 2019) -------------------------------------------------------------------


def olid_targets(level_a: str, level_b: str) -> dict[str, int]:
    """Map OLID's hierarchical labels onto ours.

    NOT (no offence, no profanity) is a negative for every abuse label. OFF → toxicity.
    UNT (untargeted profanity) → profanity 1 and insult/threat/identity_attack 0.
    TIN (targeted insult *or threat*) → insult 1; it says nothing we can use about
    threat (the two are merged) or identity_attack (targets include political groups).
    """
    if level_a == "NOT":
        return dict(_ABUSE_NEGATIVE)
    targets = {"toxicity": 1}
    if level_b == "UNT":
        targets.update(profanity=1, insult=0, threat=0, identity_attack=0)
    elif level_b == "TIN":
        targets["insult"] = 1
    return targets


def read_olid(directory: Path) -> list[Example]:
    """OLID v1.0 training tweets, mapped by :func:`olid_targets`."""
    return [
        Example(row[1], "olid", olid_targets(row[2], row[3]))
        for row in _read_csv(directory / "olid-training-v1.0.tsv", delimiter="\t")
    ]


def read_olid_test(directory: Path) -> list[tuple[str, int]]:
    """OLID level-A test tweets as ``(text, 1 if OFF)``."""
    gold = {row[0]: row[1] for row in _read_csv(directory / "labels-levela.csv")}
    rows = _read_csv(directory / "testset-levela.tsv", delimiter="\t")
    return [(row[1], int(gold[row[0]] == "OFF")) for row in rows]


# --- Toxic Spans (SemEval-2021 Task 5 / ACL 2022) -------------------------------------------

_SPAN_TYPES = {
    "Insult": "insult",
    "Threat": "threat",
    "Identity based Attack": "identity_attack",
    "Profane/Obscene": "profanity",
}
_MAX_REAL_ANNOTATORS = 10  # the one post with hundreds of answers is an annotator quiz


def read_span_posts(directory: Path) -> list[SpanPost]:
    """Every Toxic Spans post with its per-annotator spans, quiz posts excluded."""
    spans: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for row in _read_dicts(directory / "data_spans.csv"):
        spans[row["annotation"]].append((row["type"].strip(), int(row["start"]), int(row["end"])))
    answers: dict[str, list[SpanAnnotation]] = defaultdict(list)
    for row in _read_dicts(directory / "data_annotations.csv"):
        answers[row["comment_id"]].append(
            SpanAnnotation(
                all_toxic=row["all toxic"] == "True",
                not_toxic=row["not toxic"] == "True",
                spans=tuple(sorted(spans.get(row["annotation"], ()))),
            )
        )
    posts = []
    for row in _read_dicts(directory / "data_comments.csv"):
        given = answers.get(row["comment_id"], [])
        if 0 < len(given) <= _MAX_REAL_ANNOTATORS:
            posts.append(SpanPost(int(row["comment_id"]), row["comment_text"], given))
    return posts


def span_post_targets(post: SpanPost) -> dict[str, int]:
    """Post-level insult/threat/identity_attack/profanity from typed spans.

    Only annotators who marked at least one span vote: in this export the "all toxic"
    and "not toxic" tick-boxes are both set on almost every span-less answer, so such an
    answer cannot be read either way. A type is 1 when at least two voters marked a span
    of it, 0 when at least two voters marked spans and none of that type, and otherwise
    left out. Toxicity is left out: every post was preselected as toxic by Civil
    Comments raters, so the corpus has no negatives for it.
    """
    voters = [{kind for kind, _, _ in answer.spans} for answer in post.annotations if answer.spans]
    targets = {}
    for kind, label in _SPAN_TYPES.items():
        votes = sum(kind in marked for marked in voters)
        if votes >= 2:
            targets[label] = 1
        elif votes == 0 and len(voters) >= 2:
            targets[label] = 0
    return targets


def span_gold_offsets(post: SpanPost) -> list[int]:
    """Ground-truth toxic character offsets, as SemEval-2021 Task 5 built them.

    An offset is toxic when more than half of the post's annotators included it in a
    span of any type.
    """
    counts: dict[int, int] = defaultdict(int)
    for answer in post.annotations:
        covered: set[int] = set()
        for _, start, end in answer.spans:
            covered.update(range(max(start, 0), min(end, len(post.text))))
        for offset in covered:
            counts[offset] += 1
    half = len(post.annotations) / 2
    return sorted(offset for offset, count in counts.items() if count > half)


def read_toxic_spans(directory: Path) -> list[Example]:
    """Toxic Spans training posts with the labels of :func:`span_post_targets`."""
    examples = []
    for post in read_span_posts(directory):
        targets = span_post_targets(post)
        if targets:
            examples.append(Example(post.text, "toxic_spans", targets))
    return examples


# --- ConvAbuse (Cercas Curry et al. 2021) ---------------------------------------------------

_CONVABUSE_LEAD = 7  # example_id … bot
_CONVABUSE_GROUP = 17  # columns per annotator
_CONVABUSE_SEVERITY = (1, 0, -1, -2, -3)
_CONVABUSE_IDENTITY = (0, 1, 3, 4, 6)  # ableist, homophobic, racist, sexist, transphobic
_CONVABUSE_INTELLECTUAL = 2


@dataclass(frozen=True)
class ConvAbuseVote:
    """One annotator's judgement of a user utterance."""

    abusive: bool
    identity: bool
    intellectual: bool


def _flag(cell: str) -> float:
    # Repeat annotations are stored as "1, 0": read them as the annotator's mean answer.
    parts = [int(part) for part in cell.split(",") if part.strip()]
    return sum(parts) / len(parts) if parts else 0.0


def read_convabuse_votes(path: Path) -> list[tuple[str, list[ConvAbuseVote]]]:
    """User utterances with one vote per annotator who labelled them.

    Columns are read by position: the published header repeats some annotator names.
    """
    result = []
    for row in _read_csv(path):
        votes = []
        for first in range(_CONVABUSE_LEAD, len(row), _CONVABUSE_GROUP):
            group = row[first : first + _CONVABUSE_GROUP]
            severity = [_flag(cell) for cell in group[:5]]
            if not any(severity):
                continue
            mean_severity = sum(
                weight * value for weight, value in zip(_CONVABUSE_SEVERITY, severity, strict=True)
            ) / sum(severity)
            types = [_flag(cell) for cell in group[5:12]]
            votes.append(
                ConvAbuseVote(
                    abusive=mean_severity < 0,
                    identity=any(types[i] >= 0.5 for i in _CONVABUSE_IDENTITY),
                    intellectual=types[_CONVABUSE_INTELLECTUAL] >= 0.5,
                )
            )
        if votes:
            result.append((row[5], votes))
    return result


def convabuse_is_abusive(votes: list[ConvAbuseVote]) -> bool:
    """Majority vote: abusive when more than half the annotators chose -1, -2 or -3."""
    return 2 * sum(vote.abusive for vote in votes) > len(votes)


def convabuse_targets(votes: list[ConvAbuseVote]) -> dict[str, int]:
    """toxicity = majority abusive; identity_attack from the identity-based abuse types;
    insult from the "intellectual" type (attacks on someone's intelligence).

    A type is 1 when more than half of all annotators chose it, 0 when nobody did
    (for insult: only when the utterance is also not abusive, since other abusive
    types may be insults too), and otherwise left out.
    """
    abusive = convabuse_is_abusive(votes)
    targets = {"toxicity": int(abusive)}
    identity = sum(vote.identity for vote in votes)
    if 2 * identity > len(votes):
        targets["identity_attack"] = 1
    elif identity == 0:
        targets["identity_attack"] = 0
    intellectual = sum(vote.intellectual for vote in votes)
    if 2 * intellectual > len(votes):
        targets["insult"] = 1
    elif intellectual == 0 and not abusive:
        targets["insult"] = 0
    return targets


def read_convabuse(directory: Path) -> list[Example]:
    """ConvAbuse train and validation splits (the test split is for evaluation)."""
    examples = []
    for name in ("ConvAbuseEMNLPtrain.csv", "ConvAbuseEMNLPvalid.csv"):
        for text, votes in read_convabuse_votes(directory / name):
            examples.append(Example(text, "convabuse", convabuse_targets(votes)))
    return examples


def read_convabuse_test(directory: Path) -> list[tuple[str, int]]:
    """ConvAbuse test utterances as ``(text, 1 if abusive by majority vote)``."""
    return [
        (text, int(convabuse_is_abusive(votes)))
        for text, votes in read_convabuse_votes(directory / "ConvAbuseEMNLPtest.csv")
    ]


# --- Kaggle "Detecting Insults in Social Commentary" ----------------------------------------

_ESCAPED = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[nrt'\"\\])")


def unescape_kaggle(raw: str) -> str:
    """Undo the Kaggle insults export: a quoted, Python-escaped string, sometimes
    escaped twice, whose ``\\xNN`` runs are often UTF-8 bytes."""
    text = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    for _ in range(2):
        if not _ESCAPED.search(text):
            break
        try:
            text = codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")
        except UnicodeDecodeError:
            break
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("latin-1").decode("utf-8")
    return text


def read_kaggle_insults(directory: Path, name: str = "train.csv") -> list[Example]:
    """Kaggle insults: ``Insult`` 1/0 → insult. Silent on everything else (a comment
    that insults nobody may still be profane or hateful)."""
    return [
        Example(unescape_kaggle(row[2]), "kaggle_insults", {"insult": int(row[0])})
        for row in _read_csv(directory / name)
    ]


def read_kaggle_insults_test(directory: Path) -> list[tuple[str, int]]:
    """Kaggle insults test comments as ``(text, Insult)``."""
    return [
        (example.text, example.targets["insult"])
        for example in read_kaggle_insults(directory, "test_with_solutions.csv")
    ]


# --- Jigsaw Wikipedia talk (binary) ---------------------------------------------------------


def read_jigsaw(directory: Path) -> list[Example]:
    """Jigsaw Wikipedia comments: 1 → toxicity 1; 0 → 0 for every abuse label (Jigsaw's
    "toxic" is the umbrella over insult, threat, identity hate and obscenity)."""
    examples = []
    for text, label in _read_csv(directory / "robtest_jigsaw_test.csv", header=False):
        targets = {"toxicity": 1} if label == "1" else dict(_ABUSE_NEGATIVE)
        examples.append(Example(text, "jigsaw_wiki", targets))
    return examples


# --- Stormfront (de Gibert et al. 2018) -----------------------------------------------------


def read_stormfront(directory: Path) -> list[Example]:
    """Stormfront sentences: hate → identity_attack 1, noHate → 0; "relation" (hateful
    only with its neighbours) and "idk/skip" are dropped. Silent on toxicity: the
    annotators judged hate speech only, and much noHate text there is still hostile."""
    examples = []
    for row in _read_dicts(directory / "stormfront_sentences.csv"):
        if row["label"] in ("hate", "noHate"):
            label = int(row["label"] == "hate")
            examples.append(Example(row["text"], "stormfront", {"identity_attack": label}))
    return examples


# --- SMS Spam Collection --------------------------------------------------------------------


def read_sms_spam(directory: Path) -> list[Example]:
    """SMS spam → spam 1, ham → 0. The only corpus that speaks to spam."""
    examples = []
    with (directory / "SMSSpamCollection").open(encoding="utf-8") as handle:
        for line in handle:
            kind, _, text = line.rstrip("\r\n").partition("\t")
            if kind in ("ham", "spam"):
                examples.append(Example(text, "sms_spam", {"spam": int(kind == "spam")}))
    return examples


# --- French tweets (MLMA, Ousidhoum et al. 2019; FTR) -----------------------------------------


def _mlma_rows(directory: Path) -> list[tuple[str, set[str]]]:
    return [
        (row["tweet"], set(row["sentiment"].split("_")))
        for row in _read_dicts(directory / "fr_dataset.csv")
    ]


def read_mlma_fr(directory: Path) -> list[Example]:
    """MLMA French tweets: toxicity = any hostility type (the authors' binary reading:
    only single-labelled ``normal`` is non-toxic); identity_attack 1 for ``hateful``,
    0 for ``normal``."""
    examples = []
    for text, kinds in _mlma_rows(directory):
        normal = kinds == {"normal"}
        targets = {"toxicity": int(not normal)}
        if normal or "hateful" in kinds:
            targets["identity_attack"] = int(not normal)
        examples.append(Example(text, "mlma_fr", targets))
    return examples


def read_mlma_fr_test(directory: Path) -> list[tuple[str, int]]:
    """MLMA French tweets as ``(text, 1 unless single-labelled normal)``."""
    return [(text, int(kinds != {"normal"})) for text, kinds in _mlma_rows(directory)]


def _ftr_rows(directory: Path) -> list[tuple[str, int]]:
    # A few bytes of the file are not valid UTF-8.
    with (directory / "FTR_new_labels.csv").open(encoding="utf-8", errors="replace") as handle:
        return [(row["tweet"], int(row["label"])) for row in csv.DictReader(handle)]


def read_ftr_fr(directory: Path) -> list[Example]:
    """French racism tweets: racist → identity_attack and toxicity 1; not racist →
    identity_attack 0 (it may still be rude, so toxicity is left unsaid)."""
    examples = []
    for text, label in _ftr_rows(directory):
        targets = {"identity_attack": label, "toxicity": 1} if label else {"identity_attack": 0}
        examples.append(Example(text, "ftr_fr", targets))
    return examples


def read_ftr_fr_test(directory: Path) -> list[tuple[str, int]]:
    """French racism tweets as ``(text, 1 if racist)``."""
    return _ftr_rows(directory)


ENCODER_ONLY_READERS = {"mlma_fr": read_mlma_fr, "ftr_fr": read_ftr_fr}
"""French corpora the encoder heads train on beside :data:`TRAIN_READERS` (the n-gram
model, whose committed artifact predates them, does not read them)."""


TRAIN_READERS = {
    "davidson": read_davidson,
    "olid": read_olid,
    "toxic_spans": read_toxic_spans,
    "convabuse": read_convabuse,
    "kaggle_insults": read_kaggle_insults,
    "jigsaw_wiki_binary": read_jigsaw,
    "stormfront": read_stormfront,
    "sms_spam": read_sms_spam,
}
"""Training folder name → reader, in the fixed order the trainer concatenates them."""


def read_training_data(data_dir: Path) -> Iterator[tuple[str, list[Example]]]:
    """Yield ``(folder, examples)`` for every training corpus under ``data_dir``."""
    for folder, reader in TRAIN_READERS.items():
        yield folder, reader(data_dir / folder)


# --- Evaluation-only sets -------------------------------------------------------------------


def read_wikipedia_toxicity(directory: Path, fuzzed: bool) -> list[tuple[str, int]]:
    """Wikipedia toxicity test comments as ``(text, 1 if toxic)``."""
    name = "toxicity_fuzzed_testset.csv" if fuzzed else "toxicity_nonfuzzed_testset.csv"
    return [(row["comment"], int(row["toxic"] == "True")) for row in _read_dicts(directory / name)]


def read_identity_bias(directory: Path) -> list[tuple[str, int]]:
    """Dixon et al. template sentences as ``(text, 1 if BAD)``."""
    return [
        (row["Text"], int(row["Label"] == "BAD"))
        for row in _read_dicts(directory / "bias_madlibs_77k.csv")
    ]


def read_youtube_spam(directory: Path) -> list[tuple[str, int]]:
    """YouTube comments from the five UCI files as ``(text, CLASS)``."""
    rows: list[tuple[str, int]] = []
    for path in sorted(directory.glob("Youtube0*.csv")):
        rows.extend((row["CONTENT"], int(row["CLASS"])) for row in _read_dicts(path))
    return rows
