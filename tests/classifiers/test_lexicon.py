"""The lexicon classifier: disguised words are caught, innocent words are not, and the
spans point at the characters the author wrote."""

from __future__ import annotations

import pytest

from classifiers.lexicon import LexiconClassifier
from classifiers.normalize import JOIN_MARK, normalize
from classifiers.protocol import Classifier, Span

LISTS = {
    "profanity": ["fuck", "shit", "ass", "holy shit"],
    "insults": ["idiot", "moron", "jerk", "loser", "piece of crap"],
    "slurs": ["rape"],  # stands in for a word hidden inside innocent ones (grape, therapist)
}


@pytest.fixture(scope="module")
def lexicon() -> LexiconClassifier:
    return LexiconClassifier(LISTS)


def hits(lexicon: LexiconClassifier, text: str, label: str) -> list[str]:
    return [text[s.start : s.end] for s in lexicon.explain(text, label)]


def test_shape_of_the_classifier(lexicon: LexiconClassifier) -> None:
    assert isinstance(lexicon, Classifier)
    assert lexicon.name == "lexicon"
    assert lexicon.labels == ("lexicon:insults", "lexicon:profanity", "lexicon:slurs")
    assert lexicon.version.startswith("sha256:") and len(lexicon.version) == 7 + 64
    rows = lexicon.score(["you idiot", "hello", ""])
    assert rows == [
        {"lexicon:insults": 1.0, "lexicon:profanity": 0.0, "lexicon:slurs": 0.0},
        {"lexicon:insults": 0.0, "lexicon:profanity": 0.0, "lexicon:slurs": 0.0},
        {"lexicon:insults": 0.0, "lexicon:profanity": 0.0, "lexicon:slurs": 0.0},
    ]
    with pytest.raises(KeyError):
        lexicon.explain("x", "lexicon:nope")


def test_version_follows_the_lists_not_their_order() -> None:
    base = LexiconClassifier({"a": ["x", "y"]}).version
    assert LexiconClassifier({"a": ["y", "x", "x"]}).version == base
    assert LexiconClassifier({"a": ["x", "y", "z"]}).version != base
    assert LexiconClassifier({"b": ["x", "y"]}).version != base


@pytest.mark.parametrize(
    ("kind", "text", "label", "written"),
    [
        ("plain", "you idiot", "lexicon:insults", "idiot"),
        ("case", "You IDIOT", "lexicon:insults", "IDIOT"),
        ("leetspeak", "you 1d10t", "lexicon:insults", "1d10t"),
        ("leet symbols", "what a load of $h!t", "lexicon:profanity", "$h!t"),
        ("leet at", "you m0r0n and @ss", "lexicon:profanity", "@ss"),
        ("Cyrillic", "you іdіоt", "lexicon:insults", "іdіоt"),
        ("Greek", "you ιdιοt", "lexicon:insults", "ιdιοt"),
        ("fullwidth", "ｆｕｃｋ", "lexicon:profanity", "ｆｕｃｋ"),
        ("small capitals", "ᴍᴏʀᴏɴ", "lexicon:insults", "ᴍᴏʀᴏɴ"),
        ("accents", "you ídìôt", "lexicon:insults", "ídìôt"),
        ("combining overlay", "f̶u̶c̶k̶ it", "lexicon:profanity", "f̶u̶c̶k̶"),
        ("zero-width", "fu\u200bck", "lexicon:profanity", "fu\u200bck"),
        ("soft hyphen", "mo\u00adron", "lexicon:insults", "mo\u00adron"),
        ("spaces", "f u c k this", "lexicon:profanity", "f u c k"),
        ("dots", "f.u.c.k", "lexicon:profanity", "f.u.c.k"),
        ("dashes", "f-u-c-k", "lexicon:profanity", "f-u-c-k"),
        ("underscores", "f_u_c_k", "lexicon:profanity", "f_u_c_k"),
        ("asterisks", "f*u*c*k", "lexicon:profanity", "f*u*c*k"),
        ("article before spacing", "you are a j e r k", "lexicon:insults", "j e r k"),
        ("spaced from a", "a s s", "lexicon:profanity", "a s s"),
        ("stretched", "fuuuuuck", "lexicon:profanity", "fuuuuuck"),
        ("stretched end", "idiooot", "lexicon:insults", "idiooot"),
        ("stretched leet", "lo$$$$er", "lexicon:insults", "lo$$$$er"),
        ("phrase", "a piece of crap", "lexicon:insults", "piece of crap"),
        ("phrase run together", "pieceofcrap", "lexicon:insults", "pieceofcrap"),
        ("phrase disguised", "p1ece 0f cr4p", "lexicon:insults", "p1ece 0f cr4p"),
        ("mixed", "ｙｏｕ ⅰ-d-ⅰ-о-t", "lexicon:insults", "ⅰ-d-ⅰ-о-t"),
    ],
)
def test_disguises_are_caught_and_spans_cover_what_was_written(
    lexicon: LexiconClassifier, kind: str, text: str, label: str, written: str
) -> None:
    [row] = lexicon.score([text])
    assert row[label] == 1.0, kind
    assert written in hits(lexicon, text, label), kind


