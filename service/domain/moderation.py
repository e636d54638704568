"""The moderation use case: classify, evaluate against the policy, append, answer.

``prepare`` does everything that depends on the text alone (scores, rule matches and
their explanations, language, commitments) before the log's append lock is taken;
under the lock ``append_requests`` only reads the authors' strikes, decides, appends and
issues appeal tokens. A running instance's ``Moderator`` appends the requests that
arrive together in one transaction (group commit): one lock, one signed checkpoint and
one commit for all of them. There is no way through this module that acts on content
without appending the decision to the log in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from audit_log.prepared import Prepared
from audit_log.store import (
    Appended,
    AppendTransaction,
    CommitUnconfirmed,
    CountedStrike,
    Log,
    StrikeCount,
    newest_strikes,
)
from classifiers.language import Language, language_of
from classifiers.protocol import Classifier
from policies.evaluate import RuleMatch, decide, ladder_top, localized, match_rules
from policies.model import Policy
from service.clock import Clock, rfc3339
from service.domain.appeals import INSERT_TOKENS, appeal_offer, new_token
from service.domain.coalesce import Coalescer
from service.domain.decision_entry import cited_rule, decision_body
from service.domain.excerpt import excerpt_field, public_excerpt
from service.domain.idempotency import (
    INSERT_KEY,
    AlreadyDone,
    Claim,
    check,
    key_row,
    purge_expired_keys,
)
from service.domain.ids import new_id
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
class Request:
    """One caller's items, for one app, with its idempotency claim if any."""

    items: Sequence[Item]
    app: str
    claim: Claim | None = None


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


def _scores(
    items: Sequence[Item], judges: Mapping[str, Judge], languages: Sequence[Language]
) -> list[dict[str, float]]:
    """Each item's scores, from one classifier call per policy named in ``items``; each
    text's language picks the classifier's heads for it."""
    by_policy: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_policy[item.policy_id].append(i)
    scores: list[dict[str, float]] = [{} for _ in items]
    for policy_id, positions in by_policy.items():
        batch = judges[policy_id].classifier.score(
            [items[i].text for i in positions], [languages[i].tag for i in positions]
        )
        for i, row in zip(positions, batch, strict=True):
            scores[i] = row
    return scores


def prepare(
    requests: Sequence[Request], *, judges: Mapping[str, Judge], secret: bytes
) -> list[list[PreparedItem]]:
    """Score the items of ``requests`` and match their policies' rules: the expensive part
    of moderating, which depends on the text alone and so runs before the append lock.
    Every text of every request is scored in one classifier call per policy."""
    items = [item for request in requests for item in request.items]
    apps = [request.app for request in requests for _ in request.items]
    languages = [language_of(item.text, item.language) for item in items]
    scored = _scores(items, judges, languages)
    prepared = []
    for item, app, scores, language in zip(items, apps, scored, languages, strict=True):
        judge = judges[item.policy_id]
        policy = judge.policy
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
        salt = new_salt()
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
                excerpt_salt=new_salt(),
            )
        )
    per_request = []
    start = 0
    for request in requests:
        per_request.append(prepared[start : start + len(request.items)])
        start += len(request.items)
    return per_request


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


@dataclass(frozen=True)
class LogSide:
    """What appending decisions needs besides the decisions: the log, the clock, the
    policy versions already published and the public URL appeal links start with."""

    log: Log
    clock: Clock
    published: set[tuple[str, str]]
    public_url: str = ""


class AnswerFailed(RuntimeError):
    """The decisions were committed, but building their answers failed. Never retried:
    appending the requests again would log their decisions twice. A client that retries
    with its idempotency key gets the committed decisions back."""

    def __init__(self, committed: int) -> None:
        super().__init__(f"{committed} decisions were committed, but their answers failed")


