"""Which language a text is in, when nobody says: a small maintained detector.

Detection uses py3langid (langid.py's naive Bayes model over byte n-grams, 97 languages),
whose model ships inside the package and is read once per process; nothing is
downloaded. It reads only a prefix of the text, so a huge post costs no more than a
long one, and it answers ``und`` (undetermined) when it is not confident, rather than
guessing. The service detects the language of every text whose client does not state
one, and ``fairwitness classifiers score`` does the same, so a text scores the same
through either.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import Literal

from py3langid.langid import MODEL_FILE, LanguageIdentifier

DETECTION_PREFIX_CHARS = 1000
"""Characters read by detection: far more than it needs to be sure, and a bounded cost
(about half a millisecond) whatever the text's length."""

MIN_CONFIDENCE = 0.5
"""Below this probability the language is ``und``. On 800 French and 800 English tweets
it leaves 12 % and 15 % undetermined and at most 1 % confidently wrong
(docs/policy-language.md, "Languages")."""

DETECTOR = f"py3langid-{version('py3langid')}"


@cache
def _identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(
        MODEL_FILE, norm_probs=True, min_confidence=MIN_CONFIDENCE
    )


def load_detector() -> None:
    """Read the detector's model now (a few seconds), not on the first request."""
    _identifier()


def detect(text: str) -> str:
    """The language of ``text`` as an ISO 639 code (a BCP 47 primary language subtag;
    ``zxx`` for no linguistic content), or ``und``."""
    # langid is untyped: classify answers (language code, confidence).
    tag: str = _identifier().classify(text[:DETECTION_PREFIX_CHARS])[0]
    return tag


@dataclass(frozen=True)
class Language:
    """A text's language: a canonical BCP 47 tag, and how it became known."""

    tag: str
    source: Literal["stated", "detected"]

    def as_body(self) -> dict[str, str]:
        """The ``language`` field of a decision body (and of a scored line); a detected
        one names the detector."""
        body = {"tag": self.tag, "source": self.source}
        if self.source == "detected":
            body["detector"] = DETECTOR
        return body


def language_of(text: str, stated: str | None) -> Language:
    """The stated language (already a canonical tag) when there is one, else detected."""
    if stated is not None:
        return Language(stated, "stated")
    return Language(detect(text), "detected")
