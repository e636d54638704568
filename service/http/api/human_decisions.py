"""POST /v1/decisions: a reviewer decides by hand, citing a rule, and it is logged."""

from __future__ import annotations

from flask import Blueprint

from service.domain.human_decisions import DecisionRefused, HumanDecision, decide
from service.domain.receipts import receipt_for
from service.http.auth import current_key, require_role
from service.http.body import json_body, load_object
from service.http.problems import field_error, invalid
from service.http.schemas import HumanDecisionRequestSchema, ModerationResultSchema
from service.http.state import current_runtime

bp = Blueprint("human_decisions", __name__)
_request = HumanDecisionRequestSchema()
_result = ModerationResultSchema()


@bp.post("/v1/decisions")
@require_role("reviewer")
def create_human_decision():
    runtime = current_runtime()
    loaded = load_object(_request, json_body())
    try:
        made = decide(
            HumanDecision(
                user_id=loaded["subject"],
                policy_id=loaded["policy"],
                rule_id=loaded["rule"],
                action=loaded["action"],
                content_ref=loaded["content_ref"],
                text=loaded["text"],
                notice=loaded["notice"],
            ),
            reviewer=current_key(),
            policies=dict(runtime.policies.policies),
            log=runtime.log,
            secret=runtime.instance.secret,
            clock=runtime.clock,
            published=runtime.published,
            public_url=runtime.settings.public_url,
        )
    except DecisionRefused as err:
        raise invalid([field_error(err.pointer, err.detail)], err.detail) from err
    return _result.dump(
        {
            "decision": made.body,
            "receipt": receipt_for(made, content_salt=made.salt),
            "appeal": made.appeal,
        }
    ), 201
