"""The public policies: what rules apply, in plain words, and every version's bytes."""

from __future__ import annotations

import re

from flask import Blueprint, Response
from sqlalchemy import select

from service.http.problems import Problem
from service.http.schemas import PolicyDetailSchema, PolicyListSchema
from service.http.state import current_runtime
from service.storage.db import policy_versions

bp = Blueprint("policies", __name__)
_list = PolicyListSchema()
_detail = PolicyDetailSchema()


def _summary(policy) -> dict:
    return {
        "id": policy.id,
        "title": policy.title,
        "summary": policy.summary,
        "version": policy.version,
        "classifier": policy.classifier,
        "public_excerpt": policy.public_excerpt,
    }


def _policy_or_404(policy_id: str):
    policy = current_runtime().policies.policies.get(policy_id)
    if policy is None:
        raise Problem(404, "not-found", f"No policy {policy_id!r}.")
    return policy


@bp.get("/v1/policies")
def list_policies():
    runtime = current_runtime()
    items = [_summary(p) for _, p in sorted(runtime.policies.policies.items())]
    return _list.dump({"policies": items})


@bp.get("/v1/policies/<policy_id>")
def get_policy(policy_id: str):
    runtime = current_runtime()
    policy = _policy_or_404(policy_id)
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(
                policy_versions.c.version,
                policy_versions.c.published_at,
                policy_versions.c.log_index,
            )
            .where(policy_versions.c.policy_id == policy_id)
            .order_by(policy_versions.c.log_index)
        ).all()
    body = _summary(policy)
    body["language"] = policy.language
    body["rules"] = [
        {
            "id": r.id,
            "title": r.title,
            "description": r.description,
            "action": r.action,
            "notice": r.notice,
            "translations": dict(r.translations),
            "strike": (
                {"weight": r.strike.weight, "expires_after": r.strike.expires_after.text}
                if r.strike
                else None
            ),
            "examples": {"match": list(r.examples.match), "no_match": list(r.examples.no_match)},
        }
        for r in policy.rules
    ]
    body["escalation"] = [
        {
            "active_strikes": s.active_strikes,
            "action": s.action,
            "for": s.for_.text if s.for_ else None,
            "notice": s.notice,
            "translations": dict(s.translations),
        }
        for s in policy.escalation
    ]
    body["appeals"] = {
        "window": policy.appeals.window.text,
        "decide_within": policy.appeals.decide_within.text,
    }
    body["versions"] = [{"version": v, "published_at": at, "log_index": idx} for v, at, idx in rows]
    return _detail.dump(body)


VERSION = re.compile(r"sha256:[0-9a-f]{64}")
POLICY_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@bp.get("/v1/policies/<policy_id>/versions/<version>")
def get_policy_version(policy_id: str, version: str):
    runtime = current_runtime()
    if not (POLICY_ID.fullmatch(policy_id) and VERSION.fullmatch(version)):
        raise Problem(404, "not-found", f"No published version {version!r} of {policy_id!r}.")
    with runtime.engine.connect() as conn:
        source = conn.execute(
            select(policy_versions.c.source)
            .where(policy_versions.c.policy_id == policy_id)
            .where(policy_versions.c.version == version)
        ).scalar_one_or_none()
    if source is None:
        raise Problem(404, "not-found", f"No published version {version!r} of {policy_id!r}.")
    return Response(bytes(source), mimetype="application/yaml")
