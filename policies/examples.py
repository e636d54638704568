"""Run the examples a policy carries, so a rule that drifts from its intent fails loudly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from policies.evaluate import match_rule
from policies.model import Policy, Rule

Scorer = Callable[[Sequence[str]], list[dict[str, float]]]
"""Scores texts, one dict of label scores per text (a ``Classifier.score``)."""


@dataclass(frozen=True)
class ExampleFailure:
    """An example whose rule did not do what the example says it should."""

    policy_id: str
    rule_id: str
    expected: Literal["match", "no_match"]
    text: str
    scores: dict[str, float]

    def describe(self) -> str:
        """One line naming the policy, rule, expectation and example text."""
        if self.expected == "match":
            problem = "should match but does not"
        else:
            problem = "should not match but does"
        return f"{self.policy_id}: rule '{self.rule_id}': {problem}: {self.text!r}"


def check_examples(policy: Policy, score: Scorer) -> list[ExampleFailure]:
    """Every example of every rule whose outcome is wrong, in policy order; empty when
    all pass. A ``match`` example must make its own rule match, a ``no_match`` example
    must not. All texts are scored in one call to ``score``."""
    cases: list[tuple[Rule, Literal["match", "no_match"], str]] = []
    for rule in policy.rules:
        cases += [(rule, "match", text) for text in rule.examples.match]
        cases += [(rule, "no_match", text) for text in rule.examples.no_match]
    rows = score([text for _, _, text in cases])
    if len(rows) != len(cases):
        raise ValueError(f"the scorer returned {len(rows)} results for {len(cases)} texts")
    failures = []
    for (rule, expected, text), row in zip(cases, rows, strict=True):
        matched = match_rule(rule, row, text) is not None
        if matched != (expected == "match"):
            failures.append(
                ExampleFailure(
                    policy_id=policy.id,
                    rule_id=rule.id,
                    expected=expected,
                    text=text,
                    scores=dict(row),
                )
            )
    return failures
