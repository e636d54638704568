"""Decisions made by a person: a reviewer acts under a cited rule, and it is logged.

A human decision is a ``decision`` entry like an automated one, with ``automated:
false``, the reviewer's key id as ``moderator``, no classifier and no scores. There is
no action without a rule: the cited rule must exist in the policy, and its strike (and
so the escalation ladder) applies exactly as when a classifier matched it. The author
gets an appeal token like any other; the moderator may not resolve that appeal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, insert

from audit_log.store import Log, StrikeCount, newest_strikes
from policies.evaluate import RuleMatch, ladder_top
from policies.evaluate import decide as decide_outcome
from policies.model import CONTENT_ACTIONS, Policy, Rule
from service.clock import Clock, rfc3339
from service.domain.appeals import appeal_offer, new_token, store_tokens
from service.domain.decision_entry import cited_rule, decision_body
from service.domain.excerpt import excerpt_field, public_excerpt
from service.domain.ids import new_id
from service.domain.moderation import Moderated
from service.domain.privacy import content_commitment, new_salt, subject_pseudonym
from service.domain.publishing import publish_policies
from service.storage.db import decision_content
from service.storage.keys import ApiKey


class DecisionRefused(ValueError):
    """The request names something that does not exist or cannot be done."""

    def __init__(self, detail: str, pointer: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


@dataclass(frozen=True)
class HumanDecision:
    user_id: str
    policy_id: str
    rule_id: str
    action: str | None = None
    content_ref: str | None = None
    text: str | None = None
    notice: str | None = None


def _cited(request: HumanDecision, policies: Mapping[str, Policy]) -> tuple[Policy, Rule, str]:
    """The policy and rule ``request`` cites and the content action it takes; raises
    ``DecisionRefused`` for an unknown policy or rule, or no action to take."""
    policy = policies.get(request.policy_id)
    if policy is None:
        raise DecisionRefused(
            f"Unknown policy {request.policy_id!r}; known: {', '.join(sorted(policies))}.",
            "#/policy",
        )
    try:
        rule = policy.rule(request.rule_id)
    except KeyError:
        raise DecisionRefused(
            f"Policy {policy.id!r} has no rule {request.rule_id!r}; its rules: "
            f"{', '.join(r.id for r in policy.rules)}.",
            "#/rule",
        ) from None
    content_action = request.action or rule.action
    if content_action not in CONTENT_ACTIONS or content_action == "allow":
        raise DecisionRefused(
            f"Rule {rule.id!r} takes no action; name one of: {', '.join(CONTENT_ACTIONS[1:])}.",
            "#/action",
        )
    return policy, rule, content_action


def _counted_strikes(
    conn: Connection, policy: Policy, rule: Rule, subject: str, time: str
) -> StrikeCount | None:
    """The author's live strikes under ``policy`` as its ladder counts them, or None when
    citing ``rule`` issues no strike or the policy has no ladder (nothing to escalate)."""
    if rule.strike is None or not ladder_top(policy):
        return None
    key = (subject, policy.id)
    return newest_strikes(conn, [key], time, ladder_top(policy))[key]


def _content_row(
    request: HumanDecision,
    decision_id: str,
    app: str,
    salt: bytes | None,
    excerpt: str | None,
    excerpt_salt: bytes,
) -> dict[str, Any]:
    """The private ``decision_content`` row: the text (if any) and its salts."""
    return {
        "decision_id": decision_id,
        "app": app,
        "content_ref": request.content_ref,
        "text": request.text,
        "salt": salt,
        "erased_at": None,
        "excerpt": excerpt,
        "excerpt_salt": excerpt_salt if excerpt is not None else None,
    }


def decide(
    request: HumanDecision,
    *,
    reviewer: ApiKey,
    policies: dict[str, Policy],
    log: Log,
    secret: bytes,
    clock: Clock,
    published: set[tuple[str, str]],
    public_url: str = "",
) -> Moderated:
    """Append a reviewer's decision under ``request.rule`` for the reviewer's app.

    ``action`` defaults to the rule's action; any content action but ``allow`` may be
    chosen (a person confirming a held post removes it, say). Raises ``DecisionRefused``
    for an unknown policy or rule, or a rule that takes no action and none was given.
    """
    policy, rule, content_action = _cited(request, policies)
    app = reviewer.app
    subject = subject_pseudonym(secret, app, request.user_id)
    text = request.text
    salt = new_salt() if text is not None else None
    excerpt = public_excerpt(policy.public_excerpt, text, []) if text is not None else None
    excerpt_salt = new_salt()
    content = content_commitment(salt, text) if salt is not None and text is not None else None
    # The reviewer's action and words stand in for the rule's; strikes and the ladder
    # apply exactly as they do to an automated match.
    chosen = replace(rule, action=content_action, notice=request.notice or rule.notice)

    with log.append() as tx:
        now = clock()
        time = tx.stamp(rfc3339(now))
        newly_published = publish_policies(tx, [policy], now, published)
        counted = _counted_strikes(tx.conn, policy, rule, subject, time)
        outcome = decide_outcome(
            policy,
            (RuleMatch(chosen, (), ()),),
            counted.weight if counted else 0,
            weight_is_exact=counted.complete if counted else True,
        )
        decision_id = new_id("dec", now)
        body = decision_body(
            decision_id=decision_id,
            time=time,
            now=now,
            app=app,
            subject=subject,
            content=content,
            policy=policy,
            rules=[cited_rule(rule, rule.notice, (), ())],
            outcome=outcome,
            counted=counted,
            excerpt=excerpt_field(excerpt_salt, excerpt),
            moderator=reviewer.key_id,
        )
        appended = tx.add(body)
        if text is not None or request.content_ref is not None:
            tx.conn.execute(
                insert(decision_content).values(
                    _content_row(request, decision_id, app, salt, excerpt, excerpt_salt)
                )
            )
        token, deadline, row = new_token(
            decision_id=decision_id, app=app, decided_at=now, policy=policy
        )
        store_tokens(tx.conn, [row])
    published.update(newly_published)
    return Moderated(
        body=body,
        appended=appended,
        tree_size=tx.tree_size,
        salt=salt or b"",
        inclusion_proof=tx.proofs[appended.index],
        checkpoint=tx.checkpoint,
        appeal=appeal_offer(public_url, decision_id, token, deadline),
    )
