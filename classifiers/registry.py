"""Classifiers by the name a policy gives in its ``classifier:`` field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from classifiers.ensemble import Ensemble
from classifiers.lexicon import LexiconClassifier
from classifiers.linear import LinearTextClassifier, default_model_dir, load_model
from classifiers.protocol import Classifier

LEXICON_ONLY = "lexicon"
MODELS = ("text-linear",)


@cache
def _model(name: str) -> LinearTextClassifier:
    # One load (and one hash check) per process, shared by every policy that names it.
    return load_model(default_model_dir().parent / name)


def build_classifier(model: str, lexicons: Mapping[str, Sequence[str]]) -> Classifier:
    """The named model joined by a lexicon classifier over the policy's word lists.

    ``lexicon`` means word lists only.
    """
    lexicon = LexiconClassifier(lexicons)
    if model == LEXICON_ONLY:
        return lexicon
    if model in MODELS:
        return Ensemble([_model(model), lexicon])
    raise ValueError(f"unknown classifier {model!r}; known: {LEXICON_ONLY}, {', '.join(MODELS)}")
