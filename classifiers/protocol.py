"""The contract every text classifier keeps, so models can be swapped or combined
without touching `service/` or `policies/`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, order=True)
class Span:
    """A half-open character range ``text[start:end]`` that drove a label's score.

    ``weight`` is the span's contribution to the score (1.0 for an exact lexicon hit).
    """

    start: int
    end: int
    weight: float = 1.0


@runtime_checkable
class Classifier(Protocol):
    """Scores texts against a fixed set of labels.

    ``version`` is ``sha256:<hex>`` of whatever determines the scores (model bytes,
    word lists), so a decision names exactly what judged it.
    """

    name: str
    version: str
    labels: tuple[str, ...]

    def score(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, float]]:
        """One dict per text, every label present, each value in [0, 1].

        ``languages``, when given, holds one BCP 47 tag per text (None: not known), so a
        classifier with heads of its own for a language can use them; a classifier
        without any ignores it. A text's score depends on its text and language only,
        never on the others scored with it."""
        ...

    def explain(self, text: str, label: str) -> list[Span]:
        """Spans of ``text`` that raised ``label``'s score, sorted by start."""
        ...
