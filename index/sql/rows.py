"""The statements that read and write a SQL store's rows, and the records they map to, for every dialect.

Each function takes the store's `Dialect` and an open connection (the caller's transaction or snapshot).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from index.base import DocumentSummary, PreparedDocument, StoredChunk
from index.chunk import Span
from index.layout import Layout, Page, Section, SourceFile
from index.sql.dialect import Dialect

# Documents sent as JSON text have no `sources` row: their type is "text" and they have no file name.
SUMMARY_COLUMNS = ("id, title, metadata, length(text), chunk_count, sentence_count, added_at, "
                   "coalesce((SELECT source_type FROM sources WHERE document_id = documents.id), 'text'), "
                   "(SELECT count(*) FROM pages WHERE document_id = documents.id), "
                   "(SELECT filename FROM sources WHERE document_id = documents.id), "
                   "(SELECT sha256 FROM sources WHERE document_id = documents.id)")
PAGE_COLUMNS = ("number", "label", "start_char", "end_char", "width", "height", "rotation", "boxes")
# Of stored_chunk; the document's title comes with each chunk (the answer verifier reads it as context).
CHUNK_COLUMNS = ("id, document_id, start_char, end_char, text, first_sentence, last_sentence, "
                 "(SELECT title FROM documents WHERE documents.id = chunks.document_id)")


def summary(dialect: Dialect, row: tuple[Any, ...]) -> DocumentSummary:
    """The listing entry of a row of SUMMARY_COLUMNS."""
    return DocumentSummary(row[0], row[1], dict(dialect.json_value(row[2])), row[3], row[4], row[5], row[6], row[7],
                           row[8] if row[7] == "pdf" else None, row[9], row[10])


def stored_chunk(dialect: Dialect, connection: Any, row: tuple[Any, ...], context_chars: int,
                 documents: dict[str, tuple[str, list[Span]]]) -> StoredChunk:
    """The chunk of a `chunks` row of CHUNK_COLUMNS; `documents` keeps each document's text and sentences read
    for widening, so hits from one document read it once."""
    q = dialect.q
    chunk_id, document_id, start, end, text, first, last, title = row
    if not context_chars:
        spans = connection.execute(
            q("SELECT start_char, end_char FROM sentences WHERE document_id = ? AND idx BETWEEN ? AND ? ORDER BY idx"),
            (document_id, first, last)).fetchall()
        chunk = StoredChunk(chunk_id, document_id, start, end, text, start, text, tuple(Span(s, e) for s, e in spans))
        return replace(chunk, layout=layout(dialect, connection, document_id, (start, max(end, start + 1))),
                       document_title=title)
    if document_id not in documents:
        text_row = connection.execute(q("SELECT text FROM documents WHERE id = ?"), (document_id,)).fetchone()
        assert text_row is not None, "a chunk outlived its document"  # the foreign key cascades
        documents[document_id] = (text_row[0], [Span(s, e) for s, e in connection.execute(
            q("SELECT start_char, end_char FROM sentences WHERE document_id = ? ORDER BY idx"), (document_id,))])
    document_text, sentences = documents[document_id]
    chunk = StoredChunk.widened(chunk_id, document_id, start, end, text, document_text, sentences, context_chars)
    # The pages and sections the reader's text overlaps: enough to place any span of it, in this snapshot.
    return replace(chunk, layout=layout(dialect, connection, document_id,
                                        (chunk.context_start, max(chunk.context_end, chunk.context_start + 1))),
                   document_title=title)


def layout(dialect: Dialect, connection: Any, document_id: str, within: tuple[int, int] | None = None) -> Layout:
    """A document's pages and sections: every one (pages without text too), or those overlapping `within`."""
    where, bounds = ("", ()) if within is None else (" AND start_char < ? AND end_char > ?", (within[1], within[0]))
    pages = tuple(
        Page(number, label, s, e, width, height, rotation, Page.boxes_from_blob(boxes, e - s))
        for number, label, s, e, width, height, rotation, boxes in connection.execute(
            dialect.q(f"SELECT {', '.join(PAGE_COLUMNS)} FROM pages WHERE document_id = ?{where} ORDER BY number"),
            (document_id, *bounds)))
    sections = tuple(Section(s, e, tuple(dialect.json_value(path))) for s, e, path in connection.execute(
        dialect.q(f"SELECT start_char, end_char, path FROM sections WHERE document_id = ?{where} ORDER BY idx"),
        (document_id, *bounds)))
    return Layout(pages, sections)


