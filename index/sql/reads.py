"""`SqlReads`: the store methods that only read, written once for every SQL store, and the manifest check."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np

from index.base import DocumentSummary, StoredChunk, StoreMismatchError, UnknownDocumentError
from index.chunk import Span
from index.documents import Document
from index.layout import SourceFile
from index.sql import rows
from index.sql.dialect import Dialect


def check_manifest(stored: Mapping[str, Any], running: Mapping[str, Any], store: str, elsewhere: str) -> None:
    """StoreMismatchError naming each setting that differs, unless the store was built with the running ones.

    `store` names the store ("the store in /data"), `elsewhere` what to point to instead of rebuilding it.
    """
    if stored == running:
        return
    differences = ", ".join(f"{key}: stored {stored.get(key)!r}, running {value!r}"
                            for key, value in running.items() if stored.get(key) != value)
    raise StoreMismatchError(f"{store} was built with other settings ({differences}). "
                             f"Rebuild it with `citeqa rebuild`, or point {elsewhere}.")


class SqlReads:
    """The reads of `index.base.PassageStore` over the shared schema, for a store that says how it connects.

    A store class mixes this in, sets `dialect`, and gives `_connect()`: a connection for the length of a
    `with` block (a thread's own, or one from a pool). Reads of more than one statement run in `_snapshot()`.
    """

    dialect: Dialect

    def _connect(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """Reads that see one committed state throughout."""
        with self._connect() as connection, self.dialect.snapshot(connection):
            yield connection

    def version(self) -> int:
        """The committed store version (caches key on it)."""
        with self._connect() as connection:
            return int(rows.read_meta(self.dialect, connection, "version") or 0)

    def list_documents(self) -> list[DocumentSummary]:
        with self._connect() as connection:
            found = connection.execute(f"SELECT {rows.SUMMARY_COLUMNS} FROM documents ORDER BY added_at, id").fetchall()
        return [rows.summary(self.dialect, row) for row in found]

    def summary(self, document_id: str) -> DocumentSummary:
        with self._connect() as connection:
            row = connection.execute(self.dialect.q(f"SELECT {rows.SUMMARY_COLUMNS} FROM documents WHERE id = ?"),
                                     (document_id,)).fetchone()
        if row is None:
            raise UnknownDocumentError(document_id)
        return rows.summary(self.dialect, row)

    def get(self, document_id: str) -> Document:
        with self._snapshot() as connection:
            row = connection.execute(self.dialect.q(
                "SELECT id, title, text, metadata, coalesce((SELECT source_type FROM sources WHERE document_id = id), "
                "'text') FROM documents WHERE id = ?"), (document_id,)).fetchone()
            if row is None:
                raise UnknownDocumentError(document_id)
            return Document(row[0], row[1], row[2], dict(self.dialect.json_value(row[3])), row[4],
                            rows.layout(self.dialect, connection, row[0]))

    def source(self, document_id: str) -> SourceFile | None:
        with self._snapshot() as connection:
            if connection.execute(self.dialect.q("SELECT 1 FROM documents WHERE id = ?"),
                                  (document_id,)).fetchone() is None:
                raise UnknownDocumentError(document_id)
            return rows.source(self.dialect, connection, document_id)

    def all_documents(self) -> list[Document]:
        """Every document with its layout and file, in the order they were added (a rebuild keeps the listing's)."""
        with self._snapshot() as connection:
            found = connection.execute(
                "SELECT id, title, text, metadata FROM documents ORDER BY added_at, id").fetchall()
            documents = []
            for r in found:
                source = rows.source(self.dialect, connection, r[0])
                documents.append(Document(r[0], r[1], r[2], dict(self.dialect.json_value(r[3])),
                                          source.source_type if source else "text",
                                          rows.layout(self.dialect, connection, r[0]), source))
            return documents

    def has(self, document_id: str) -> bool:
        with self._connect() as connection:
            return connection.execute(self.dialect.q("SELECT 1 FROM documents WHERE id = ?"),
                                      (document_id,)).fetchone() is not None

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def cosines(self, vector: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        """The query vector's cosine with each chunk still stored among `chunk_ids`, from the stored embeddings
        (unit length, as the dense index holds them)."""
        if not chunk_ids:
            return {}
        where, params = self.dialect.in_list("id", [int(i) for i in chunk_ids])
        with self._connect() as connection:
            found = connection.execute(f"SELECT id, embedding FROM chunks WHERE {where}", params).fetchall()
        return {int(row[0]): float(np.frombuffer(bytes(row[1]), dtype=np.float32) @ vector) for row in found}

    def chunks(self, chunk_ids: Sequence[int], context_chars: int) -> dict[int, StoredChunk]:
        """The chunks still stored among `chunk_ids`, read in one snapshot, by id."""
        if not chunk_ids:
            return {}
        where, params = self.dialect.in_list("id", [int(i) for i in chunk_ids])
        with self._snapshot() as connection:
            found = connection.execute(f"SELECT {rows.CHUNK_COLUMNS} FROM chunks WHERE {where}", params).fetchall()
            documents: dict[str, tuple[str, list[Span]]] = {}
            return {row[0]: rows.stored_chunk(self.dialect, connection, row, context_chars, documents) for row in found}
