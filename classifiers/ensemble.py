"""Several classifiers answering as one."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from classifiers.protocol import Classifier, Span


class Ensemble:
    """Joins classifiers with disjoint label sets into one ``Classifier``."""

    def __init__(self, members: Sequence[Classifier]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one classifier")
        self.members = tuple(members)
        self._owner: dict[str, Classifier] = {}
        for member in self.members:
            for label in member.labels:
                if label in self._owner:
                    raise ValueError(
                        f"label {label!r} is given by both {self._owner[label].name!r} "
                        f"and {member.name!r}"
                    )
                self._owner[label] = member
        self.labels = tuple(self._owner)
        if len(self.members) == 1:
            self.name = self.members[0].name
            self.version = self.members[0].version
        else:
            self.name = "+".join(m.name for m in self.members)
            joined = "\n".join(f"{m.name} {m.version}" for m in self.members)
            self.version = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()

    def score(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, float]]:
        merged: list[dict[str, float]] = [{} for _ in texts]
        for member in self.members:
            for row, part in zip(merged, member.score(texts, languages), strict=True):
                row.update(part)
        return merged

    def explain(self, text: str, label: str) -> list[Span]:
        member = self._owner.get(label)
        if member is None:
            raise KeyError(label)
        return member.explain(text, label)
