"""Reads of the loaded policies and of their published versions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from policies.model import Policy
from service.storage.db import policy_versions

POLICY_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")
POLICY_VERSION = re.compile(r"sha256:[0-9a-f]{64}")


def policy_summary(policy: Policy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "title": policy.title,
        "summary": policy.summary,
        "version": policy.version,
        "classifier": policy.classifier,
        "public_excerpt": policy.public_excerpt,
    }


def policy_summaries(policies: Mapping[str, Policy]) -> list[dict[str, Any]]:
    """Every loaded policy's summary, in id order."""
    return [policy_summary(p) for _, p in sorted(policies.items())]


def policy_detail(conn: Connection, policy: Policy) -> dict[str, Any]:
    """A loaded policy in full, with every published version: as ``PolicyDetailSchema``
    dumps it."""
    rows = conn.execute(
        select(
            policy_versions.c.version,
            policy_versions.c.published_at,
            policy_versions.c.log_index,
        )
        .where(policy_versions.c.policy_id == policy.id)
        .order_by(policy_versions.c.log_index)
    ).all()
    body = policy_summary(policy)
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
    return body


def policy_source(conn: Connection, policy_id: str, version: str) -> bytes | None:
    """The exact bytes of one published policy version, or None."""
    source = conn.execute(
        select(policy_versions.c.source)
        .where(policy_versions.c.policy_id == policy_id)
        .where(policy_versions.c.version == version)
    ).scalar_one_or_none()
    return bytes(source) if source is not None else None
