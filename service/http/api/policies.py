"""The public policies: what rules apply, in plain words, and every version's bytes."""

from __future__ import annotations

from flask import Blueprint, Response

from service.domain.reads.policies import POLICY_ID, POLICY_VERSION, policy_source
from service.http import lookups
from service.http.problems import Problem
from service.http.state import current_runtime

bp = Blueprint("policies", __name__)


@bp.get("/v1/policies")
def list_policies():
    return lookups.policy_list()


@bp.get("/v1/policies/<policy_id>")
def get_policy(policy_id: str):
    return lookups.policy_detail(policy_id)


@bp.get("/v1/policies/<policy_id>/versions/<version>")
def get_policy_version(policy_id: str, version: str):
    runtime = current_runtime()
    if not (POLICY_ID.fullmatch(policy_id) and POLICY_VERSION.fullmatch(version)):
        raise Problem(404, "not-found", f"No published version {version!r} of {policy_id!r}.")
    with runtime.engine.connect() as conn:
        source = policy_source(conn, policy_id, version)
    if source is None:
        raise Problem(404, "not-found", f"No published version {version!r} of {policy_id!r}.")
    return Response(source, mimetype="application/yaml")