def source(dialect: Dialect, connection: Any, document_id: str) -> SourceFile | None:
    row = connection.execute(
        dialect.q("SELECT source_type, media_type, filename, content FROM sources WHERE document_id = ?"),
        (document_id,)).fetchone()
    return SourceFile(row[0], row[1], row[2], bytes(row[3])) if row else None


def read_meta(dialect: Dialect, connection: Any, key: str) -> Any:
    row = connection.execute(dialect.q("SELECT value FROM meta WHERE key = ?"), (key,)).fetchone()
    return dialect.json_value(row[0]) if row else None


def write_meta(dialect: Dialect, connection: Any, key: str, value: Any) -> None:
    connection.execute(
        dialect.q("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
        (key, dialect.json_param(value)))


def delete_rows(dialect: Dialect, connection: Any, document_id: str) -> bool:
    """Delete a document (its sentences, chunks, file, pages and sections cascade); whether it was there."""
    return bool(connection.execute(dialect.q("DELETE FROM documents WHERE id = ?"), (document_id,)).rowcount > 0)


def insert(dialect: Dialect, connection: Any, item: PreparedDocument) -> None:
    """Every row of a prepared document, in the caller's transaction."""
    document = item.document
    connection.execute(
        dialect.q("INSERT INTO documents(id, title, text, metadata, added_at, chunk_count, sentence_count) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)"),
        (document.id, document.title, document.text, dialect.json_param(document.metadata), time.time(),
         len(item.chunks), len(item.sentences)))
    dialect.insert_rows(connection, "sentences", ("document_id", "idx", "start_char", "end_char"),
                        [(document.id, i, s.start, s.end) for i, s in enumerate(item.sentences)])
    dialect.insert_rows(
        connection, "chunks",
        ("document_id", "idx", "start_char", "end_char", "first_sentence", "last_sentence", "text", "embedding"),
        ((document.id, c.index, c.start, c.end, c.first_sentence, c.last_sentence, c.text,
          np.ascontiguousarray(vector, dtype=np.float32).tobytes())
         for c, vector in zip(item.chunks, item.vectors, strict=True)))
    if document.source is not None:
        source = document.source
        connection.execute(
            dialect.q("INSERT INTO sources(document_id, source_type, media_type, filename, sha256, content) "
                      "VALUES (?, ?, ?, ?, ?, ?)"),
            (document.id, source.source_type, source.media_type, source.filename, source.sha256, source.content))
    dialect.insert_rows(connection, "pages", ("document_id", *PAGE_COLUMNS),
                        [(document.id, p.number, p.label, p.start, p.end, p.width, p.height, p.rotation, p.boxes_blob())
                         for p in document.layout.pages])
    dialect.insert_rows(connection, "sections", ("document_id", "idx", "start_char", "end_char", "path"),
                        [(document.id, i, s.start, s.end, dialect.json_param(list(s.path)))
                         for i, s in enumerate(document.layout.sections)])


def chunk_texts(dialect: Dialect, connection: Any, document_id: str) -> list[tuple[int, str]]:
    """A document's chunk ids and texts, by id."""
    return list(connection.execute(dialect.q("SELECT id, text FROM chunks WHERE document_id = ? ORDER BY id"),
                                   (document_id,)).fetchall())


def chunk_rows(dialect: Dialect, connection: Any, document_id: str) -> list[tuple[int, str, bytes]]:
    """A document's chunk ids, texts and embeddings, by id."""
    return list(connection.execute(
        dialect.q("SELECT id, text, embedding FROM chunks WHERE document_id = ? ORDER BY id"),
        (document_id,)).fetchall())
