"""Non-toxic sentences that name identity groups, added to training as negatives.

Real abuse corpora mention identity groups mostly when attacking them, so a bag-of-words
model learns that "gay" or "muslim" is itself evidence of abuse. Dixon et al. (2018,
"Measuring and Mitigating Unintended Bias in Text Classification") countered this by
adding non-toxic text that names each group until the groups' toxic rates matched. We do
the same with sentences generated from our own templates and word lists: everyday,
neutral or friendly statements, never insults, never negative adjectives. The
evaluation set (Jigsaw's bias madlibs) is not used to write or choose them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from classifiers.datasets import Example
from classifiers.features import normalise

IDENTITY_TERMS: tuple[str, ...] = (
    # sexual orientation and gender
    "lesbian", "gay", "bisexual", "queer", "asexual", "homosexual", "heterosexual",
    "straight", "lgbt", "lgbtq", "transgender", "trans", "cisgender", "cis",
    "nonbinary", "non-binary", "intersex", "male", "female",
    # race, ethnicity, nationality
    "black", "white", "brown", "african", "african american", "asian", "asian american",
    "east asian", "south asian", "hispanic", "latino", "latina", "latinx", "mexican",
    "native american", "indigenous", "arab", "middle eastern", "european", "american",
    "canadian", "chinese", "japanese", "korean", "vietnamese", "filipino", "indian",
    "pakistani", "nigerian", "somali", "jamaican", "irish", "italian", "polish",
    "russian", "ukrainian", "german", "french", "iranian", "turkish", "palestinian",
    "israeli", "syrian",
    # religion and belief
    "christian", "muslim", "jewish", "buddhist", "hindu", "sikh", "catholic",
    "protestant", "mormon", "evangelical", "orthodox", "atheist", "agnostic", "taoist",
    # age
    "old", "older", "young", "younger", "elderly", "teenage", "middle aged",
    "middle-aged", "millennial", "retired",
    # disability
    "blind", "deaf", "disabled", "autistic", "paralyzed", "dyslexic",
    # migration and class
    "immigrant", "refugee", "working class",
)  # fmt: skip

_NAMES = (
    "Priya", "Tomás", "Keiko", "Olu", "Marta", "Dev", "Hannah", "Yusuf", "Grace",
    "Ibrahim", "Lena", "Kwame", "Sofia", "Raj", "Mei", "Daniel", "Aroha", "Nadia",
)  # fmt: skip

# {a} is the term with its article ("an elderly", "a gay"), {term} the bare term and
# {name} a first name. Written for this project; plain statements people actually post.
_TEMPLATES: tuple[str, ...] = (
    "I am {term}.",
    "I'm {term} and I live in a small town.",
    "As {a} woman, I enjoy hiking on weekends.",
    "As {a} man, I coach my daughter's football team.",
    "My neighbour is {a} nurse who works night shifts.",
    "My best friend is {term} and we met at university.",
    "{name} is {term} and teaches chemistry at the high school.",
    "{name} told me she is {term} when we were planning the trip.",
    "{name}, who is {term}, won the regional chess tournament.",
    "Our book club welcomed {a} member this month.",
    "The {term} community center is hosting a food drive on Saturday.",
    "Several {term} families moved into our street last year.",
    "The article interviewed {term} voters about the new transit plan.",
    "We watched a documentary about {term} musicians.",
    "The museum opened an exhibit on {term} history.",
    "There are many {term} students at my college.",
    "{term} people have the same rights as everyone else.",
    "Being {term} is one part of who I am.",
    "My grandparents are {term} and they love gardening.",
    "I grew up in {a} household with three siblings.",
    "The clinic hired {a} doctor who speaks four languages.",
    "Is it rude to ask someone whether they are {term}?",
    "What was it like growing up {term} in the nineties?",
    "She wrote a novel about {a} family running a bakery.",
    "He volunteers with {a} youth group every Thursday.",
    "The panel included {a} engineer, a farmer and a teacher.",
    "Our team lead is {term} and great at explaining things.",
    "Thanks to the {term} parents who organised the school fair.",
    "{a} couple opened a bookshop next to the station.",
    "My teacher is {term}.",
    "I have {term} relatives who visit every summer.",
    "The survey asked {term} employees about remote work.",
    "A {term} artist painted the mural downtown.",
    "I'm proud to be {term}.",
    "My roommate is {term} and cooks amazing soup.",
    "The podcast features {term} entrepreneurs sharing advice.",
    "We need more {term} representation in science.",
    "The mayor met with {term} leaders to discuss housing.",
    "Our choir has {term} singers of all ages.",
    "{name} is {a} photographer based in the city.",
    "{name} and her {term} partner adopted a dog.",
    "I read an interview with {a} astronaut last night.",
    "Happy birthday to my {term} sister!",
    "The {term} festival drew thousands of visitors this year.",
    "Many {term} athletes competed in the marathon.",
    "My doctor is {term} and very patient.",
    "Are there any {term} writers you would recommend?",
    "The library added books by {term} authors.",
    "{term} and proud.",
    "Our new colleague is {term}.",
    # Short statements: with little else in the sentence, the identity term itself has to
    # carry the negative evidence, instead of template phrasing soaking it up.
    "{term}",
    "{term} people",
    "{a} person",
    "I am {term}",
    "I'm {term}",
    "She is {term}",
    "He is {term}",
    "They are {term}",
    "We are {term}",
    "You are {term}",
    "My friend is {term}",
    "My mom is {term}",
    "My dad is {term}",
    "{name} is {term}",
    "Is he {term}?",
    "Some of us are {term}",
    # Descriptions with an adjective or a role beside the term: the commonest ways people
    # say who someone is, and the shapes in which a term ends up next to evaluative words.
    "{name} is {a_adj} {term}.",
    "{name} is {a_adj} {term} {noun}.",
    "I am {a} {noun}.",
    "I am {a_adj} {term} {noun}.",
    "I'm {a} {noun} and I love my job.",
    "You are {a_adj} {term} {noun}.",
    "She is {a_adj} {term} woman.",
    "He is {a_adj} {term} man.",
    "I just met {a_adj} {term} {noun} at the park.",
    "Proud {term} {noun} here.",
    "{A_adj} {term} {noun}.",
    "My {term} friends are coming over for dinner.",
    "My {term} friends are the best.",
    "I love my {term} {group}.",
    "My {term} {noun} helped me move house.",
    "The {term} {noun} next door brought us cookies.",
    "Our {term} {noun} is the best in the school.",
    "Being {term} is {good}.",
    "{term} people are {adj}.",
    "Every {term} person I know is {adj}.",
    "I like {term} people.",
    "I love {term} people.",
    "There is nothing wrong with being {term}.",
    "We are {term} and we are happy.",
    "You are {term} and that is great.",
    "Hi, I'm {name} and I'm {term}.",
    "As {a} person, I feel welcome here.",
    "Happy holidays to all my {term} friends!",
    "{name} is {term}, {adj} and funny.",
    "Ask {a} {noun} what they think.",
    "{term} {noun}s in our town started a running club.",
    "What is it like to be {term}?",
    "My whole family is {term}.",
    "Being {term} and {adj} is who I am.",
)

# Slot values for the descriptive templates, taken in rotation so every term meets several.
_ADJECTIVES = (
    "kind", "friendly", "funny", "smart", "tall", "quiet", "brave", "happy", "proud",
    "creative", "talented", "hardworking", "thoughtful", "cheerful", "generous", "curious",
    "calm", "lovely", "wonderful", "great", "nice", "warm", "caring", "patient", "polite",
    "gentle", "busy", "shy", "strong", "clever", "sweet", "cool", "ordinary", "excellent",
)  # fmt: skip
_NOUNS = (
    "man", "woman", "person", "teacher", "student", "neighbour", "kid", "engineer", "nurse",
    "doctor", "artist", "writer", "friend", "parent", "grandmother", "farmer", "chef",
    "lawyer", "athlete", "musician", "scientist", "coworker", "boy", "girl",
)  # fmt: skip
_GROUPS = ("neighbours", "coworkers", "friends", "cousins", "classmates", "teammates")
_GOOD = (
    "wonderful", "great", "part of who I am", "nothing to hide", "just one thing about me",
    "normal", "fine", "a good thing", "beautiful",
)  # fmt: skip

_AN_EXCEPTIONS = {"european", "ukrainian", "one"}
_AN_INITIALS = {"lgbt", "lgbtq"}  # said letter by letter: "an LGBT ..."


def _article(term: str) -> str:
    if term in _AN_INITIALS:
        return "an"
    if term[0] in "aeiou" and term not in _AN_EXCEPTIONS:
        return "an"
    return "a"


def _fill(template: str, term: str, rotation: int) -> str:
    def pick(options: tuple[str, ...]) -> str:
        return options[rotation % len(options)]

    adjective = pick(_ADJECTIVES)
    a_adj = f"{_article(adjective)} {adjective}"
    text = template.format(
        term=term,
        a=f"{_article(term)} {term}",
        name=pick(_NAMES),
        adj=adjective,
        a_adj=a_adj,
        A_adj=a_adj.capitalize(),
        noun=pick(_NOUNS),
        group=pick(_GROUPS),
        good=pick(_GOOD),
    )
    return text[0].upper() + text[1:]


GROUP_NOUNS: dict[str, str] = {
    "muslims": "muslim", "christians": "christian", "jews": "jew", "hindus": "hindu",
    "sikhs": "sikh", "buddhists": "buddhist", "catholics": "catholic", "mormons": "mormon",
    "atheists": "atheist", "arabs": "arab", "immigrants": "immigrant", "refugees": "refugee",
    "gays": "gay", "lesbians": "lesbian", "asians": "asian", "africans": "african",
    "mexicans": "mexican", "latinos": "latino", "indians": "indian",
    "palestinians": "palestinian", "israelis": "israeli", "migrants": "migrant",
}  # fmt: skip
"""Groups named by a plural noun ("Jews", "Muslims"), as people very often name them,
with the term they count under. Adjective templates cannot take these, and a model that
only ever saw "Muslim" in friendly sentences still learns "Muslims" from the abuse."""

NOUN_ONLY_TERMS: tuple[str, ...] = tuple(
    sorted({term for term in GROUP_NOUNS.values() if term not in IDENTITY_TERMS})
)

# {nouns} is a plural group noun, {Nouns} the same capitalised.
_NOUN_TEMPLATES: tuple[str, ...] = (
    "{Nouns} live in my neighbourhood.",
    "Many {nouns} came to the town meeting.",
    "I work with several {nouns}.",
    "{Nouns} and their neighbours held a street party.",
    "There are {nouns} in every profession.",
    "Some of my best friends are {nouns}.",
    "{Nouns} deserve the same respect as everyone.",
    "Our city has a large community of {nouns}.",
    "The documentary follows three {nouns} who run a bakery.",
    "{Nouns} have lived here for generations.",
    "I met two {nouns} on the train today.",
    "Are there many {nouns} where you live?",
    "{Nouns}",
    "{Nouns} are my neighbours.",
    "{Nouns} are people like anyone else.",
    "{Nouns} and {other} share this street.",
)


def template_sentences() -> list[tuple[str, str, int]]:
    """Every template filled with every identity term (and every noun template with
    every group noun), as ``(sentence, term, template number)`` in a fixed order (names,
    adjectives and nouns rotate so each template meets several)."""
    sentences = []
    for t_index, template in enumerate(_TEMPLATES):
        for i_index, term in enumerate(IDENTITY_TERMS):
            sentences.append((_fill(template, term, t_index + i_index), term, t_index))
    nouns = list(GROUP_NOUNS)
    for n_index, template in enumerate(_NOUN_TEMPLATES):
        t_index = len(_TEMPLATES) + n_index
        for g_index, noun in enumerate(nouns):
            other = nouns[(g_index + n_index + 1) % len(nouns)]
            text = template.format(nouns=noun, Nouns=noun.capitalize(), other=other)
            sentences.append((text, GROUP_NOUNS[noun], t_index))
    return sentences


TEMPLATE_TARGETS = {"toxicity": 0, "insult": 0, "threat": 0, "identity_attack": 0, "profanity": 0}
"""A friendly sentence about a group is a negative for every abuse label; it says
nothing about spam."""

TEMPLATE_SOURCE = "identity_templates"


def template_examples() -> list[tuple[Example, str, int]]:
    """The template sentences as training negatives, each with the term it names and
    the number of the template it came from."""
    return [
        (Example(text, TEMPLATE_SOURCE, dict(TEMPLATE_TARGETS)), term, number)
        for text, term, number in template_sentences()
    ]


MIN_TERM_POSITIVES = 5
"""Terms seen in fewer positive rows than this get no extra weight: their toxic rate is
noise."""


def terms_in(text: str) -> set[str]:
    """The identity terms (or their plurals) that ``text`` names as whole words; the
    longest term wins where terms overlap ("african american" over "african")."""
    return {match.group(1) for match in _ANY_TERM.finditer(normalise(text))}


_ANY_TERM = re.compile(
    r"\b("
    + "|".join(
        re.escape(t) for t in sorted(IDENTITY_TERMS + NOUN_ONLY_TERMS, key=lambda t: (-len(t), t))
    )
    + r")s?\b"
)


def balancing_weights(
    term_sets: Sequence[set[str]], targets: np.ndarray, template_count: dict[str, int]
) -> dict[str, float]:
    """Per identity term, the weight each of its template sentences needs so that the
    term's positive rate among the corpus rows (their ``term_sets`` and ``targets``)
    falls to the label's overall rate, as Dixon et al. balanced theirs.

    A term that needs nothing (or is rare among positives) keeps weight 1.
    """
    base = float(targets.mean()) if len(targets) else 0.0
    positives: Counter[str] = Counter()
    mentions: Counter[str] = Counter()
    for terms, target in zip(term_sets, targets, strict=True):
        mentions.update(terms)
        if target:
            positives.update(terms)
    weights = {}
    for term, count in template_count.items():
        weight = 1.0
        if base > 0.0 and positives[term] >= MIN_TERM_POSITIVES:
            needed = positives[term] / base - mentions[term]
            weight = max(needed / count, 1.0)
        weights[term] = weight
    return weights
