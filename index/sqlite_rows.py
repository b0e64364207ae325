"""The embedded store's SQLite schema and the statements that read and write its rows."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from typing import Any

import numpy as np

from index.base import DocumentSummary, PreparedDocument, StoredChunk
from index.chunk import Span
from index.layout import Layout, Page, Section, SourceFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, metadata TEXT NOT NULL,
    added_at REAL NOT NULL, chunk_count INTEGER NOT NULL, sentence_count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sentences (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    PRIMARY KEY (document_id, idx));
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL,
    text TEXT NOT NULL, embedding BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE TABLE IF NOT EXISTS sources (
    document_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    source_type TEXT NOT NULL, media_type TEXT NOT NULL, filename TEXT NOT NULL, sha256 TEXT NOT NULL,
    content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number INTEGER NOT NULL, label TEXT, start INTEGER NOT NULL, end INTEGER NOT NULL,
    width REAL NOT NULL, height REAL NOT NULL, rotation INTEGER NOT NULL, boxes BLOB NOT NULL,
    PRIMARY KEY (document_id, number));
CREATE TABLE IF NOT EXISTS sections (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (document_id, idx));
"""
# Documents sent as JSON text have no `sources` row: their type is "text" and they have no file name.
SUMMARY_COLUMNS = ("id, title, metadata, length(text), chunk_count, sentence_count, added_at, "
                   "coalesce((SELECT source_type FROM sources WHERE document_id = documents.id), 'text'), "
                   "(SELECT count(*) FROM pages WHERE document_id = documents.id), "
                   "(SELECT filename FROM sources WHERE document_id = documents.id), "
                   "(SELECT sha256 FROM sources WHERE document_id = documents.id)")
PAGE_COLUMNS = "number, label, start, end, width, height, rotation, boxes"


def stored_chunk(connection: sqlite3.Connection, row: tuple[Any, ...], context_chars: int,
                 documents: dict[str, tuple[str, list[Span]]]) -> StoredChunk:
    """The chunk of a `chunks` row; `documents` keeps each document's text and sentences read for widening,
    so hits from one document read it once."""
    chunk_id, document_id, start, end, text, first, last = row
    if not context_chars:
        spans = connection.execute(
            "SELECT start, end FROM sentences WHERE document_id = ? AND idx BETWEEN ? AND ? ORDER BY idx",
            (document_id, first, last)).fetchall()
        chunk = StoredChunk(chunk_id, document_id, start, end, text, start, text, tuple(Span(s, e) for s, e in spans))
        return replace(chunk, layout=layout(connection, document_id, (start, max(end, start + 1))))
    if document_id not in documents:
        documents[document_id] = (
            connection.execute("SELECT text FROM documents WHERE id = ?", (document_id,)).fetchone()[0],
            [Span(s, e) for s, e in connection.execute(
                "SELECT start, end FROM sentences WHERE document_id = ? ORDER BY idx", (document_id,))])
    document_text, sentences = documents[document_id]
    chunk = StoredChunk.widened(chunk_id, document_id, start, end, text, document_text, sentences, context_chars)
    # The pages and sections the reader's text overlaps: enough to place any span of it, in this snapshot.
    return replace(chunk, layout=layout(connection, document_id,
                                        (chunk.context_start, max(chunk.context_end, chunk.context_start + 1))))


def layout(connection: sqlite3.Connection, document_id: str, within: tuple[int, int] | None = None) -> Layout:
    """A document's pages and sections: every one (pages without text too), or those overlapping `within`."""
    where, bounds = ("", ()) if within is None else (" AND start < ? AND end > ?", (within[1], within[0]))
    pages = tuple(
        Page(number, label, s, e, width, height, rotation, Page.boxes_from_blob(boxes, e - s))
        for number, label, s, e, width, height, rotation, boxes in connection.execute(
            f"SELECT {PAGE_COLUMNS} FROM pages WHERE document_id = ?{where} ORDER BY number",
            (document_id, *bounds)))
    sections = tuple(Section(s, e, tuple(json.loads(path))) for s, e, path in connection.execute(
        f"SELECT start, end, path FROM sections WHERE document_id = ?{where} ORDER BY idx",
        (document_id, *bounds)))
    return Layout(pages, sections)


def source(connection: sqlite3.Connection, document_id: str) -> SourceFile | None:
    row = connection.execute("SELECT source_type, media_type, filename, content FROM sources WHERE document_id = ?",
                             (document_id,)).fetchone()
    return SourceFile(row[0], row[1], row[2], bytes(row[3])) if row else None


def summary(row: tuple[Any, ...]) -> DocumentSummary:
    return DocumentSummary(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6], row[7],
                           row[8] if row[7] == "pdf" else None, row[9], row[10])


def read_meta(connection: sqlite3.Connection, key: str) -> Any:
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def write_meta(connection: sqlite3.Connection, key: str, value: Any) -> None:
    connection.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )


def delete_rows(connection: sqlite3.Connection, document_id: str) -> bool:
    return connection.execute("DELETE FROM documents WHERE id = ?", (document_id,)).rowcount > 0


def insert(connection: sqlite3.Connection, item: PreparedDocument) -> None:
    document = item.document
    connection.execute(
        "INSERT INTO documents(id, title, text, metadata, added_at, chunk_count, sentence_count) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (document.id, document.title, document.text, json.dumps(document.metadata), time.time(),
         len(item.chunks), len(item.sentences)),
    )
    connection.executemany(
        "INSERT INTO sentences(document_id, idx, start, end) VALUES (?, ?, ?, ?)",
        [(document.id, i, s.start, s.end) for i, s in enumerate(item.sentences)],
    )
    connection.executemany(
        "INSERT INTO chunks(document_id, idx, start, end, first_sentence, last_sentence, text, embedding) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(document.id, c.index, c.start, c.end, c.first_sentence, c.last_sentence, c.text,
          np.ascontiguousarray(vector, dtype=np.float32).tobytes())
         for c, vector in zip(item.chunks, item.vectors, strict=True)],
    )
    if document.source is not None:
        source = document.source
        connection.execute(
            "INSERT INTO sources(document_id, source_type, media_type, filename, sha256, content) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (document.id, source.source_type, source.media_type, source.filename, source.sha256, source.content))
    connection.executemany(
        f"INSERT INTO pages(document_id, {PAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(document.id, p.number, p.label, p.start, p.end, p.width, p.height, p.rotation, p.boxes_blob())
         for p in document.layout.pages])
    connection.executemany(
        "INSERT INTO sections(document_id, idx, start, end, path) VALUES (?, ?, ?, ?, ?)",
        [(document.id, i, s.start, s.end, json.dumps(list(s.path))) for i, s in enumerate(document.layout.sections)])


def chunk_texts(connection: sqlite3.Connection, document_id: str) -> list[tuple[int, str]]:
    return connection.execute("SELECT id, text FROM chunks WHERE document_id = ? ORDER BY id",
                              (document_id,)).fetchall()


def chunk_rows(connection: sqlite3.Connection, document_id: str) -> list[tuple[int, str, bytes]]:
    return connection.execute("SELECT id, text, embedding FROM chunks WHERE document_id = ? ORDER BY id",
                              (document_id,)).fetchall()
