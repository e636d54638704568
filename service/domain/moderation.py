"""The moderation use case: classify, evaluate against the policy, append, answer.

``prepare`` does everything that depends on the text alone (scores, rule matches and
their explanations, language, commitments) before the log's append lock is taken;
under the lock ``moderate`` only reads the authors' strikes, decides, appends and
issues appeal tokens. There is no way through this module that acts on content without
appending the decision to the log in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from audit_log.prepared import Prepared
from audit_log.store import (
    Appended,
    AppendTransaction,
    CountedStrike,
    Log,
    StrikeCount,
    newest_strikes,
)
from classifiers.protocol import Classifier
from policies.evaluate import RuleMatch, decide, ladder_top, localized, match_rules
from policies.model import Policy
from service.clock import Clock, rfc3339
from service.domain.appeals import INSERT_TOKENS, appeal_offer, new_token
from service.domain.decision_entry import cited_rule, decision_body
from service.domain.excerpt import excerpt_field, public_excerpt
from service.domain.idempotency import INSERT_KEY, Claim, check, record_row
from service.domain.ids import new_id
from service.domain.language import Language, language_of
from service.domain.privacy import content_commitment, new_salt, subject_pseudonym
from service.domain.publishing import publish_policies
from service.storage.db import decision_content

_INSERT_CONTENT = Prepared(lambda: insert(decision_content))


@dataclass(frozen=True)
class Judge:
    """A policy and the classifier that scores text for it."""

    policy: Policy
    classifier: Classifier


@dataclass(frozen=True)
class Item:
    text: str
    user_id: str
    policy_id: str
    content_ref: str | None = None
    # False when the client asked that the text not be kept: only its commitment is.
    store_text: bool = True
    # A canonical BCP 47 tag the client stated; detected from the text when None.
    language: str | None = None


@dataclass(frozen=True)
class Moderated:
    body: dict[str, Any]
    appended: Appended
    tree_size: int
    # The content commitment's salt; None when a replayed decision's content was erased.
    salt: bytes | None
    inclusion_proof: list[bytes]
    checkpoint: str
    # {url, token, deadline} for every decision that acts; secret, so never in the log.
    appeal: dict[str, str] | None = None


@dataclass(frozen=True)
class PreparedItem:
    """An item with everything its decision needs that the log's state cannot change:
    scores, matched rules with their explanations, language, subject, salts and the
    public excerpt. Built before the append lock is taken."""

    item: Item
    judge: Judge
    subject: str
    matches: tuple[RuleMatch, ...]
    rules: list[dict[str, Any]]
    scores: dict[str, float]
    language: Language
    salt: bytes
    content: str
    excerpt: str | None
    excerpt_salt: bytes


@dataclass(frozen=True)
class _AppendedDecision:
    """One decision as appended, with the rows that go in the same transaction."""

    body: dict[str, Any]
    appended: Appended
    appeal: dict[str, str] | None
    token_row: dict[str, Any] | None
    content_row: dict[str, Any]


def _rule_spans(
    judge: Judge, text: str, labels: Sequence[str], regex_spans: Sequence[tuple[int, int]]
) -> list[list[int]]:
    spans = {(s, e) for s, e in regex_spans}
    for label in labels:
        spans.update((sp.start, sp.end) for sp in judge.classifier.explain(text, label))
    return [[s, e] for s, e in sorted(spans)]


def _scores(items: Sequence[Item], judges: Mapping[str, Judge]) -> list[dict[str, float]]:
    """Each item's scores, from one classifier call per policy named in ``items``."""
    by_policy: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_policy[item.policy_id].append(i)
    scores: list[dict[str, float]] = [{} for _ in items]
    for policy_id, positions in by_policy.items():
        batch = judges[policy_id].classifier.score([items[i].text for i in positions])
        for i, row in zip(positions, batch, strict=True):
            scores[i] = row
    return scores


def prepare(
    items: Sequence[Item], *, app: str, judges: Mapping[str, Judge], secret: bytes
) -> list[PreparedItem]:
    """Score ``items`` and match their policies' rules: the expensive part of moderating,
    which depends on the text alone and so runs before the append lock."""
    scored = _scores(items, judges)
    salts = [new_salt() for _ in items]
    excerpt_salts = [new_salt() for _ in items]
    prepared = []
    for item, scores, salt, excerpt_salt in zip(items, scored, salts, excerpt_salts, strict=True):
        judge = judges[item.policy_id]
        policy = judge.policy
        language = language_of(item.text, item.language)
        matches = match_rules(policy, scores, item.text)
        rules = [
            cited_rule(
                m.rule,
                localized(policy, m.rule.notice, m.rule.translations, language.tag)[1],
                m.labels,
                _rule_spans(judge, item.text, m.labels, m.spans),
            )
            for m in matches
        ]
        spans = [(s, e) for rule in rules for s, e in rule["spans"]]
        prepared.append(
            PreparedItem(
                item=item,
                judge=judge,
                subject=subject_pseudonym(secret, app, item.user_id),
                matches=matches,
                rules=rules,
                scores=scores,
                language=language,
                salt=salt,
                content=content_commitment(salt, item.text),
                excerpt=public_excerpt(policy.public_excerpt, item.text, spans),
                excerpt_salt=excerpt_salt,
            )
        )
    return prepared


