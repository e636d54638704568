"""Undo the usual disguises of a word, remembering where every character came from.

People who want a word past a filter write ``1d10t``, ``іdiot`` (Cyrillic і), ``f u c k``,
``f.u.c.k``, ``ｆｕｃｋ``, ``fu\u200bck`` or ``fuuuuck``. ``normalize`` maps such text to one
plain lowercase form and keeps, for every character of that form, the index of the
original character it came from, so a match can be shown to the author in their own text.

The steps, in order:

1. **Fold** each character on its own: NFKD compatibility decomposition (fullwidth,
   ligatures, mathematical and circled letters, superscripts), look-alike letters from
   other scripts mapped to Latin (Cyrillic ``а е о р с х у і ј ѕ``, Greek ``α ο ρ ι κ ν``,
   small capitals ``ᴀ ʙ ᴄ``, ``ø ł đ ı``; see ``_LOOKALIKES``), case folding, and removal of
   combining marks (accents, strike-through overlays), format characters (zero-width
   space and joiners, soft hyphen, bidi controls) and other invisible fillers.
2. **Join spaced letters**: three or more single characters separated by spaces, dots,
   dashes, underscores, asterisks, slashes or tildes (at most three separators between
   two of them) become one word: ``f u c k``, ``f.u.c.k``, ``f-u-c-k``, ``f_u_c_k``.
   When the first of them is ``a`` or ``i`` (an English word of its own, as in
   ``you are a j e r k``), ``JOIN_MARK`` is kept after it: the lexicon may start a match
   after the mark or read straight through it (``a s s``).
3. **Leetspeak**, only inside a word that has at least one letter (so ``$5`` and ``2024``
   stay numbers): ``4 @`` → a, ``3`` → e, ``0`` → o, ``5 $`` → s, ``7`` → t, ``8`` → b,
   ``9`` → g. ``1``, ``!`` and ``|`` look like both i and l, so they all become ``1``, which
   the lexicon reads as either letter; ``!`` and ``|`` only count between two word
   characters, so the ``!`` closing ``idiot!`` stays punctuation.
4. **Elongation**: a run of four or more of the same letter is cut to three
   (``fuuuuuck`` → ``fuuuck``). Runs of one or two are kept as they are, because doubled
   letters tell words apart (``as`` / ``ass``, ``loser`` / ``looser``); the lexicon reads a
   run of three as "stretched" and lets it stand for one letter or two.

Self-censored forms such as ``f*ck`` are deliberately not restored: the writer already
hid the word.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

NORMALIZER_VERSION = "fairwitness-normalize/1"
"""Changes whenever ``normalize`` could give a different result for some text."""

JOIN_MARK = "\ue000"
"""Kept after a leading ``a`` or ``i`` of joined spaced letters. A private-use character:
those are removed from input, so the mark never comes from the text itself."""

AMBIGUOUS = "1"
"""What ``1``, ``!`` and ``|`` inside a word become: a letter that may be i or l."""

_LOOKALIKES = {
    "a": "аАΑαɑᴀ",
    "b": "ВΒβʙ",
    "c": "сСϲᴄ",
    "d": "ԁᴅđ",
    "e": "еЕΕεᴇ",
    "f": "ғƒ",
    "g": "ɡɢ",
    "h": "һНΗʜħ",
    "i": "іІΙιıɪ",
    "j": "јЈᴊ",
    "k": "кКΚκᴋ",
    "l": "ʟł",
    "m": "МΜᴍ",
    "n": "Νɴ",
    "o": "оОΟοᴏø",
    "p": "рРΡρᴘ",
    "r": "ʀ",
    "s": "ѕЅꜱ",
    "t": "ТΤτᴛŧ",
    "u": "υᴜ",
    "v": "νᴠ",
    "w": "ԝᴡ",
    "x": "хХΧχ",
    "y": "уУΥγʏү",
    "z": "Ζᴢ",
    AMBIGUOUS: "ӏӀ",
    "ae": "æ",
    "oe": "œ",
}
_LOOKALIKE = {char: latin for latin, chars in _LOOKALIKES.items() for char in chars}

# Invisible characters outside the dropped categories: Hangul fillers and the blank
# braille cell, popular for hiding word breaks.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_DROPPED_CATEGORIES = frozenset(("Mn", "Me", "Cf", "Co", "Cs"))

_LEET = {
    "4": "a",
    "@": "a",
    "3": "e",
    "0": "o",
    "5": "s",
    "$": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "1": AMBIGUOUS,
    "!": AMBIGUOUS,
    "|": AMBIGUOUS,
}
_INNER_ONLY = frozenset("!|")

_WORD = r"(?:[^\W_]|[@$!|])"
_SEPARATORS = r"[ \t.\-_*/~·–—]"
_SPACED = re.compile(
    rf"(?<!{_WORD}){_WORD}(?!{_WORD})(?:{_SEPARATORS}{{1,3}}{_WORD}(?!{_WORD})){{2,}}"
)
_WORD_SYMBOLS = frozenset("@$!|" + JOIN_MARK)
_NON_LETTER_RUN = re.compile(r"[\d@$!|" + JOIN_MARK + "]+")
_LEET_CHAR = re.compile(r"[0-9@$!|]")
_LONG_RUN = re.compile(r"([^\W\d_])\1{3,}")
# Cheap necessary conditions tried first: most texts need neither step, and the exact
# patterns cost several times more per character.
_ANY_RUN_OF_FOUR = re.compile(r"(.)\1\1\1")


def normalize(text: str) -> tuple[str, list[int]]:
    """The de-obfuscated form of ``text`` and, for each of its characters, the index in
    ``text`` of the character it came from (non-decreasing, so a match ``[i, j)`` in the
    normalized form covers ``text[index[i]:index[j - 1] + 1]``)."""
    folded, index = fold(text)
    joined, index = _join_spaced(folded, index)
    return _collapse_runs(unleet(joined), index)


def fold(text: str) -> tuple[str, list[int]]:
    """Step 1 only: per-character folding (compatibility forms, look-alikes, case,
    invisible characters), with the origin index of every output character."""
    if text.isascii():
        # ASCII folds to itself lowercased, one character for one.
        return text.lower(), list(range(len(text)))
    pieces: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text):
        folded = _fold_char(char)
        if folded:
            pieces.append(folded)
            index.extend([i] * len(folded))
    return "".join(pieces), index


def unleet(text: str) -> str:
    """Step 3 only: leetspeak inside words that contain a letter, one character for one."""
    out: list[str] = []
    done = 0
    # Only words where a leet character touches a letter can change; finding those from
    # the runs of non-letters is much cheaper than visiting every word.
    for found in _NON_LETTER_RUN.finditer(text):
        start, end = found.span()
        if start < done or not _may_be_leet(text, start, end):
            continue
        while start > 0 and _is_word_char(text[start - 1]):
            start -= 1
        while end < len(text) and _is_word_char(text[end]):
            end += 1
        out.append(text[done:start])
        out.append(_unleet_word(text[start:end]))
        done = end
    if done == 0:
        return text
    out.append(text[done:])
    return "".join(out)


def _may_be_leet(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if not (before.isalpha() or after.isalpha()):
        return False
    run = text[start:end]
    if _LEET_CHAR.search(run.replace("!", "").replace("|", "")):
        return True
    # ! and | count only inside a word: "sh!t", never the "!" closing "idiot!".
    return _is_word_char(before) and _is_word_char(after)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in _WORD_SYMBOLS


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    out = []
    for part in unicodedata.normalize("NFKD", char):
        # Look-alikes before case folding, because capitals can differ from their small
        # forms in what they resemble (Greek Η looks like H, η like n).
        lowered = _LOOKALIKE.get(part, part).casefold()
        for piece in unicodedata.normalize("NFKD", lowered):
            # A look-alike may stand for several letters (æ → ae): judge each of them.
            for letter in _LOOKALIKE.get(piece, piece):
                if unicodedata.category(letter) in _DROPPED_CATEGORIES or letter in _INVISIBLE:
                    continue
                out.append(letter)
    return "".join(out)


def _join_spaced(text: str, index: list[int]) -> tuple[str, list[int]]:
    out: list[str] = []
    out_index: list[int] = []
    done = 0
    for found in _SPACED.finditer(text):
        start, end = found.span()
        out.append(text[done:start])
        out_index.extend(index[done:start])
        letters = [k for k in range(start, end) if text[k].isalnum() or text[k] in "@$!|"]
        first = letters[0]
        out.append(text[first])
        out_index.append(index[first])
        if text[first] in "ai":
            out.append(JOIN_MARK)
            out_index.append(index[first + 1])
        for k in letters[1:]:
            out.append(text[k])
            out_index.append(index[k])
        done = end
    if done == 0:
        return text, index
    out.append(text[done:])
    out_index.extend(index[done:])
    return "".join(out), out_index


def _unleet_word(word: str) -> str:
    if not any(char.isalpha() for char in word):
        return word
    # ! and | at either end of the word are punctuation ("!!wow!!"), only inner ones
    # stand for letters.
    inner = [k for k, char in enumerate(word) if char not in _INNER_ONLY]
    first, last = inner[0], inner[-1]
    return "".join(
        _LEET[char] if char in _LEET and (char not in _INNER_ONLY or first < k < last) else char
        for k, char in enumerate(word)
    )


def _collapse_runs(text: str, index: list[int]) -> tuple[str, list[int]]:
    if _ANY_RUN_OF_FOUR.search(text) is None:
        return text, index
    out: list[str] = []
    out_index: list[int] = []
    done = 0
    for found in _LONG_RUN.finditer(text):
        start, end = found.span()
        out.append(text[done:start])
        out_index.extend(index[done:start])
        # Keep the last character's origin so a match still covers the whole stretch.
        out.append(text[start] * 3)
        out_index.extend((index[start], index[start + 1], index[end - 1]))
        done = end
    out.append(text[done:])
    out_index.extend(index[done:])
    return "".join(out), out_index
