"""The moderation use case: classify, evaluate against the policy, append, answer.

There is no way through this module that acts on content without appending the
decision to the log in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from audit_log.prepared import Prepared
from audit_log.store import Appended, CountedStrike, Log, StrikeCount, newest_strikes
from classifiers.protocol import Classifier
from policies.evaluate import Outcome, decide, ladder_top, localized, match_rules
from policies.model import Policy
from service.clock import Clock, rfc3339
from service.domain.appeals import INSERT_TOKENS, appeal_offer, new_token
from service.domain.excerpt import excerpt_field, public_excerpt
from service.domain.idempotency import INSERT_KEY, Claim, check, record_row
from service.domain.ids import new_id
from service.domain.language import Language, language_of
from service.domain.privacy import content_commitment, new_salt, subject_pseudonym
from service.domain.publishing import publish_policies
from service.storage.db import decision_content

SCORE_DIGITS = 4
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
    body: dict
    appended: Appended
    tree_size: int
    salt: bytes
    inclusion_proof: list[bytes]
    checkpoint: str
    # {url, token, deadline} for every decision that acts; secret, so never in the log.
    appeal: dict | None = None


def _rule_spans(
    judge: Judge, text: str, labels: Sequence[str], regex_spans: Sequence[tuple[int, int]]
) -> list[list[int]]:
    spans = {(s, e) for s, e in regex_spans}
    for label in labels:
        spans.update((sp.start, sp.end) for sp in judge.classifier.explain(text, label))
    return [[s, e] for s, e in sorted(spans)]


def _decision_body(
    *,
    decision_id: str,
    time: str,
    app: str,
    subject: str,
    content: str,
    judge: Judge,
    scores: dict[str, float],
    outcome: Outcome,
    excerpt: dict | None,
    matched: list[tuple[dict, list[list[int]]]],
    language: Language,
) -> dict:
    policy = judge.policy
    rules = [dict(r, spans=spans) for r, spans in matched]
    return {
        "kind": "decision",
        "id": decision_id,
        "time": time,
        "app": app,
        "subject": subject,
        "content": content,
        "language": language.as_body(),
        "policy": {"id": policy.id, "version": policy.version},
        "classifier": {"name": judge.classifier.name, "version": judge.classifier.version},
        "scores": {k: round(float(v), SCORE_DIGITS) for k, v in sorted(scores.items())},
        "rules": rules,
        "action": outcome.action,
        "content_action": outcome.content_action,
        "automated": True,
        "notice": outcome.notice,
        "excerpt": excerpt,
        "strike": None,
        "escalation": None,
    }


def strike_fields(outcome: Outcome, now: datetime, counted: StrikeCount | None) -> dict:
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

    Scores are computed before the log lock is taken (the expensive part); strikes are
    read and rules evaluated under it, so concurrent posts by one subject escalate
    exactly as if they had arrived one after another.
    """
    by_policy: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_policy[item.policy_id].append(i)
    # The language (stated, else detected) also picks the classifier's heads for the text.
    languages = [language_of(item.text, item.language) for item in items]
    scores: list[dict[str, float]] = [{} for _ in items]
    for policy_id, positions in by_policy.items():
        batch = judges[policy_id].classifier.score(
            [items[i].text for i in positions], [languages[i].tag for i in positions]
        )
        for i, row in zip(positions, batch, strict=True):
            scores[i] = row
    # Rule matching and its explanations depend on the text alone: done before the lock,
    # so the serialised part only adds the author's strikes.
    matches = [
        match_rules(judges[item.policy_id].policy, row, item.text)
        for item, row in zip(items, scores, strict=True)
    ]
    matched_rules = [
        [
            (
                {
                    "id": m.rule.id,
                    "action": m.rule.action,
                    "notice": localized(
                        judges[item.policy_id].policy,
                        m.rule.notice,
                        m.rule.translations,
                        language.tag,
                    )[1],
                    "labels": list(m.labels),
                },
                _rule_spans(judges[item.policy_id], item.text, m.labels, m.spans),
            )
            for m in found
        ]
        for item, found, language in zip(items, matches, languages, strict=True)
    ]
    subjects = [subject_pseudonym(secret, app, item.user_id) for item in items]
    salts = [new_salt() for _ in items]
    excerpt_salts = [new_salt() for _ in items]

    with log.append() as tx:
        now = clock()
        if claim is not None:
            check(tx.conn, claim, now)
        time = tx.stamp(rfc3339(now))
        policies_used = {p: judges[p].policy for p in by_policy}
        newly_published = publish_policies(tx, policies_used.values(), now, published)
        counted = newest_strikes(
            tx.conn,
            [
                (subject, item.policy_id)
                for subject, item in zip(subjects, items, strict=True)
                if ladder_top(policies_used[item.policy_id])
            ],
            time,
            max(ladder_top(p) for p in policies_used.values()),
        )
        staged: list[tuple[dict, Appended]] = []
        offers: list[dict | None] = []
        token_rows = []
        private_rows = []
        for item, subject, row_scores, salt, excerpt_salt, found, matched, language in zip(
            items,
            subjects,
            scores,
            salts,
            excerpt_salts,
            matches,
            matched_rules,
            languages,
            strict=True,
        ):
            judge = judges[item.policy_id]
            policy = judge.policy
            key = (subject, policy.id)
            count = counted.get(key)
            outcome = decide(
                policy,
                found,
                count.weight if count else 0,
                weight_is_exact=count.complete if count else True,
                language=language.tag,
            )
            decision_id = new_id("dec", now)
            excerpt = public_excerpt(
                policy.public_excerpt, item.text, [(s, e) for _, spans in matched for s, e in spans]
            )
            body = _decision_body(
                decision_id=decision_id,
                time=time,
                app=app,
                subject=subject,
                content=content_commitment(salt, item.text),
                judge=judge,
                scores=row_scores,
                outcome=outcome,
                excerpt=excerpt_field(excerpt_salt, excerpt),
                matched=matched,
                language=language,
            )
            body.update(strike_fields(outcome, now, count))
            appended = tx.add(body)
            strike = body["strike"]
            if strike is not None and count is not None:
                # Later items of the same batch must see this decision's strike.
                own = CountedStrike(appended.index, strike["weight"], strike["expires_at"])
                counted[key] = StrikeCount((own, *count.strikes), count.complete)
            staged.append((body, appended))
            offer = None
            if body["action"] != "allow":
                token, deadline, token_row = new_token(
                    decision_id=decision_id, app=app, decided_at=now, policy=policy
                )
                token_rows.append(token_row)
                offer = appeal_offer(public_url, decision_id, token, deadline)
            offers.append(offer)
            private_rows.append(
                {
                    "decision_id": decision_id,
                    "app": app,
                    "content_ref": item.content_ref,
                    "text": item.text if item.store_text else None,
                    "salt": salt,
                    "erased_at": None,
                    "excerpt": excerpt,
                    "excerpt_salt": excerpt_salt if excerpt is not None else None,
                }
            )
        tx.write_with_entries(_INSERT_CONTENT, private_rows)
        tx.write_with_entries(INSERT_TOKENS, token_rows)
        if claim is not None:
            decision_ids = [body["id"] for body, _ in staged]
            tx.write_with_entries(INSERT_KEY, [record_row(tx.conn, claim, decision_ids, now)])
    published.update(newly_published)
    return [
        Moderated(
            body=body,
            appended=appended,
            tree_size=tx.tree_size,
            salt=salt,
            inclusion_proof=tx.proofs[appended.index],
            checkpoint=tx.checkpoint,
            appeal=offer,
        )
        for (body, appended), salt, offer in zip(staged, salts, offers, strict=True)
    ]