@pytest.mark.parametrize(
    "text",
    [
        "first class",
        "please assess this",
        "as I said",
        "I passed, alas",
        "Scunthorpe",
        "a cocktail",
        "my therapist",
        "grapes",
        "shitake soup",
        "hello there",
        "I felt like an idiotic fool",  # "idiotic" is not "idiot"
        "a looser fit",  # doubled letters tell words apart
        "fuuck",  # two is a spelling, not a stretch
        "idiot1",  # a digit glued to the word
        "f*ck",  # self-censored: already hidden by the writer
        "$5 for 2024",
        "idiots!",  # not on the list
        "sh it",  # two pieces are not spaced letters
    ],
)
def test_innocent_words_are_not_caught(lexicon: LexiconClassifier, text: str) -> None:
    [row] = lexicon.score([text])
    assert set(row.values()) == {0.0}, text


def test_punctuation_after_a_word_does_not_hide_it(lexicon: LexiconClassifier) -> None:
    assert hits(lexicon, "you idiot!", "lexicon:insults") == ["idiot"]
    assert hits(lexicon, "(moron)", "lexicon:insults") == ["moron"]


def test_every_occurrence_is_explained_in_order(lexicon: LexiconClassifier) -> None:
    text = "jerk, JERK and j.e.r.k"
    spans = lexicon.explain(text, "lexicon:insults")
    assert [text[s.start : s.end] for s in spans] == ["jerk", "JERK", "j.e.r.k"]
    assert spans == sorted(spans)
    assert all(isinstance(s, Span) and s.weight == 1.0 for s in spans)


def test_normalize_maps_every_character_back() -> None:
    text = "Ｆ.u.c.k, іdiot\u200b!"
    normalized, index = normalize(text)
    assert normalized == "fuck, idiot!"
    assert len(index) == len(normalized)
    assert index == sorted(index)
    assert [text[i] for i in index] == list("Ｆuck, іdiot!")


def test_normalize_marks_a_leading_article_and_caps_stretches() -> None:
    assert normalize("a j e r k")[0] == "a" + JOIN_MARK + "jerk"
    assert normalize("I l o v e it")[0] == "i" + JOIN_MARK + "love it"
    assert normalize("soooooo good")[0] == "sooo good"
    assert normalize("a private\ue000use")[0] == "a privateuse"


def test_terms_are_de_obfuscated_too() -> None:
    lexicon = LexiconClassifier({"x": ["Ídiot", "b00bs"]})
    assert lexicon.score(["idiot", "boobs"]) == [{"lexicon:x": 1.0}, {"lexicon:x": 1.0}]


def test_a_term_without_letters_is_refused() -> None:
    with pytest.raises(ValueError, match="term '!!!' in word list 'x' has no letters"):
        LexiconClassifier({"x": ["fine", "!!!"]})


def test_an_empty_list_never_matches() -> None:
    assert LexiconClassifier({"x": []}).score(["anything"]) == [{"lexicon:x": 0.0}]


