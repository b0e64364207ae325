"""What only the server backend has: its schema migrations, the outbox to Milvus, replicas sharing one store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.services import Index
from index import pg_rows
from index.base import StoreMismatchError
from index.documents import make_document
from index.postgres import PostgresStore


@pytest.fixture
def backend() -> str:
    return "server"


def pending(store: PostgresStore) -> list[str]:
    with store.pool.connection() as connection:
        return [row[0] for row in connection.execute("SELECT document_id FROM milvus_pending ORDER BY 1")]


def test_schema_is_migrated_once_in_order_and_a_newer_one_is_refused(
        tmp_path: Path, make_index: Callable[..., Index], server_location: Callable[[Path], dict[str, Any]]) -> None:
    url = server_location(tmp_path)["database_url"]
    with psycopg.connect(url, autocommit=True) as connection:  # a database left by a citeqa with one migration
        connection.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                           "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        connection.execute(pg_rows.MIGRATIONS[0])
        connection.execute("INSERT INTO schema_migrations(version) VALUES (1)")
    first = make_index(tmp_path)
    first.indexer.add(make_document("Copper conducts electricity well.", document_id="metals"))
    make_index(tmp_path)  # a second start applies nothing again
    with psycopg.connect(url, autocommit=True) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == list(range(1, len(pg_rows.MIGRATIONS) + 1))
        connection.execute("INSERT INTO schema_migrations(version) VALUES (%s)", (len(pg_rows.MIGRATIONS) + 1,))
    with pytest.raises(RuntimeError, match="newer than this citeqa"):
        make_index(tmp_path)


def test_a_write_milvus_missed_is_copied_on_the_next_start(
        tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch) -> None:
    index = make_index(tmp_path)
    store = index.store
    assert isinstance(store, PostgresStore)
    index.indexer.add(make_document("Saturn has rings made of ice.", document_id="saturn"))

    def milvus_down(*_: object, **__: object) -> int:
        raise ConnectionError("milvus is down")

    monkeypatch.setattr(store.milvus, "upsert", milvus_down)
    # Committed in PostgreSQL, so reported as written; Milvus is behind and the outbox says so.
    index.indexer.add(make_document("Jupiter has a great red spot, a storm.", document_id="jupiter"))
    assert store.has("jupiter") and pending(store) == ["jupiter"]
    assert [hit.document_id for hit in index.retriever.run("great red spot storm", 2)] == ["saturn"]
    monkeypatch.undo()
    reopened = make_index(tmp_path).store
    assert isinstance(reopened, PostgresStore)
    assert pending(reopened) == [] and reopened.milvus.count() == reopened.counts()[1]
    assert make_index(tmp_path).retriever.run("great red spot storm", 1)[0].document_id == "jupiter"


def test_a_deleted_document_is_never_cited_though_milvus_still_returns_it(
        tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch) -> None:
    index = make_index(tmp_path)
    store = index.store
    assert isinstance(store, PostgresStore)
    index.indexer.add(make_document("Saturn has rings made of ice.", document_id="saturn"))
    index.indexer.add(make_document("Jupiter has a great red spot, a storm.", document_id="jupiter"))
    monkeypatch.setattr(store.milvus, "delete_stale", lambda *_: None)  # Milvus keeps the deleted chunks
    store.delete("jupiter")
    ranked = [chunk_id for chunk_id, _ in store.lexical_ranking("great red spot storm", 5, None)]
    assert ranked  # Milvus still returns jupiter's chunk ...
    assert store.chunks(ranked, 0) == {}  # ... which PostgreSQL no longer has, so it is never read
    hits = index.retriever.run("great red spot storm", 3)
    assert hits and all(hit.document_id == "saturn" for hit in hits)
    monkeypatch.undo()
    reopened = make_index(tmp_path).store
    assert isinstance(reopened, PostgresStore)
    assert reopened.milvus.count() == 1 and pending(reopened) == []


def test_two_stores_on_one_database_see_each_others_writes_at_once(
        tmp_path: Path, make_index: Callable[..., Index]) -> None:
    first, second = make_index(tmp_path), make_index(tmp_path)
    version = second.store.version()
    first.indexer.add(make_document("Copper conducts electricity well.", document_id="metals"))
    assert second.store.version() == version + 1
    assert second.retriever.run("conducts electricity", 1)[0].document_id == "metals"
    second.store.delete("metals")
    assert first.retriever.run("conducts electricity", 3) == []
    assert first.store.list_documents() == []


def test_the_collection_is_created_with_the_configured_shards_and_another_count_is_refused_at_start(
        tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch) -> None:
    from pymilvus import MilvusClient

    # Milvus Lite takes the shard count and ignores it (it always has, and reports, 1 shard), so what is
    # checked here is the request citeqa sends; Milvus Standalone/Distributed create that many.
    requested: list[object] = []
    create = MilvusClient.create_collection

    def recording(client: MilvusClient, name: str, *args: Any, **kwargs: Any) -> None:
        requested.append(kwargs.get("num_shards"))
        create(client, name, *args, **kwargs)

    monkeypatch.setattr(MilvusClient, "create_collection", recording)
    make_index(tmp_path / "four", index={"milvus_shards": 4})
    assert requested == [4]

    index = make_index(tmp_path)  # the default: Milvus's own, 1
    assert requested == [4, 1]
    index.indexer.add(make_document("Saturn has rings made of ice.", document_id="saturn"))
    with pytest.raises(StoreMismatchError, match=r"has 1 shard\(s\) but CITEQA_MILVUS_SHARDS is 2"):
        make_index(tmp_path, index={"milvus_shards": 2})

    # `citeqa rebuild` (the store adopting the running settings) re-creates it with the new count and copies
    # every chunk back from PostgreSQL.
    store = index.store
    assert isinstance(store, PostgresStore)
    store.milvus.shards = 2
    store.adopt_manifest()
    assert requested == [4, 1, 2]
    assert store.milvus.count() == store.counts()[1] == 1
    assert index.retriever.run("rings of ice", 1)[0].document_id == "saturn"
