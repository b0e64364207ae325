"""The server backend's PostgreSQL schema, its migrations, and the statements that read and write its rows."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from psycopg import Connection
from psycopg.types.json import Jsonb

from index.base import DocumentSummary, PreparedDocument, StoredChunk
from index.chunk import Span
from index.layout import Layout, Page, Section, SourceFile

# Applied in order, each once, in one transaction per migration; schema_migrations records which ran.
# A later change to the schema is a new entry at the end, never an edit of an applied one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value JSONB NOT NULL);
    CREATE TABLE documents (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, metadata JSONB NOT NULL,
        added_at DOUBLE PRECISION NOT NULL, chunk_count INTEGER NOT NULL, sentence_count INTEGER NOT NULL);
    CREATE TABLE sentences (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
        PRIMARY KEY (document_id, idx));
    CREATE TABLE chunks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
        first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL,
        text TEXT NOT NULL, embedding BYTEA NOT NULL);
    CREATE INDEX chunks_by_document ON chunks(document_id);
    INSERT INTO meta(key, value) VALUES ('version', '0');
    """,
    # Documents written (or deleted) in PostgreSQL whose chunks Milvus may not match yet: the outbox that
    # every write fills in its own transaction and that syncing, start and `citeqa rebuild` drain.
    """
    CREATE TABLE milvus_pending (document_id TEXT PRIMARY KEY, version BIGINT NOT NULL);
    """,
    # Whether Milvus may hold rows of the document that PostgreSQL no longer has (it had chunks before the
    # write, or was deleted). A document only ever added has none, and its sync skips Milvus's filtered
    # delete, whose cost grows with the collection. Rows from before this column are taken as stale.
    """
    ALTER TABLE milvus_pending ADD COLUMN stale BOOLEAN NOT NULL DEFAULT true;
    """,
    # PDF and Word files: the original file, the pages with their character boxes, the sections.
    """
    CREATE TABLE sources (
        document_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        source_type TEXT NOT NULL, media_type TEXT NOT NULL, filename TEXT NOT NULL, sha256 TEXT NOT NULL,
        content BYTEA NOT NULL);
    CREATE TABLE pages (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        number INTEGER NOT NULL, label TEXT, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
        width DOUBLE PRECISION NOT NULL, height DOUBLE PRECISION NOT NULL, rotation INTEGER NOT NULL,
        boxes BYTEA NOT NULL, PRIMARY KEY (document_id, number));
    CREATE TABLE sections (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL, path JSONB NOT NULL,
        PRIMARY KEY (document_id, idx));
    """,
)
# Serialises migrations of replicas that start together (a transaction-level advisory lock).
MIGRATION_LOCK = 7_130_017
SUMMARY_COLUMNS = ("id, title, metadata, char_length(text), chunk_count, sentence_count, added_at, "
                   "coalesce((SELECT source_type FROM sources WHERE document_id = documents.id), 'text'), "
                   "(SELECT count(*) FROM pages WHERE document_id = documents.id), "
                   "(SELECT filename FROM sources WHERE document_id = documents.id), "
                   "(SELECT sha256 FROM sources WHERE document_id = documents.id)")
PAGE_COLUMNS = "number, label, start_char, end_char, width, height, rotation, boxes"