def _append_decision(
    tx: AppendTransaction,
    p: PreparedItem,
    counted: dict[tuple[str, str], StrikeCount],
    *,
    now: datetime,
    time: str,
    app: str,
    public_url: str,
) -> _AppendedDecision:
    """Decide ``p`` with its author's ``counted`` strikes and append the decision; the
    decision's own strike is added to ``counted`` for later items of the same batch."""
    policy = p.judge.policy
    key = (p.subject, policy.id)
    count = counted.get(key)
    outcome = decide(
        policy,
        p.matches,
        count.weight if count else 0,
        weight_is_exact=count.complete if count else True,
        language=p.language.tag,
    )
    decision_id = new_id("dec", now)
    body = decision_body(
        decision_id=decision_id,
        time=time,
        now=now,
        app=app,
        subject=p.subject,
        content=p.content,
        policy=policy,
        rules=p.rules,
        outcome=outcome,
        counted=count,
        excerpt=excerpt_field(p.excerpt_salt, p.excerpt),
        classifier=p.judge.classifier,
        scores=p.scores,
        language=p.language,
    )
    appended = tx.add(body)
    strike = body["strike"]
    if strike is not None and count is not None:
        own = CountedStrike(appended.index, strike["weight"], strike["expires_at"])
        counted[key] = StrikeCount((own, *count.strikes), count.complete)
    offer = token_row = None
    if body["action"] != "allow":
        token, deadline, token_row = new_token(
            decision_id=decision_id, app=app, decided_at=now, policy=policy
        )
        offer = appeal_offer(public_url, decision_id, token, deadline)
    content_row = {
        "decision_id": decision_id,
        "app": app,
        "content_ref": p.item.content_ref,
        "text": p.item.text if p.item.store_text else None,
        "salt": p.salt,
        "erased_at": None,
        "excerpt": p.excerpt,
        "excerpt_salt": p.excerpt_salt if p.excerpt is not None else None,
    }
    return _AppendedDecision(body, appended, offer, token_row, content_row)


def moderate(
    items: Sequence[Item],
    *,
    app: str,
    judges: dict[str, Judge],
    log: Log,
    secret: bytes,
    clock: Clock,
    published: set[tuple[str, str]],
    public_url: str = "",
    claim: Claim | None = None,
) -> list[Moderated]:
    """Judge ``items`` in order and append every decision in ONE transaction.

    With a ``claim`` (an idempotency key), the key is checked under the log lock and
    recorded with the decisions; ``AlreadyDone`` is raised, appending nothing, if it was
    used before.

    Scores, rule matches and their explanations are computed before the log lock is
    taken (``prepare``: the expensive part). Under it only the authors' strikes are read
    and the outcome decided with them, so concurrent posts by one subject escalate
    exactly as if they had arrived one after another.
    """
    prepared = prepare(items, app=app, judges=judges, secret=secret)
    policies_used = {p.item.policy_id: p.judge.policy for p in prepared}
    with log.append() as tx:
        now = clock()
        if claim is not None:
            check(tx.conn, claim, now)
        time = tx.stamp(rfc3339(now))
        newly_published = publish_policies(tx, policies_used.values(), now, published)
        counted = newest_strikes(
            tx.conn,
            [(p.subject, p.item.policy_id) for p in prepared if ladder_top(p.judge.policy)],
            time,
            max(ladder_top(policy) for policy in policies_used.values()),
        )
        decided = [
            _append_decision(tx, p, counted, now=now, time=time, app=app, public_url=public_url)
            for p in prepared
        ]
        tx.write_with_entries(_INSERT_CONTENT, [d.content_row for d in decided])
        tx.write_with_entries(INSERT_TOKENS, [d.token_row for d in decided if d.token_row])
        if claim is not None:
            decision_ids = [d.body["id"] for d in decided]
            tx.write_with_entries(INSERT_KEY, [record_row(tx.conn, claim, decision_ids, now)])
    published.update(newly_published)
    return [
        Moderated(
            body=d.body,
            appended=d.appended,
            tree_size=tx.tree_size,
            salt=p.salt,
            inclusion_proof=tx.proofs[d.appended.index],
            checkpoint=tx.checkpoint,
            appeal=d.appeal,
        )
        for p, d in zip(prepared, decided, strict=True)
    ]
