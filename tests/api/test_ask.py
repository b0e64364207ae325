"""POST /v1/ask with the real models, on the default article (in-process, on each backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.metrics import best_over, f1

SEED_FILE = Path(__file__).parents[1] / "fixtures" / "seed-dev.jsonl"
SEED = [json.loads(line) for line in SEED_FILE.read_text().splitlines()]
DEFAULT_ID = "ukraine-retakes-bakhmut-2023-05-13"


def assert_citations_exact(client, body: dict) -> None:
    for citation in body["citations"]:
        text = client.get(f"/v1/documents/{citation['document_id']}").json()["text"]
        assert text[citation["start"] : citation["end"]] == citation["text"]
        passage = citation["passage"]
        assert text[passage["start"] : passage["end"]] == passage["text"]
        assert passage["start"] <= citation["start"] and citation["end"] <= passage["end"]


def test_the_example_question_cites_prigozhin(client) -> None:
    body = client.post("/v1/ask", json={"question": "who said the troops were fleeing?"}).json()
    assert "Prigozhin" in body["answer"]
    assert body["answer"] == body["citations"][0]["text"]
    assert body["citations"][0]["document_id"] == DEFAULT_ID
    assert 0.0 <= body["score"] <= 1.0
    assert "fleeing" in body["citations"][0]["passage"]["text"]
    assert_citations_exact(client, body)


@pytest.mark.parametrize("case", SEED, ids=[c["id"] for c in SEED])
def test_seed_questions(client, case: dict) -> None:
    response = client.post("/v1/ask", json={"question": case["question"], "document_ids": [DEFAULT_ID]})
    assert response.status_code == 200
    body = response.json()
    assert_citations_exact(client, body)
    if not case["answers"]:
        assert body["answer"] is None
    else:
        assert body["answer"] is not None, body
        assert best_over(f1, body["answer"], case["answers"]) >= 0.5, body["answer"]


def test_top_k_and_document_filter(client) -> None:
    body = client.post("/v1/ask", json={"question": "Who is Yevgeny Prigozhin?", "top_k": 1,
                                        "document_ids": [DEFAULT_ID]}).json()
    assert body["citations"] and all(c["document_id"] == DEFAULT_ID for c in body["citations"])


def test_an_unknown_document_is_a_404_and_changes_nothing(client) -> None:
    before = client.get("/v1/documents").json()["documents"]
    for route, body in (("/v1/ask", {"question": "who?", "document_ids": ["no-such-doc"]}),
                        ("/v1/chat", {"messages": [{"role": "user", "content": "who?"}],
                                      "document_ids": ["no-such-doc"]})):
        response = client.post(route, json=body)
        assert response.status_code == 404, (route, response.text)
        assert response.json()["error"]["code"] == "unknown_document"
    assert client.get("/v1/documents").json()["documents"] == before
