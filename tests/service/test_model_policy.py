"""A policy that names the trained model gets it, joined by its word lists."""

from __future__ import annotations

import shutil
from pathlib import Path

from service.http.app import create_app
from service.http.state import runtime_of
from tests.conftest import LIBRARY, make_key

POLICY = """\
id: modelled
title: Model-scored civility
summary: Removes threats the trained model is sure of.
classifier: text-linear
rules:
  - id: threat
    title: Threats of violence
    when: {score: {label: threat, at_least: 0.9}}
    action: remove
    strike: {weight: 2, expires_after: P90D}
    notice: Your post was removed because it reads as a threat of violence.
    examples:
      match: ["I will kill you"]
      no_match: ["have a lovely day"]
appeals: {window: P6M, decide_within: P7D}
"""


def test_policy_scored_by_the_trained_model(tmp_path: Path, sqlite_url, instance_dir):
    policy_dir = tmp_path / "policies"
    shutil.copytree(LIBRARY, policy_dir)
    (policy_dir / "modelled.yaml").write_text(POLICY)
    app = create_app(
        {"database_url": sqlite_url, "instance_dir": instance_dir, "policy_dir": policy_dir}
    )
    key = make_key(sqlite_url, "forum", "client")
    resp = app.test_client().post(
        "/v1/moderations",
        headers={"Authorization": f"Bearer {key}"},
        json={"text": "I will kill you", "subject": "u", "policy": "modelled"},
    )
    assert resp.status_code == 201, resp.get_json()
    decision = resp.get_json()["decision"]
    assert decision["classifier"]["name"] == "text-linear+lexicon"
    assert decision["action"] == "remove"
    assert decision["scores"]["threat"] >= 0.9
    assert set(decision["scores"]) >= {
        "toxicity",
        "insult",
        "threat",
        "identity_attack",
        "profanity",
        "spam",
    }
    spans = decision["rules"][0]["spans"]
    assert spans and all(0 <= s < e <= len("I will kill you") for s, e in spans)
    runtime_of(app).engine.dispose()
