"""The emulated APIs through the client libraries their users already run: Google's own
Perspective sample (``googleapiclient.discovery.build`` against our discovery document)
and OpenAI's Python SDK, against a real gunicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.servers import Gunicorn, new_instance


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str]]:
    root: Path = tmp_path_factory.mktemp("emulated")
    env, key = new_instance(root / "instance", f"sqlite:///{root / 'fairwitness.db'}")
    server = Gunicorn(env, log_path=root / "gunicorn.log")
    # The server's public URL is its own address, so the discovery document points here.
    url = server.start()
    yield url, key
    server.stop()


def test_googles_perspective_sample_works_unchanged(served):
    from googleapiclient import discovery
    from googleapiclient.errors import HttpError

    url, key = served
    client = discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=f"{url}/$discovery/rest?version=v1alpha1",
        static_discovery=False,
    )
    analyze_request = {
        "comment": {"text": "I will hurt you"},
        "requestedAttributes": {"TOXICITY": {}, "THREAT": {}},
    }
    response = client.comments().analyze(body=analyze_request).execute()
    threat = response["attributeScores"]["THREAT"]["summaryScore"]
    assert threat["type"] == "PROBABILITY"
    assert 0.0 <= threat["value"] <= 1.0
    decision = requests.get(f"{url}/v1/decisions/{response['decision']['id']}", timeout=30)
    assert decision.status_code == 200
    assert decision.json()["entry"]["action"] == response["decision"]["action"] == "remove"

    with pytest.raises(HttpError) as refused:
        client.comments().analyze(
            body={"comment": {"text": "hi"}, "requestedAttributes": {"SEVERE_TOXICITY": {}}}
        ).execute()
    assert refused.value.resp.status == 400
    assert "SEVERE_TOXICITY" in refused.value.reason


def test_openai_sdk_single_and_list_input(served):
    from openai import BadRequestError, OpenAI

    url, key = served
    client = OpenAI(base_url=f"{url}/openai/v1", api_key=key, max_retries=0)
    single = client.moderations.create(input="I will hurt you", model="omni-moderation-latest")
    assert len(single.results) == 1
    assert single.results[0].flagged is True
    assert single.results[0].category_scores.violence >= 0.0

    listed = client.moderations.create(input=["Have a lovely day", "I will hurt you"])
    assert [r.flagged for r in listed.results] == [False, True]

    with pytest.raises(BadRequestError) as refused:
        client.moderations.create(
            input=[{"type": "image_url", "image_url": {"url": "https://example.org/a.png"}}]
        )
    assert refused.value.status_code == 400
    assert refused.value.body["param"] == "input[0]"
