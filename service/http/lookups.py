"""The public reads as both HTTP surfaces answer them: the JSON routes return these, and
each page renders the same value, so a page cannot say something its API does not.

Each one checks the path parameter's shape, reads through ``service.domain.reads``, says
404 when there is nothing to show, and dumps the result with the route's schema.
"""

from __future__ import annotations

from typing import Any

from flask import request

from policies.model import Policy
from service.domain import appeals
from service.domain.reads import decisions as decision_reads
from service.domain.reads import entries as entry_reads
from service.domain.reads import policies as policy_reads
from service.domain.transparency import report
from service.http import params
from service.http.problems import Problem
from service.http.schemas import (
    AppealViewSchema,
    DecisionViewSchema,
    PolicyDetailSchema,
    PolicyListSchema,
    SubjectSchema,
    TransparencySchema,
)
from service.http.state import current_runtime

_decision = DecisionViewSchema()
_subject = SubjectSchema()
_policy_list = PolicyListSchema()
_policy_detail = PolicyDetailSchema()
_report = TransparencySchema()
_appeal = AppealViewSchema()


def decision(decision_id: str) -> dict[str, Any]:
    """``GET /v1/decisions/{id}``: one decision with its receipt and related entries."""
    if not decision_reads.ENTRY_ID.fullmatch(decision_id):
        raise Problem(404, "not-found", f"No decision {decision_id!r}.")
    with current_runtime().engine.connect() as conn:
        view = decision_reads.decision_view(conn, decision_id)
    if view is None:
        raise Problem(404, "not-found", f"No decision {decision_id!r}.")
    return _decision.dump(view)


def subject(subject_id: str) -> dict[str, Any]:
    """``GET /v1/subjects/{subject}``: a subject's standing now, and its entries."""
    runtime = current_runtime()
    if not decision_reads.SUBJECT.fullmatch(subject_id):
        raise Problem(
            404, "not-found", "Subjects are pseudonyms of the form sub_ followed by 32 hex digits."
        )
    now = runtime.clock()
    with runtime.engine.connect() as conn:
        standing = decision_reads.subject_standing(conn, subject_id, now)
    return _subject.dump(standing)


def policy_list() -> dict[str, Any]:
    """``GET /v1/policies``: every loaded policy's summary."""
    policies = current_runtime().policies.policies
    return _policy_list.dump({"policies": policy_reads.policy_summaries(policies)})


def loaded_policy(policy_id: str) -> Policy:
    policy = current_runtime().policies.policies.get(policy_id)
    if policy is None:
        raise Problem(404, "not-found", f"No policy {policy_id!r}.")
    return policy


def policy_detail(policy_id: str) -> dict[str, Any]:
    """``GET /v1/policies/{id}``: one loaded policy in full, with its published versions."""
    policy = loaded_policy(policy_id)
    with current_runtime().engine.connect() as conn:
        detail = policy_reads.policy_detail(conn, policy)
    return _policy_detail.dump(detail)


def transparency() -> dict[str, Any]:
    """``GET /v1/transparency``: the numbers for the request's ``since``/``until`` window."""
    runtime = current_runtime()
    since, until = params.time(request.args, "since"), params.time(request.args, "until")
    with runtime.engine.connect() as conn:
        bodies = entry_reads.transparency_entries(conn, since, until)
    return _report.dump(report(bodies, runtime.clock(), since, until))


def appeal(appeal_id: str) -> dict[str, Any]:
    """``GET /v1/appeals/{id}``: one appeal as the public sees it, never the statement."""
    runtime = current_runtime()
    if not appeals.APPEAL_ID.fullmatch(appeal_id):
        raise Problem(404, "not-found", f"No appeal {appeal_id!r}.")
    with runtime.engine.connect() as conn:
        view = appeals.public_appeal(conn, appeal_id, runtime.clock())
    if view is None:
        raise Problem(404, "not-found", f"No appeal {appeal_id!r}.")
    return _appeal.dump(view)
