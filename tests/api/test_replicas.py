"""Two real `citeqa serve` replicas on one PostgreSQL and one Milvus answer as one service."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.api.conftest import ADMIN_TOKEN, start_server, stop
from tests.servers import Milvus, Postgres

SOUP = "The secret ingredient of the soup is smoked paprika. The soup is served in a blue bowl."
QUESTION = {"question": "What is the secret ingredient of the soup?"}


@pytest.mark.slow  # two servers, each loading the reader and the embedder
def test_ingest_on_one_replica_answer_on_the_other_delete_never_cited(
        tmp_path: Path, servers: tuple[Postgres, Milvus]) -> None:
    postgres, milvus = servers
    url = postgres.database("replicas")
    shared = {"CITEQA_DATABASE_URL": url, "CITEQA_MILVUS_URI": milvus.uri, "CITEQA_ADMIN_TOKEN": ADMIN_TOKEN,
              "CITEQA_MILVUS_COLLECTION": "replicas"}
    # Each replica gets its own data folder, which the server backend never writes documents to.
    with ThreadPoolExecutor(max_workers=2) as pool:
        starting = [pool.submit(start_server, tmp_path / name, tmp_path / f"{name}.log", **shared)
                    for name in ("a", "b")]
        first, second = (future.result() for future in starting)
    try:
        with first.client() as a, second.client() as b:
            # Both started on an empty store; the default article is there once, whichever ingested it.
            assert [d["id"] for d in a.get("/v1/documents").json()["documents"]] == \
                   [d["id"] for d in b.get("/v1/documents").json()["documents"]]
            assert a.post("/v1/documents", json={"id": "soup", "text": SOUP}).status_code == 201
            answer = b.post("/v1/ask", json={**QUESTION, "document_ids": ["soup"]}).json()
            assert answer["answer"] is not None and "paprika" in answer["answer"]
            assert answer["citations"][0]["document_id"] == "soup"
            assert b.post("/v1/ask", json=QUESTION).json()["citations"][0]["document_id"] == "soup"

            assert b.delete("/v1/documents/soup").status_code == 204
            after = a.post("/v1/ask", json=QUESTION).json()
            assert all(c["document_id"] != "soup" for c in after["citations"])
            assert "paprika" not in (after["answer"] or "")
            gone = a.post("/v1/ask", json={**QUESTION, "document_ids": ["soup"]})
            assert gone.status_code == 404 and gone.json()["error"]["code"]
            assert not (tmp_path / "a" / "store.sqlite3").exists()  # nothing went to the embedded store
    finally:
        stop(first)
        stop(second)
