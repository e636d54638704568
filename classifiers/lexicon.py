"""Word lists as a classifier: ``lexicon:<name>`` is 1.0 when a term of list ``<name>``
appears as a whole word or phrase after de-obfuscation (``classifiers.normalize``).

Whole words only, on both sides, so a term never fires inside an innocent word: ``ass``
does not match ``class``, ``assess`` or ``as``; ``cunt`` does not match ``Scunthorpe``;
``shit`` does not match ``shitake``; ``rape`` does not match ``grape``.

A term that is mentioned rather than used does not count: one in quotation marks right
after words that talk about a word ("calling someone a 'retard' is hurtful", "the word
« bougnoule »", "saying 'X'"), in a text that calls nobody that word. Each occurrence is
judged on its own, so a post that quotes a slur to object to it and then uses it still
matches; quotation marks alone ("you 'idiot'"), after words about a person ("calling him a
'moron'"), or in a text that calls someone the word ("… but Sam is one", "the word 'X'
describes you", "… mais Paul en est un") are a use.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from itertools import groupby

from classifiers.normalize import AMBIGUOUS, JOIN_MARK, NORMALIZER_VERSION, fold, normalize, unleet
from classifiers.protocol import Span

MATCHER_VERSION = "fairwitness-lexicon/3"
"""Changes whenever the way terms become patterns, or matches become hits, changes
(2: a mentioned term is not a hit, unless the text addresses someone; 3: unless the text
calls someone the word)."""

LABEL_PREFIX = "lexicon:"

# What a term's letter may stand for in normalized text: the ambiguous 1 reads as i or l.
_LETTER_CLASS = {"i": f"[i{AMBIGUOUS}]", "l": f"[l{AMBIGUOUS}]", AMBIGUOUS: f"[il{AMBIGUOUS}]"}
_WORDS = re.compile(r"[^\W_]+")
# Words of a term may be parted by any run of non-letters. A pattern that allowed runs of
# any length would rescan a long run once per term sharing the first word ("i" and a
# hundred thousand spaces), so the pattern allows at most MAX_GAP and longer runs in the
# text are shortened to that before matching, which matches the same terms.
MAX_GAP = 8
_BETWEEN_WORDS = rf"[\W_]{{0,{MAX_GAP}}}"
_LONG_GAP = re.compile(rf"[\W_]{{{MAX_GAP + 1},}}")
_NEVER = re.compile(r"(?!)")

_QUOTES = frozenset("'\"‘’‚“”„«»‹›`")
_QUOTE_PADDING = 2
"""Spaces allowed between a quotation mark and the term (French « guillemets » take one)."""
# Words that talk about a word, ending right before its opening quotation mark. Never words
# about a person ("calling him a", "you are a"): quoting a name at someone is still using it.
_MENTION_FRAME = re.compile(
    r"(?:\bcall(?:s|ed|ing)?\s+(?:someone|somebody|anyone|anybody|people|others)\s+(?:an?\s+)?"
    r"|\b(?:the|that|this|a)\s+(?:word|term|slur|insult)s?\s+"
    r"|\b(?:words?|terms?|slurs?)\s+(?:like|such\s+as)\s+"
    r"|\b(?:say(?:s|ing)?|said|us(?:e|es|ed|ing)|writ(?:e|es|ing)|wrote)\s+"
    r"|\b(?:le|ce|du)\s+mot\s+|\b(?:dire|utiliser|employer)\s+"
    r"|\btrait(?:er|ant)\s+(?:quelqu['’]un|les\s+gens|des\s+gens)\s+(?:de\s+|d['’]))$",
    re.IGNORECASE,
)
_FRAME_WINDOW = 60
"""Characters before the opening quotation mark searched for the frame."""
# A text that calls someone the word it quoted uses it. Two ways are recognised:
# - a reference back, "… but Sam is one", "… you're one too", "… mais Paul en est un":
#   "is one" only at the end of a clause, so "is one thing" or "is one of the worst"
#   stay a mention, and not after "nobody" / "no one" / "n'en", which deny it;
# - the word said to fit the person spoken to: "describes you", "that's you", "te va bien".
# A "you" alone is not enough: counter-speech speaks to its readers ("you should never
# call anyone a 'retard'").
_AIMED = re.compile(
    r"(?<!\bnobody\s)(?<!\bno\sone\s)(?<!\bnoone\s)"
    r"\b(?:is|are|was|were|be|being|am|ur|['’]s|['’]re|['’]m)\s{1,8}"
    r"(?:(?:such|really|truly|totally|clearly|obviously|definitely|so|"
    r"an?\s{1,8}(?:real|total|complete|proper|true))\s{1,8}){0,3}ones?"
    r"(?=\s{0,8}(?:[.,!?;:)\"'»…]|$|(?:too|as\s{1,8}well|though|anyway|lol)\b))"
    r"|(?<!n['’])\ben\s{1,8}(?:est|es|suis|sont|était|étaient|serait|seraient)"
    r"(?:\s{1,8}(?:vraiment|bien|clairement|carrément|totalement|aussi)){0,2}"
    r"(?:\s{1,8}une?)?\s{0,8}(?=[.,!?;:)\"'»…]|$)"
    r"|\b(?:describes?|described|fits?|suits?|defines?|sums?\s{1,8}up|applies\s{1,8}to)"
    r"\s{1,8}(?:you|u|ya|yourself|y['’]?all)\b"
    r"|\b(?:that|this|it)(?:['’]s|\s{1,8}is)\s{1,8}(?:exactly\s{1,8}|just\s{1,8})?(?:what\s{1,8})?"
    r"(?:you|u)\b(?!\s{1,8}(?:can|could|should|must|may|might|would|will|do|did|say|said|call)\b)"
    r"|\b(?:te|vous)\s{1,8}(?:décrit|correspond|va\s{1,8}bien|convient)\b"
    r"|\bc['’]est\s{1,8}(?:exactement\s{1,8}|tout\s{1,8})?(?:toi|vous)\b",
    re.IGNORECASE,
)


class LexiconClassifier:
    """One label per word list; see the module docstring for what counts as a match."""

    name = "lexicon"

    def __init__(self, lexicons: Mapping[str, Sequence[str]]) -> None:
        self._patterns: dict[str, re.Pattern[str]] = {}
        canonical: dict[str, list[str]] = {}
        for list_name in sorted(lexicons):
            terms = lexicons[list_name]
            if isinstance(terms, str):
                raise TypeError(f"word list {list_name!r} must be a sequence of terms")
            self._patterns[LABEL_PREFIX + list_name] = compile_terms(terms, list_name)
            canonical[list_name] = sorted(set(terms))
        self.labels: tuple[str, ...] = tuple(self._patterns)
        body = json.dumps(
            {"matcher": MATCHER_VERSION, "normalizer": NORMALIZER_VERSION, "lists": canonical},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self.version = "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()

    def score(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, float]]:
        """For each text, 1.0 per list with a matching term and 0.0 per list without
        (the lists hold every language's terms, so ``languages`` is ignored)."""
        del languages
        patterns = tuple(self._patterns.items())
        rows = []
        for text in texts:
            normalized, index = _prepared(text)
            rows.append(
                {
                    label: 1.0 if next(_used(p, text, normalized, index), None) else 0.0
                    for label, p in patterns
                }
            )
        return rows

    def explain(self, text: str, label: str) -> list[Span]:
        """Where in ``text`` (original offsets) the terms of ``label``'s list matched,
        covering the disguised word as written (``f.u.c.k``, ``іdiot``)."""
        pattern = self._patterns[label]
        normalized, index = _prepared(text)
        spans = []
        for start, end in _used(pattern, text, normalized, index):
            # Accents and overlays after the last letter belong to the word shown.
            while end < len(text) and unicodedata.category(text[end]) in ("Mn", "Me"):
                end += 1
            spans.append(Span(start, end, 1.0))
        return spans


def _used(
    pattern: re.Pattern[str], text: str, normalized: str, index: list[int]
) -> Iterator[tuple[int, int]]:
    """The original ``(start, end)`` of each match of ``pattern`` that is a use of the
    term, not a mention of it."""
    aimed: bool | None = None  # searched once per text, and only when needed
    for found in pattern.finditer(normalized):
        start = index[found.start()]
        end = index[found.end() - 1] + 1
        if _is_quoted_mention(text, start, end):
            if aimed is None:
                aimed = _AIMED.search(text) is not None
            if not aimed:
                continue
        yield start, end


def _is_quoted_mention(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` sits in quotation marks right after words that talk
    about a word. Looks at a bounded stretch around it, whatever the text's length."""
    opening = start
    while opening > 0 and start - opening < _QUOTE_PADDING and text[opening - 1].isspace():
        opening -= 1
    closing = end
    while closing < len(text) and closing - end < _QUOTE_PADDING and text[closing].isspace():
        closing += 1
    if opening == 0 or text[opening - 1] not in _QUOTES:
        return False
    if closing == len(text) or text[closing] not in _QUOTES:
        return False
    before = text[max(0, opening - 1 - _FRAME_WINDOW) : opening - 1]
    return _MENTION_FRAME.search(before) is not None


def _prepared(text: str) -> tuple[str, list[int]]:
    """``normalize(text)`` with every run of non-letters longer than ``MAX_GAP`` cut to
    its first ``MAX_GAP`` characters (with their origin indexes)."""
    normalized, index = normalize(text)
    if _LONG_GAP.search(normalized) is None:
        return normalized, index
    pieces: list[str] = []
    kept: list[int] = []
    done = 0
    for gap in _LONG_GAP.finditer(normalized):
        cut = gap.start() + MAX_GAP
        pieces.append(normalized[done:cut])
        kept.extend(index[done:cut])
        done = gap.end()
    pieces.append(normalized[done:])
    kept.extend(index[done:])
    return "".join(pieces), kept


def compile_terms(terms: Sequence[str], list_name: str = "") -> re.Pattern[str]:
    """One pattern finding any of ``terms`` as whole words in normalized text; a
    ``ValueError`` names a term with no letters or digits."""
    alternatives = sorted(
        {term_pattern(term, list_name) for term in terms}, key=lambda p: (-len(p), p)
    )
    if not alternatives:
        return _NEVER
    # Every term starts with a letter or digit: the lookahead lets the engine pass over
    # other characters without trying each alternative there.
    return re.compile(r"(?=[^\W_])(?<![^\W_])(?:" + "|".join(alternatives) + r")(?![^\W_])")


def term_pattern(term: str, list_name: str = "") -> str:
    """The regular expression for one term: its words in order, anything but letters
    and digits between them, each letter run matching its own length or a stretched run
    of three, and an optional ``JOIN_MARK`` after the first letter run."""
    words = _WORDS.findall(unleet(fold(term)[0]))
    if not words:
        where = f" in word list {list_name!r}" if list_name else ""
        raise ValueError(f"term {term!r}{where} has no letters or digits")
    parts = []
    for n, word in enumerate(words):
        runs = [_run_pattern(char, len(list(group))) for char, group in groupby(word)]
        if n == 0:
            runs[0] += re.escape(JOIN_MARK) + "?"
        parts.append("".join(runs))
    return _BETWEEN_WORDS.join(parts)


def _run_pattern(char: str, length: int) -> str:
    # Normalized text keeps runs of one and two and cuts longer ones to three; a run of
    # three is stretching, so it may stand for one letter or two, but one never stands
    # for two: "as" must not read as "ass".
    c = _LETTER_CLASS.get(char, re.escape(char))
    if length == 1:
        return f"{c}(?:{c}{c})?"
    if length == 2:
        return f"{c}{c}{c}?"
    return c * 3
