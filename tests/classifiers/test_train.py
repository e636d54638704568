"""Training on tiny corpora of our own, written in the real folder layout: determinism,
the model card, and the label mapping."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from classifiers import datasets
from classifiers.linear import ARTIFACT_NAME, CARD_NAME, load_model, read_card_digest
from classifiers.thresholds import best_f1_threshold, threshold_at_fpr
from classifiers.train import assemble, train_and_save

FRIENDLY = [
    "thanks for the help with the garden",
    "the bus was late again this morning",
    "what a lovely photo of the lake",
    "see you at the match on sunday",
    "i baked bread with my kids today",
    "the library opens at nine tomorrow",
    "great game last night everyone",
    "does anyone know a good plumber",
    "happy birthday to my brother",
    "the soup recipe worked perfectly",
    "we planted tomatoes and beans",
    "our cat sleeps on the warm laundry",
]
RUDE = [
    "you are a total clown and a fool",
    "shut up you pathetic loser",
    "what an idiot you are",
    "nobody likes you, you moron",
    "you are a useless twit",
    "go away you dimwit clown",
]
THREATS = [
    "i will find you and hurt you",
    "watch your back or you will get hurt",
    "i am going to break your legs",
]
PROFANE = ["damn this crap weather", "what the hell is this crap", "damn it all to hell"]
# A made-up group, so no real people are the target of these test texts.
HOSTILE_TO_GROUP = [
    "those zorblings are vermin and should leave",
    "zorblings are subhuman pests",
    "get the zorblings out of our country",
]
SPAM = [
    "WIN a free prize now, txt CLAIM to 80085",
    "Urgent! You have won a cash award, call now",
    "Free entry to our weekly draw, text WIN to 12345",
]


def _write_csv(path: Path, header: list[str] | None, rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


def write_tiny_corpora(root: Path) -> Path:
    """Every training corpus in its published layout, filled with our own texts."""
    davidson = [[i, 3, 0, 0, 3, 2, text] for i, text in enumerate(FRIENDLY)]
    davidson += [[100 + i, 3, 0, 3, 0, 1, text] for i, text in enumerate(RUDE + PROFANE)]
    davidson += [[200 + i, 3, 3, 0, 0, 0, text] for i, text in enumerate(HOSTILE_TO_GROUP)]
    _write_csv(
        root / "davidson" / "labeled_data.csv",
        ["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"],
        davidson,
    )

    olid = [f"{i}\t@USER {t}\tNOT\tNULL\tNULL" for i, t in enumerate(FRIENDLY)]
    olid += [f"{50 + i}\t@USER {t}\tOFF\tTIN\tIND" for i, t in enumerate(RUDE + THREATS)]
    olid += [f"{90 + i}\t{t}\tOFF\tUNT\tNULL" for i, t in enumerate(PROFANE)]
    path = root / "olid" / "olid-training-v1.0.tsv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "id\ttweet\tsubtask_a\tsubtask_b\tsubtask_c\n" + "\n".join(olid) + "\n", encoding="utf-8"
    )

    comments, annotations, spans = [], [], []
    kinds = [(t, "Insult") for t in RUDE] + [(t, "Threat") for t in THREATS]
    kinds += [(t, "Profane/Obscene") for t in PROFANE]
    kinds += [(t, "Identity based Attack") for t in HOSTILE_TO_GROUP]
    annotation = 0
    for number, (text, kind) in enumerate(kinds):
        comment_id = 1001 + number  # never a multiple of ten: those are the eval split
        comments.append([comment_id, f"well, {text}"])
        for worker in range(3):
            annotations.append([annotation, comment_id, worker, "GBR", False, False])
            spans.append([annotation, kind, 6, 6 + len(text)])
            annotation += 1
    folder = root / "toxic_spans"
    _write_csv(folder / "data_comments.csv", ["comment_id", "comment_text"], comments)
    _write_csv(
        folder / "data_annotations.csv",
        ["annotation", "comment_id", "worker", "country", "all toxic", "not toxic"],
        annotations,
    )
    _write_csv(folder / "data_spans.csv", ["annotation", "type", "start", "end"], spans)

    header = ["example_id", "conv_id", "prev_agent", "prev_user", "agent", "user", "bot"]
    for annotator in range(1, 9):
        header += [f"Annotator{annotator}_{name}" for name in range(17)]
    rows = []
    for i, (text, abusive) in enumerate([(t, False) for t in FRIENDLY] + [(t, True) for t in RUDE]):
        row = [i, i, "", "", "hello", text, "Eliza"]
        for annotator in range(8):
            group = [""] * 17
            if annotator < 3:
                group[:5] = ["0", "0", "1", "0", "0"] if abusive else ["1", "0", "0", "0", "0"]
                group[5:12] = ["0"] * 7
                if abusive:
                    group[7] = "1"  # intellectual
            row += group
        rows.append(row)
    _write_csv(root / "convabuse" / "ConvAbuseEMNLPtrain.csv", header, rows[::2])
    _write_csv(root / "convabuse" / "ConvAbuseEMNLPvalid.csv", header, rows[1::2])

    kaggle = [[0, "", f'"{t}"'] for t in FRIENDLY] + [[1, "", f'"{t}\\\\xa0!"'] for t in RUDE]
    _write_csv(root / "kaggle_insults" / "train.csv", ["Insult", "Date", "Comment"], kaggle)

    jigsaw = [[t + " on the wiki", 0] for t in FRIENDLY] + [[t, 1] for t in RUDE + PROFANE]
    _write_csv(root / "jigsaw_wiki_binary" / "robtest_jigsaw_test.csv", None, jigsaw)

    stormfront = [[f"{i}_1", t, "noHate", "", 1, 1, 0] for i, t in enumerate(FRIENDLY)]
    stormfront += [[f"{50 + i}_1", t, "hate", "", 1, 1, 0] for i, t in enumerate(HOSTILE_TO_GROUP)]
    stormfront += [["99_1", "see the thread above", "relation", "", 1, 1, 0]]
    _write_csv(
        root / "stormfront" / "stormfront_sentences.csv",
        ["file_id", "text", "label", "sampled_split", "user_id", "subforum_id", "num_contexts"],
        stormfront,
    )

    sms = [f"ham\t{t}" for t in FRIENDLY] + [f"spam\t{t}" for t in SPAM]
    path = root / "sms_spam" / "SMSSpamCollection"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(sms) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_corpora(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(scope="module")
def trained_twice(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    train_and_save(tiny_data, first, seed=0)
    train_and_save(tiny_data, second, seed=0)
    return first, second


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_two_trainings_write_the_same_bytes(trained_twice: tuple[Path, Path]) -> None:
    first, second = trained_twice
    assert _sha(first / ARTIFACT_NAME) == _sha(second / ARTIFACT_NAME)


@pytest.mark.slow
def test_the_card_pins_the_artifact_and_it_loads(trained_twice: tuple[Path, Path]) -> None:
    first, _ = trained_twice
    assert read_card_digest(first) == _sha(first / ARTIFACT_NAME)
    card = (first / CARD_NAME).read_text(encoding="utf-8")
    assert "Training figures (cross-validation on train only)" in card
    model = load_model(first)
    assert model.version == "sha256:" + _sha(first / ARTIFACT_NAME)
    assert set(model.thresholds) == set(datasets.LABELS)
    scores = model.score(["you are a total clown", "see you at the match"])
    assert scores[0]["insult"] > scores[1]["insult"]


@pytest.mark.slow
def test_retraining_keeps_the_hand_written_card(tiny_data: Path, tmp_path: Path) -> None:
    (tmp_path / CARD_NAME).write_text(
        "# Card\n\nWritten by hand.\n\nSHA-256: " + "0" * 64 + "\n", encoding="utf-8"
    )
    digest = train_and_save(tiny_data, tmp_path, seed=0)
    card = (tmp_path / CARD_NAME).read_text(encoding="utf-8")
    assert "Written by hand." in card
    assert read_card_digest(tmp_path) == digest


def test_silent_corpora_leave_labels_out(tiny_data: Path) -> None:
    data = assemble(tiny_data)
    spam_sources = set(data.labels["spam"].sources)
    assert spam_sources == {"sms_spam", "spam_templates"}
    assert "spam_templates" not in set(data.labels["toxicity"].sources)
    assert "kaggle_insults" not in set(data.labels["toxicity"].sources)
    assert "stormfront" not in set(data.labels["toxicity"].sources)
    assert "identity_templates" in set(data.labels["identity_attack"].sources)


def test_olid_targeted_offence_says_nothing_about_threat() -> None:
    assert datasets.olid_targets("OFF", "TIN") == {"toxicity": 1, "insult": 1}
    assert datasets.olid_targets("OFF", "UNT")["threat"] == 0
    assert datasets.olid_targets("NOT", "NULL")["threat"] == 0


def test_kaggle_text_is_unescaped() -> None:
    assert datasets.unescape_kaggle('"one\\\\xc2\\\\xa0two\\\\nthree"') == "one\xa0two\nthree"
    assert datasets.unescape_kaggle('"caf\\xe9"') == "café"


def test_threshold_maximises_f1_on_a_known_case() -> None:
    import numpy as np

    probabilities = np.array([0.1, 0.2, 0.35, 0.6, 0.8, 0.9])
    targets = np.array([0, 0, 1, 1, 1, 0])
    threshold, f1 = best_f1_threshold(probabilities, targets)
    # p ≥ 0.35 catches all three positives and one negative: F1 = 6/7.
    assert f1 == pytest.approx(6 / 7)
    assert 0.2 < threshold <= 0.35


def test_threshold_keeps_the_false_positive_rate_within_budget() -> None:
    import numpy as np

    negatives = np.linspace(0.0, 0.995, 200)  # 0.000, 0.005, …
    probabilities = np.concatenate([negatives, [0.97, 0.98, 0.99]])
    targets = np.concatenate([np.zeros(200, dtype=int), np.ones(3, dtype=int)])
    threshold = threshold_at_fpr(probabilities, targets, 0.05)
    assert (negatives >= threshold).mean() <= 0.05
    assert (negatives >= round(threshold - 0.01, 2)).mean() > 0.05


def test_nb_scaling_is_folded_into_the_coefficients() -> None:
    import numpy as np
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    from classifiers.linear import fit_label, log_count_ratio

    features = sp.random(80, 30, density=0.3, random_state=0, format="csr")
    assert isinstance(features, sp.csr_matrix)  # the stubs type any format's result alike
    targets = (np.random.RandomState(0).rand(80) > 0.5).astype(int)
    folded = fit_label(features, targets, 1.0, 0, nb=True)
    scaled = features @ sp.diags(log_count_ratio(features, targets))
    direct = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000, random_state=0)
    direct.fit(scaled, targets)
    assert np.allclose(folded.decision_function(features), direct.decision_function(scaled))


def test_cross_validation_has_one_shape_whether_or_not_it_could_run() -> None:
    import numpy as np
    import scipy.sparse as sp

    from classifiers.train import LabelCrossValidation, LabelRows, cross_validate_label

    rng = np.random.RandomState(0)
    features = sp.csr_matrix(rng.rand(50, 5))  # ten texts outside the label

    def rows(positives: int) -> LabelRows:
        targets = np.array([1] * positives + [0] * (40 - positives))
        return LabelRows(
            np.arange(40),
            targets,
            ["corpus"] * 40,
            np.zeros(40, dtype=bool),
            np.full(40, -1),
            np.ones(40),
        )

    ran = cross_validate_label(features, rows(15), 0, 0.1)
    skipped = cross_validate_label(features, rows(1), 0, 0.1)
    assert isinstance(ran, LabelCrossValidation) and isinstance(skipped, LabelCrossValidation)
    assert ran.folds >= 2 and skipped.folds == 0
    assert ran.log_odds is not None and skipped.log_odds is None
    assert list(ran.summary()) == list(skipped.summary())
    assert skipped.summary()["rows"] == 40 and skipped.summary()["fpr_budget"] == 0.1
