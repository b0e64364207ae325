"""What only the embedded store has: its SQLite schema's numbered migrations (`PRAGMA user_version`)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from api.services import Index
from index.documents import make_document
from index.extract import ParseLimits, load_bytes
from index.layout import Layout, Section
from index.sql.sqlite import MIGRATIONS
from tests.documents_made import handbook_pdf

# The tables whose `start`/`end` columns migration 2 renamed to `start_char`/`end_char`.
RENAMED = ("sentences", "chunks", "pages", "sections")


@pytest.fixture
def backend() -> str:
    return "embedded"


def columns(connection: sqlite3.Connection) -> dict[str, list[tuple[str, str, int, int]]]:
    """Each table's columns: name, type, not null, primary key position."""
    tables = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {table: [(r[1], r[2], r[3], r[5]) for r in connection.execute(f"PRAGMA table_info({table})")]
            for table in tables}


def as_before_migrations(database: Path) -> None:
    """Turn a store back into one written before the schema was numbered (columns `start`/`end`, version 0)."""
    with sqlite3.connect(database, isolation_level=None) as connection:
        for table in RENAMED:
            connection.execute(f"ALTER TABLE {table} RENAME COLUMN start_char TO start")
            connection.execute(f"ALTER TABLE {table} RENAME COLUMN end_char TO end")
        connection.execute("PRAGMA user_version = 0")
        old = sqlite3.connect(":memory:")
        old.executescript(MIGRATIONS[0])
        assert columns(connection) == columns(old), "the store now has the schema citeqa wrote before"
        old.close()
    connection.close()


def test_a_store_from_before_the_numbered_schema_opens_with_its_documents(
        tmp_path: Path, make_index: Callable[..., Index]) -> None:
    first = make_index(tmp_path)
    pdf = load_bytes(handbook_pdf().content, filename="handbook.pdf", limits=ParseLimits())
    note = make_document("# Storms\n\nThe storm warden rings the bell twice. Sailors then stay in port.",
                         document_id="note", metadata={"kind": "memo"})
    note = dataclasses.replace(note, layout=Layout((), (Section(0, len(note.text), ("Storms",)),)))
    first.indexer.run([pdf, note])
    store = first.store
    listed, version = store.list_documents(), store.version()
    documents = {d.id: (store.get(d.id), store.get(d.id).layout, store.source(d.id)) for d in listed}
    hits = first.retriever.run("Who is the storm warden?", 5)
    store.close()
    database = tmp_path / "store.sqlite3"
    as_before_migrations(database)

    again = make_index(tmp_path)
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = {table: [c[0] for c in cols] for table, cols in columns(connection).items()}
    connection.close()
    for table in RENAMED:
        assert "start_char" in names[table] and "end_char" in names[table] and "start" not in names[table]
    assert again.store.list_documents() == listed and again.store.version() == version
    for document_id, (document, layout, source) in documents.items():
        assert again.store.get(document_id) == document
        assert again.store.get(document_id).layout == layout
        assert again.store.source(document_id) == source
    assert again.store.get("note").layout.sections[0].path == ("Storms",)
    assert [p.number for p in again.store.get(pdf.id).layout.pages] == list(range(1, 10))
    assert [(h.chunk, h.chunk.layout) for h in again.retriever.run("Who is the storm warden?", 5)] == \
        [(h.chunk, h.chunk.layout) for h in hits]
    again.indexer.add(make_document("Copper conducts electricity well.", document_id="metals"))
    assert again.store.counts()[0] == 3 and again.retriever.run("conducts electricity", 1)[0].document_id == "metals"
    again.store.close()
    make_index(tmp_path).store.close()  # a second start applies nothing again


def test_a_newer_sqlite_schema_is_refused(tmp_path: Path, make_index: Callable[..., Index]) -> None:
    make_index(tmp_path).store.close()
    with sqlite3.connect(tmp_path / "store.sqlite3") as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    with pytest.raises(RuntimeError, match="newer than this citeqa"):
        make_index(tmp_path)
