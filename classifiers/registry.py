"""Classifiers by the name a policy gives in its ``classifier:`` field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from classifiers.ensemble import Ensemble
from classifiers.lexicon import LexiconClassifier
from classifiers.protocol import Classifier

LEXICON_ONLY = "lexicon"
TEXT_LINEAR = "text-linear"
TEXT_ENCODER = "text-encoder"
MODELS = (TEXT_LINEAR, TEXT_ENCODER)


@cache
def load_named(name: str) -> Any:
    """The packaged model called ``name``, loaded (and hash-checked) once per process and
    shared by every policy that names it; text-encoder shares the text-linear instance."""
    if name == TEXT_LINEAR:
        from classifiers import linear

        return linear.load_model()
    if name == TEXT_ENCODER:
        from classifiers import encoder

        return encoder.load_model(ngram=load_named(TEXT_LINEAR))
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def build_classifier(model: str, lexicons: Mapping[str, Sequence[str]]) -> Classifier:
    """The named model joined by a lexicon classifier over the policy's word lists.

    ``lexicon`` means word lists only.
    """
    lexicon = LexiconClassifier(lexicons)
    if model == LEXICON_ONLY:
        return lexicon
    if model in MODELS:
        return Ensemble([load_named(model), lexicon])
    raise ValueError(f"unknown classifier {model!r}; known: {LEXICON_ONLY}, {', '.join(MODELS)}")
