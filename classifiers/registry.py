"""Classifiers by the name a policy gives in its ``classifier:`` field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from classifiers.lexicon import LexiconClassifier
from classifiers.protocol import Classifier

LEXICON_ONLY = "lexicon"


def build_classifier(model: str, lexicons: Mapping[str, Sequence[str]]) -> Classifier:
    """The named model joined by a lexicon classifier over the policy's word lists.

    ``lexicon`` means word lists only.
    """
    lexicon = LexiconClassifier(lexicons)
    if model == LEXICON_ONLY:
        return lexicon
    raise ValueError(f"unknown classifier {model!r}; known: {LEXICON_ONLY}")