def migrate(connection: Connection[Any]) -> int:
    """Apply the migrations this database lacks; the schema version it has afterwards."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                           "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        applied = int(row[0]) if row else 0
        if applied > len(MIGRATIONS):
            raise RuntimeError(f"the database's schema (version {applied}) is newer than this citeqa's "
                               f"({len(MIGRATIONS)}): upgrade citeqa")
        for number, statement in enumerate(MIGRATIONS[applied:], start=applied + 1):
            connection.execute(statement)  # type: ignore[arg-type]  # constant DDL, no parameters
            connection.execute("INSERT INTO schema_migrations(version) VALUES (%s)", (number,))
    return len(MIGRATIONS)


def read_meta(connection: Connection[Any], key: str) -> Any:
    row = connection.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    return row[0] if row else None


def write_meta(connection: Connection[Any], key: str, value: Any) -> None:
    connection.execute("INSERT INTO meta(key, value) VALUES (%s, %s) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, Jsonb(value)))


def bump_version(connection: Connection[Any]) -> int:
    """The next store version; the row lock this takes also orders concurrent writers, replicas included."""
    row = connection.execute("UPDATE meta SET value = to_jsonb(value::text::bigint + 1) "
                             "WHERE key = 'version' RETURNING value").fetchone()
    assert row is not None, "the meta table lost its version row"
    return int(row[0])


def mark_pending(connection: Connection[Any], changes: Mapping[str, bool], version: int) -> None:
    """Put documents in the outbox at `version`; `changes` maps each to whether this write left stale rows.

    Staleness is sticky: a row that a sync has not yet cleared keeps it, whatever later writes say.
    """
    connection.cursor().executemany(
        "INSERT INTO milvus_pending(document_id, version, stale) VALUES (%s, %s, %s) "
        "ON CONFLICT (document_id) DO UPDATE SET version = excluded.version, "
        "stale = milvus_pending.stale OR excluded.stale",
        [(document_id, version, stale) for document_id, stale in changes.items()])


def delete_rows(connection: Connection[Any], document_id: str) -> bool:
    return connection.execute("DELETE FROM documents WHERE id = %s", (document_id,)).rowcount > 0


def insert(connection: Connection[Any], item: PreparedDocument) -> None:
    document = item.document
    connection.execute(
        "INSERT INTO documents(id, title, text, metadata, added_at, chunk_count, sentence_count) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (document.id, document.title, document.text, Jsonb(document.metadata), time.time(),
         len(item.chunks), len(item.sentences)))
    with connection.cursor() as cursor:
        with cursor.copy("COPY sentences(document_id, idx, start_char, end_char) FROM STDIN") as copy:
            for i, span in enumerate(item.sentences):
                copy.write_row((document.id, i, span.start, span.end))
        with cursor.copy("COPY chunks(document_id, idx, start_char, end_char, first_sentence, last_sentence, "
                         "text, embedding) FROM STDIN") as copy:
            for chunk, vector in zip(item.chunks, item.vectors, strict=True):
                copy.write_row((document.id, chunk.index, chunk.start, chunk.end, chunk.first_sentence,
                                chunk.last_sentence, chunk.text,
                                np.ascontiguousarray(vector, dtype=np.float32).tobytes()))


    if document.source is not None:
        source = document.source
        connection.execute(
            "INSERT INTO sources(document_id, source_type, media_type, filename, sha256, content) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (document.id, source.source_type, source.media_type, source.filename, source.sha256, source.content))
    if document.layout.pages:
        connection.cursor().executemany(
            f"INSERT INTO pages(document_id, {PAGE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(document.id, p.number, p.label, p.start, p.end, p.width, p.height, p.rotation, p.boxes_blob())
             for p in document.layout.pages])
    if document.layout.sections:
        connection.cursor().executemany(
            "INSERT INTO sections(document_id, idx, start_char, end_char, path) VALUES (%s, %s, %s, %s, %s)",
            [(document.id, i, s.start, s.end, Jsonb(list(s.path))) for i, s in enumerate(document.layout.sections)])


def summary(row: tuple[Any, ...]) -> DocumentSummary:
    return DocumentSummary(row[0], row[1], dict(row[2]), row[3], row[4], row[5], row[6], row[7],
                           row[8] if row[7] == "pdf" else None, row[9], row[10])


def layout(connection: Connection[Any], document_id: str, within: tuple[int, int] | None = None) -> Layout:
    """A document's pages and sections: every one (pages without text too), or those overlapping `within`."""
    where, bounds = ("", ()) if within is None else (" AND start_char < %s AND end_char > %s", (within[1], within[0]))
    pages = tuple(
        Page(number, label, s, e, width, height, rotation, Page.boxes_from_blob(boxes, e - s))
        for number, label, s, e, width, height, rotation, boxes in connection.execute(
            f"SELECT {PAGE_COLUMNS} FROM pages WHERE document_id = %s{where} ORDER BY number",
            (document_id, *bounds)))
    sections = tuple(Section(s, e, tuple(path)) for s, e, path in connection.execute(
        f"SELECT start_char, end_char, path FROM sections WHERE document_id = %s{where} ORDER BY idx",
        (document_id, *bounds)))
    return Layout(pages, sections)


def source(connection: Connection[Any], document_id: str) -> SourceFile | None:
    row = connection.execute("SELECT source_type, media_type, filename, content FROM sources WHERE document_id = %s",
                             (document_id,)).fetchone()
    return SourceFile(row[0], row[1], row[2], bytes(row[3])) if row else None


def stored_chunk(connection: Connection[Any], row: tuple[Any, ...], context_chars: int,
                 documents: dict[str, tuple[str, list[Span]]]) -> StoredChunk:
    """The chunk of a `chunks` row, as `index.sqlite_rows.stored_chunk` makes it from SQLite."""
    chunk_id, document_id, start, end, text, first, last = row
    if not context_chars:
        spans = connection.execute(
            "SELECT start_char, end_char FROM sentences WHERE document_id = %s AND idx BETWEEN %s AND %s "
            "ORDER BY idx", (document_id, first, last)).fetchall()
        chunk = StoredChunk(chunk_id, document_id, start, end, text, start, text, tuple(Span(s, e) for s, e in spans))
        return replace(chunk, layout=layout(connection, document_id, (start, max(end, start + 1))))
    if document_id not in documents:
        text_row = connection.execute("SELECT text FROM documents WHERE id = %s", (document_id,)).fetchone()
        assert text_row is not None, "a chunk outlived its document"  # the foreign key cascades
        documents[document_id] = (text_row[0], [Span(s, e) for s, e in connection.execute(
            "SELECT start_char, end_char FROM sentences WHERE document_id = %s ORDER BY idx", (document_id,))])
    document_text, sentences = documents[document_id]
    chunk = StoredChunk.widened(chunk_id, document_id, start, end, text, document_text, sentences, context_chars)
    # The pages and sections the reader's text overlaps: enough to place any span of it, in this snapshot.
    return replace(chunk, layout=layout(connection, document_id,
                                        (chunk.context_start, max(chunk.context_end, chunk.context_start + 1))))