def append_requests(
    requests: Sequence[Request], prepared: Sequence[Sequence[PreparedItem]], side: LogSide
) -> list[list[Moderated] | AlreadyDone]:
    """Decide and append the decisions of every request in ``requests``, in order, in ONE
    transaction with one signed checkpoint: per request its decisions, or
    ``AlreadyDone`` when its idempotency key was used before (appending nothing for it).

    Under the log lock only the authors' strikes are read and the outcomes decided with
    them, so concurrent posts by one subject escalate exactly as if they had arrived one
    after another, whether or not they share a transaction. A claim is recorded as soon
    as its request's decisions are added; a later request of the same group with the same
    key is checked again just before its turn, so it finds that record.
    """
    used: dict[int, AlreadyDone] = {}
    decided: dict[int, list[_AppendedDecision]] = {}
    # Requests whose key an earlier request of this group also carries: checked at
    # their turn, once the earlier one has recorded it.
    check_at_turn: set[int] = set()
    with side.log.append() as tx:
        now = side.clock()
        keys_seen: set[tuple[str, str]] = set()
        for position, request in enumerate(requests):
            if request.claim is None:
                continue
            key = (request.claim.app, request.claim.key)
            if key in keys_seen:
                check_at_turn.add(position)
                continue
            keys_seen.add(key)
            try:
                check(tx.conn, request.claim, now)
            except AlreadyDone as done:
                used[position] = done
        live = [i for i in range(len(requests)) if i not in used]
        if not live:
            return [used[i] for i in range(len(requests))]
        if any(requests[i].claim is not None for i in live):
            purge_expired_keys(tx.conn, now)
        every = [p for i in live for p in prepared[i]]
        policies_used = {p.item.policy_id: p.judge.policy for p in every}
        time = tx.stamp(rfc3339(now))
        newly_published = publish_policies(tx, policies_used.values(), now, side.published)
        counted = newest_strikes(
            tx.conn,
            [(p.subject, p.item.policy_id) for p in every if ladder_top(p.judge.policy)],
            time,
            max(ladder_top(policy) for policy in policies_used.values()),
        )
        for position in live:
            request = requests[position]
            if request.claim is not None and position in check_at_turn:
                try:
                    check(tx.conn, request.claim, now)
                except AlreadyDone as done:
                    used[position] = done
                    continue
            decided[position] = [
                _append_decision(
                    tx,
                    p,
                    counted,
                    now=now,
                    time=time,
                    app=request.app,
                    public_url=side.public_url,
                )
                for p in prepared[position]
            ]
            if request.claim is not None:
                decision_ids = [d.body["id"] for d in decided[position]]
                INSERT_KEY.execute(tx.conn, key_row(request.claim, decision_ids, now))
        appended = [d for request_decided in decided.values() for d in request_decided]
        tx.write_with_entries(_INSERT_CONTENT, [d.content_row for d in appended])
        tx.write_with_entries(INSERT_TOKENS, [d.token_row for d in appended if d.token_row])
    try:
        side.published.update(newly_published)
        return [
            used[i]
            if i in used
            else [
                Moderated(
                    body=d.body,
                    appended=d.appended,
                    tree_size=tx.tree_size,
                    salt=p.salt,
                    inclusion_proof=tx.proofs[d.appended.index],
                    checkpoint=tx.checkpoint,
                    appeal=d.appeal,
                )
                for p, d in zip(prepared[i], decided[i], strict=True)
            ]
            for i in range(len(requests))
        ]
    except Exception as error:
        raise AnswerFailed(len(appended)) from error


def _retry_alone(error: Exception) -> bool:
    """A group's append that failed on the database (down, timed out, or a commit whose
    outcome is unknown) failed for everybody in it, and one that failed after its commit
    is done: a retry per request would only repeat the wait or append twice. Any other
    error came before the commit and may come from one request's data, so each request
    is appended again alone."""
    return not isinstance(error, DBAPIError | CommitUnconfirmed | AnswerFailed)


def moderate_requests(
    requests: Sequence[Request], *, judges: Mapping[str, Judge], secret: bytes, side: LogSide
) -> list[list[Moderated] | AlreadyDone]:
    """Prepare ``requests`` together (one classifier call per policy), then append their
    decisions in one transaction: per request its decisions, or ``AlreadyDone``."""
    return append_requests(requests, prepare(requests, judges=judges, secret=secret), side)


@dataclass
class BatchSettings:
    """How requests are grouped: how long a group waits for company, and how large it
    may grow.

    By default a group waits for nobody: it takes what queued up while the previous group
    was being handled. Under load that forms groups as large as the load (each group
    takes as long as the requests arriving during it need); alone, a request is handled
    at once, with no added latency. Requests whose texts total over ``long_text_chars``
    go to a lane of their own, so a huge post never holds up the short ones queued
    behind it; a lane refuses a request (``Overloaded``, a 503) when ``max_queued_texts``
    texts already wait in it."""

    max_wait_seconds: float = 0.0
    max_texts: int = 64
    max_queued_texts: int = 4096
    long_text_chars: int = 4000


class Moderator:
    """Moderation for one running instance, shared by the request threads of a process.

    The requests that arrive together are handled together by one thread per lane
    (``Coalescer``): their texts are scored in one classifier call per policy (an
    encoder costs far less per text in a batch), and their decisions appended in one
    transaction with one signed checkpoint (group commit). The classifier promises the
    same scores alone or in any batch, and strikes are counted in arrival order, so
    grouping changes how fast a decision is made, never what it is.
    """

    def __init__(
        self,
        judges: Mapping[str, Judge],
        secret: bytes,
        side: LogSide,
        settings: BatchSettings | None = None,
        observe: Callable[[int], None] = lambda texts: None,
    ) -> None:
        self.settings = settings or BatchSettings()

        def lane(name: str) -> Coalescer[Request, list[Moderated]]:
            return Coalescer(
                lambda requests: moderate_requests(
                    requests, judges=judges, secret=secret, side=side
                ),
                name=name,
                max_size=self.settings.max_texts,
                max_queued=self.settings.max_queued_texts,
                max_wait_seconds=self.settings.max_wait_seconds,
                size=lambda request: len(request.items),
                retry_alone=_retry_alone,
                observe=lambda requests: observe(sum(len(r.items) for r in requests)),
            )

        self._short = lane("moderating")
        self._long = lane("moderating-long")

    def moderate(
        self, items: Sequence[Item], *, app: str, claim: Claim | None = None
    ) -> list[Moderated]:
        """Judge ``items`` for ``app`` in order, and append every decision in the
        transaction of their group; ``AlreadyDone``, appending nothing, if ``claim``'s
        key was used before."""
        if not items:
            return []
        long = sum(len(item.text) for item in items) > self.settings.long_text_chars
        return (self._long if long else self._short).submit(Request(items, app, claim))