def test_words_of_a_term_match_across_any_run_of_non_letters() -> None:
    # The pattern allows a bounded gap; longer gaps in the text are shortened first, so
    # a term still matches however far apart its words are written, and the span still
    # covers the whole phrase as written.
    lexicon = LexiconClassifier({"threats": ["kill you"]})
    for gap in (" ", " " * 9, " -_- " * 50, "\n" * 10_000):
        text = f"I will kill{gap}you now"
        assert lexicon.score([text]) == [{"lexicon:threats": 1.0}], repr(gap[:12])
        [span] = lexicon.explain(text, "lexicon:threats")
        assert text[span.start : span.end] == f"kill{gap}you"
    assert lexicon.score(["skill" + " " * 20 + "you"]) == [{"lexicon:threats": 0.0}]


MENTIONS = LexiconClassifier({"slurs": ["retard", "retards"], "insults": ["idiot", "moron"]})


@pytest.mark.parametrize(
    "text",
    [
        "Calling someone a 'retard' is hurtful, please don't use that word",
        'The word "retard" is a slur.',
        "Le mot « retard » est blessant.",  # guillemets with their spaces
        "Words like ‘idiot’ are unkind, and so is the word “moron”.",
        "Saying 'retard' is never okay.",
        # Counter-speech speaks to its readers: a "you" alone aims the word at nobody.
        "You should never call anyone a 'retard'.",
        "Calling someone a 'retard' is the worst thing you can do.",
        "If you hear the word 'retard' at school, tell a teacher.",
        # Words that only look like a reference back to it.
        "Calling someone a 'retard' is one of the cruellest insults.",
        "Calling someone a 'retard' is one thing; nobody is one.",
        "Le mot « retard » est blessant, personne n'en est un.",
    ],
)
def test_a_term_quoted_to_talk_about_it_is_a_mention_not_a_use(text: str) -> None:
    assert MENTIONS.score([text]) == [{"lexicon:insults": 0.0, "lexicon:slurs": 0.0}]
    assert MENTIONS.explain(text, "lexicon:slurs") == []


@pytest.mark.parametrize(
    ("text", "used"),
    [
        # Quotation marks alone, or after words about a person, are a use.
        ("what a 'retard'", "retard"),
        ("calling him a 'retard' was fair", "retard"),
        # Each occurrence on its own: the objection does not launder the use after it.
        ("Saying 'retard' is wrong, but retards ruin everything", "retards"),
        # A text that calls someone the word it quoted uses it.
        ("Calling someone a 'retard' is hurtful, but you are one", "retard"),
        ("Calling someone a 'retard' is hurtful, but ur one", "retard"),
        ("the word 'retard' describes you perfectly", "retard"),
        ("Saying 'retard' is mean. That's you though.", "retard"),
        ("Le mot « retard » te va bien.", "retard"),
        ('Calling someone a "retard" is hurtful, but Sam is one.', "retard"),
        ("Saying 'retard' is rude, I know, they really are ones!", "retard"),
        ("Le mot « retard » est blessant, mais Paul en est un.", "retard"),
    ],
)
def test_a_quoted_term_aimed_at_someone_is_still_a_use(text: str, used: str) -> None:
    assert MENTIONS.score([text])[0]["lexicon:slurs"] == 1.0
    assert hits(MENTIONS, text, "lexicon:slurs") == [used]


def test_a_hostile_run_of_mentions_and_spaces_is_judged_occurrence_by_occurrence() -> None:
    # Each occurrence looks at a bounded stretch around it, and whether the text calls
    # anyone the word is searched once, so this costs what a plain text of its length costs.
    text = "the word 'retard' " * 5_000 + " " * 100_000 + "'retard'"
    assert MENTIONS.score([text])[0]["lexicon:slurs"] == 1.0  # the last one has no frame
    assert len(MENTIONS.explain(text, "lexicon:slurs")) == 1
    # The same, where the search for a reference back meets runs of spaces in every place
    # its pattern allows them.
    text = "the word 'retard' " * 5_000 + "is " * 10_000 + " " * 100_000 + "en est" + " " * 50_000
    assert MENTIONS.score([text])[0]["lexicon:slurs"] == 0.0
