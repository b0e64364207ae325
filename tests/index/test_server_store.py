"""What only the server backend has: its schema migrations, the outbox to Milvus, replicas sharing one store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from api.services import Index
from index import postgres
from index.base import StoreMismatchError
from index.documents import make_document
from index.milvus import ChunkRow
from index.postgres import PostgresStore
from index.sql import postgresql as pg_schema
from index.sql import sqlite as sqlite_schema
from index.sql.dialect import statements


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
        connection.execute(pg_schema.MIGRATIONS[0])
        connection.execute("INSERT INTO schema_migrations(version) VALUES (1)")
    first = make_index(tmp_path)
    first.indexer.add(make_document("Copper conducts electricity well.", document_id="metals"))
    make_index(tmp_path)  # a second start applies nothing again
    with psycopg.connect(url, autocommit=True) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == list(range(1, len(pg_schema.MIGRATIONS) + 1))
        connection.execute("INSERT INTO schema_migrations(version) VALUES (%s)", (len(pg_schema.MIGRATIONS) + 1,))
    with pytest.raises(RuntimeError, match="newer than this citeqa"):
        make_index(tmp_path)


def test_both_schemas_have_the_same_tables_and_column_names(
        tmp_path: Path, make_index: Callable[..., Index], server_location: Callable[[Path], dict[str, Any]]) -> None:
    """The shared SQL layer (index/sql/) names every column once: the migrated schemas must agree."""
    make_index(tmp_path)
    sqlite = sqlite3.connect(":memory:")
    for script in sqlite_schema.MIGRATIONS:
        for statement in statements(script):
            sqlite.execute(statement)
    tables = [row[0] for row in sqlite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    in_sqlite = {table: [row[1] for row in sqlite.execute(f"PRAGMA table_info({table})")] for table in tables}
    sqlite.close()
    with psycopg.connect(server_location(tmp_path)["database_url"], autocommit=True) as connection:
        in_postgres = {table: [row[0] for row in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
            "ORDER BY ordinal_position", (table,))] for table in tables}
    assert in_postgres == in_sqlite


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


def postgres_ids(store: PostgresStore) -> list[int]:
    with store.pool.connection() as connection:
        return [int(row[0]) for row in connection.execute("SELECT id FROM chunks ORDER BY id")]


def milvus_ids(store: PostgresStore) -> list[int]:
    return sorted(i for batch in store.milvus.ids_between(0, None) for i in batch)


def test_a_full_reconciliation_walks_the_ids_range_by_range(
        tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch) -> None:
    index = make_index(tmp_path)
    store = index.store
    assert isinstance(store, PostgresStore)
    for n, stone in enumerate(["ice", "iron", "dust", "salt", "glass", "clay", "sand"]):
        index.indexer.add(make_document(f"Moon {n} of the planet Kelra is made of {stone}.", document_id=f"moon-{n}"))
    # Milvus drifts: it keeps a replaced document's old chunk (an id between live ones) and a deleted
    # document's, loses two live chunks, and holds a row above every id PostgreSQL gave.
    monkeypatch.setattr(store.milvus, "delete_stale", lambda *_: None)
    index.indexer.add(make_document("Moon 2 of the planet Kelra is made of basalt.", document_id="moon-2"))
    store.delete("moon-5")
    monkeypatch.undo()
    live = postgres_ids(store)
    assert len(live) == 6
    store.milvus.delete_ids([live[0], live[3]])
    ghost = np.full(store.milvus.dimension, store.milvus.dimension ** -0.5, dtype=np.float32)
    store.milvus.upsert([ChunkRow(live[-1] + 1000, "ghost", "A row PostgreSQL never had.", ghost)])
    assert milvus_ids(store) != live

    ranges: list[tuple[int, int | None]] = []
    between = store.milvus.ids_between

    def recorded(after: int, upto: int | None, batch_size: int = 4096) -> Any:
        ranges.append((after, upto))
        return between(after, upto, batch_size=2)  # small pages too: deleting while paging loses nothing

    monkeypatch.setattr(store.milvus, "ids_between", recorded)
    store.reconcile(full=True, range_size=2)
    # Two PostgreSQL ids per range, each range starting where the last ended, the last one open above.
    assert ranges == [(0, live[1]), (live[1], live[3]), (live[3], live[5]), (live[5], None)]
    monkeypatch.undo()
    assert milvus_ids(store) == live
    assert [hit.document_id for hit in index.retriever.run("moon made of basalt", 1)] == ["moon-2"]

    # On start, a count that differs runs the same walk (here in ranges of 3).
    store.milvus.delete_ids([live[2]])
    monkeypatch.setattr(postgres, "RECONCILE_RANGE", 3)
    reopened = make_index(tmp_path).store
    assert isinstance(reopened, PostgresStore) and milvus_ids(reopened) == live


def test_only_documents_that_had_chunks_before_pay_for_milvus_filtered_delete(
        tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch) -> None:
    # A spy on the real Milvus: it records which documents each sync asks to clear, then clears them.
    index = make_index(tmp_path)
    store = index.store
    assert isinstance(store, PostgresStore)
    asked: list[dict[str, int | None]] = []
    delete_stale = store.milvus.delete_stale

    def recording(oldest: dict[str, int | None]) -> None:
        asked.append(dict(oldest))
        delete_stale(oldest)

    monkeypatch.setattr(store.milvus, "delete_stale", recording)
    index.indexer.add(make_document("Saturn has rings made of ice.", document_id="saturn"))
    assert asked == []  # a new document: Milvus cannot hold rows of it
    first = postgres_ids(store)

    def milvus_down(*_: object, **__: object) -> int:
        raise ConnectionError("milvus is down")

    upsert = store.milvus.upsert
    monkeypatch.setattr(store.milvus, "upsert", milvus_down)
    index.indexer.add(make_document("Saturn has rings made of rock and ice.", document_id="saturn"))
    assert pending(store) == ["saturn"] and asked == []  # the replacement's copy failed: saturn stays stale
    monkeypatch.setattr(store.milvus, "upsert", upsert)
    # The next write is of a new document; the sync that follows it also finishes saturn's, and clears
    # saturn's old row (its staleness outlived the failed sync), but asks nothing for the new document.
    index.indexer.add(make_document("Jupiter has a great red spot, a storm.", document_id="jupiter"))
    assert [sorted(a) for a in asked] == [["saturn"]]
    assert asked[0]["saturn"] > first[0]
    assert pending(store) == [] and milvus_ids(store) == postgres_ids(store)
    store.delete("jupiter")
    assert asked[-1] == {"jupiter": None}
    assert milvus_ids(store) == postgres_ids(store)
