"""The embedded store's SQLite schema and the statements that read and write its rows."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import numpy as np

from index.base import DocumentSummary, PreparedDocument, StoredChunk
from index.chunk import Span

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
"""
SUMMARY_COLUMNS = "id, title, metadata, length(text), chunk_count, sentence_count, added_at"


def stored_chunk(connection: sqlite3.Connection, row: tuple[Any, ...], context_chars: int,
                 documents: dict[str, tuple[str, list[Span]]]) -> StoredChunk:
    """The chunk of a `chunks` row; `documents` keeps each document's text and sentences read for widening,
    so hits from one document read it once."""
    chunk_id, document_id, start, end, text, first, last = row
    if not context_chars:
        spans = connection.execute(
            "SELECT start, end FROM sentences WHERE document_id = ? AND idx BETWEEN ? AND ? ORDER BY idx",
            (document_id, first, last)).fetchall()
        return StoredChunk(chunk_id, document_id, start, end, text, start, text,
                           tuple(Span(s, e) for s, e in spans))
    if document_id not in documents:
        documents[document_id] = (
            connection.execute("SELECT text FROM documents WHERE id = ?", (document_id,)).fetchone()[0],
            [Span(s, e) for s, e in connection.execute(
                "SELECT start, end FROM sentences WHERE document_id = ? ORDER BY idx", (document_id,))])
    document_text, sentences = documents[document_id]
    return StoredChunk.widened(chunk_id, document_id, start, end, text, document_text, sentences, context_chars)


def summary(row: tuple[Any, ...]) -> DocumentSummary:
    return DocumentSummary(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])


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


def chunk_texts(connection: sqlite3.Connection, document_id: str) -> list[tuple[int, str]]:
    return connection.execute("SELECT id, text FROM chunks WHERE document_id = ? ORDER BY id",
                              (document_id,)).fetchall()


def chunk_rows(connection: sqlite3.Connection, document_id: str) -> list[tuple[int, str, bytes]]:
    return connection.execute("SELECT id, text, embedding FROM chunks WHERE document_id = ? ORDER BY id",
                              (document_id,)).fetchall()
