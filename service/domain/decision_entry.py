"""The body of a ``decision`` log entry, automated or made by a person.

Both kinds of decision are built here and only here: the log hashes the body, so one
spelling of it is what lets a reader (or ``fairwitness log audit``) re-derive each field
the same way for every decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from audit_log.store import StrikeCount
from classifiers.language import Language
from classifiers.protocol import Classifier
from policies.evaluate import Outcome
from policies.model import Policy, Rule
from service.clock import rfc3339

SCORE_DIGITS = 4


def cited_rule(
    rule: Rule, notice: str, labels: Iterable[str], spans: Sequence[Sequence[int]]
) -> dict[str, Any]:
    """One entry of a decision's ``rules``: the rule as the policy states it (its own
    action), the ``notice`` shown for it, the ``labels`` that matched and the character
    ``spans`` of the text that made it match."""
    return {
        "id": rule.id,
        "action": rule.action,
        "notice": notice,
        "labels": list(labels),
        "spans": [list(span) for span in spans],
    }


def strike_fields(outcome: Outcome, now: datetime, counted: StrikeCount | None) -> dict[str, Any]:
    """The ``strike``, ``escalation`` and ``counted_strikes`` fields of a decision body
    for ``outcome``, decided at ``now`` with the author's ``counted`` strikes (None when
    the ladder was not consulted): the same for automated and human decisions.

    ``counted_strikes`` names, by log index and with the weight each entry's body gives,
    the earlier strikes the ladder counted, so anyone replaying the log can check the
    escalation (or its absence) against the bodies alone.
    """
    strike = outcome.strike
    step = outcome.escalation
    return {
        "strike": None
        if strike is None
        else {
            "weight": strike.weight,
            "expires_at": rfc3339(strike.expires_after.add_to(now)),
        },
        "escalation": None
        if step is None
        else {
            "active_strikes": outcome.active_strike_weight + (strike.weight if strike else 0),
            "threshold": step.active_strikes,
            "action": step.action,
            "ends_at": rfc3339(step.for_.add_to(now)) if step.for_ else None,
        },
        "counted_strikes": None
        if strike is None or counted is None
        else {
            "strikes": [
                {"index": s.index, "weight": s.weight}
                for s in sorted(counted.strikes, key=lambda s: s.index)
            ],
            "complete": counted.complete,
        },
    }


def decision_body(
    *,
    decision_id: str,
    time: str,
    now: datetime,
    app: str,
    subject: str,
    content: str | None,
    policy: Policy,
    rules: list[dict[str, Any]],
    outcome: Outcome,
    counted: StrikeCount | None,
    excerpt: dict[str, Any] | None,
    classifier: Classifier | None = None,
    scores: Mapping[str, float] | None = None,
    language: Language | None = None,
    moderator: str | None = None,
) -> dict[str, Any]:
    """A ``decision`` entry: automated when a ``classifier`` scored the text (with its
    ``scores`` and the detected ``language``), or a person's when ``moderator`` (the
    reviewer's key id) is given, with no classifier and no scores.

    ``time`` is the log's stamp of ``now``; ``rules`` are ``cited_rule``s; ``content`` is
    the text's commitment (None when a person acted on no text); ``counted`` is the
    author's strikes as the ladder counted them (None when it was not consulted).
    """
    automated = moderator is None
    body: dict[str, Any] = {
        "kind": "decision",
        "id": decision_id,
        "time": time,
        "app": app,
        "subject": subject,
        "content": content,
    }
    if language is not None:
        body["language"] = language.as_body()
    body |= {
        "policy": {"id": policy.id, "version": policy.version},
        "classifier": None
        if classifier is None
        else {"name": classifier.name, "version": classifier.version},
        "scores": {k: round(float(v), SCORE_DIGITS) for k, v in sorted((scores or {}).items())},
        "rules": rules,
        "action": outcome.action,
        "content_action": outcome.content_action,
        "automated": automated,
    }
    if not automated:
        body["moderator"] = moderator
    body |= {
        "notice": outcome.notice,
        "excerpt": excerpt,
        **strike_fields(outcome, now, counted),
    }
    return body
