"""The persistent passage store: SQLite is the truth, FAISS and BM25 are versioned derived indexes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.chunk import Chunk, Chunker, Span, tokenizer_counter
from index.dense import DenseIndex
from index.documents import Document, DocumentError
from index.embed import Embedder
from index.lexical import LexicalIndex

SCHEMA_VERSION = 1
# Reciprocal rank fusion: score = sum of weight / (RRF_K + rank). Measured on SQuAD v1.1 dev 25-48
# (4,874 questions, each article one document): K 60 with equal weights gave recall@1/5 0.744 / 0.941,
# K 10 with BM25 weighted 1.5 gives 0.772 / 0.952 (BM25 alone 0.789 / 0.930, dense alone 0.636 / 0.887).
RRF_K = 10
DENSE_WEIGHT = 1.0
LEXICAL_WEIGHT = 1.5
# Each ranking is cut at this depth (or 4k) before fusion. A chunk ranked 3rd by one and 25th by the other
# must get both shares: on the same questions, fused recall@5 is 0.949 at depth 20, 0.952 from 40 up.
FUSION_DEPTH = 50

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


class StoreMismatchError(RuntimeError):
    """The store on disk was built with other settings than the running ones."""


class DocumentExistsError(ValueError):
    """A write that may not replace found a document with its id already stored."""

    def __init__(self, document_id: str) -> None:
        super().__init__(f"a document with id {document_id!r} already exists")
        self.document_id = document_id


class UnknownDocumentError(KeyError):
    """No document has the given id."""

    def __init__(self, document_id: str) -> None:
        super().__init__(document_id)
        self.document_id = document_id

    def __str__(self) -> str:
        return f"no document with id {self.document_id!r}"


@dataclass(frozen=True)
class DocumentSummary:
    """A document's listing entry."""

    id: str
    title: str
    metadata: dict[str, str]
    characters: int
    chunk_count: int
    sentence_count: int
    added_at: float


@dataclass(frozen=True)
class SearchHit:
    """A retrieved chunk with its document offsets and scores."""

    chunk_id: int
    document_id: str
    start: int
    end: int
    text: str
    dense_score: float | None
    lexical_score: float | None
    fused_score: float


@dataclass(frozen=True)
class IngestResult:
    """What a write stored."""

    document_id: str
    chunk_count: int
    sentence_count: int
    replaced: bool


@dataclass
class _Derived:
    version: int
    dense: DenseIndex
    lexical: LexicalIndex


class PassageStore:
    """Documents, sentences and chunks with hybrid (FAISS + BM25) search; safe against crashes."""

    def __init__(
        self,
        data_dir: Path,
        embedder: Embedder,
        chunk_tokens: int = 160,
        exact_search_max_chunks: int = 100_000,
        max_document_chars: int = 5_000_000,
    ) -> None:
        if chunk_tokens < 16:
            raise ValueError("chunk_tokens must be at least 16")
        self.data_dir = Path(data_dir)
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.exact_search_max_chunks = exact_search_max_chunks
        self.max_document_chars = max_document_chars
        self._lock = threading.RLock()
        self._derived: _Derived | None = None
        self._chunker: Chunker | None = None
        self._local = threading.local()

    # ----------------------------------------------------------------- opening
    @property
    def database_path(self) -> Path:
        return self.data_dir / "store.sqlite3"

    @property
    def indexes_dir(self) -> Path:
        return self.data_dir / "indexes"

    def manifest(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "embedder": self.embedder.name,
            "embedding_dimension": self.embedder.dimension,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap_sentences": 1,
            "chunk_layout": "whole-paragraphs",
            "sentence_splitter": "pysbd-en",
        }

    def open(self) -> PassageStore:
        """Create or open the store, check its manifest and load (or repair) the derived indexes."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.embedder.warm_up()
        self._chunker = Chunker(tokenizer_counter(self.embedder.tokenizer), self.chunk_tokens)
        connection = self._connection()
        with connection:
            connection.executescript(SCHEMA)
        expected = self.manifest()
        stored = self._read_meta(connection, "manifest")
        if stored is None:
            with connection:
                self._write_meta(connection, "manifest", expected)
                self._write_meta(connection, "version", 0)
            (self.data_dir / "manifest.json").write_text(json.dumps(expected, indent=2))
        elif stored != expected:
            differences = ", ".join(
                f"{key}: stored {stored.get(key)!r}, running {value!r}"
                for key, value in expected.items()
                if stored.get(key) != value
            )
            raise StoreMismatchError(
                f"the store in {self.data_dir} was built with other settings ({differences}). "
                f"Rebuild it with `citeqa rebuild`, or point CITEQA_DATA_DIR to a new folder."
            )
        self._refresh_derived()
        return self

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.database_path, timeout=30, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    @staticmethod
    def _read_meta(connection: sqlite3.Connection, key: str) -> Any:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    @staticmethod
    def _write_meta(connection: sqlite3.Connection, key: str, value: Any) -> None:
        connection.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def version(self) -> int:
        return int(self._read_meta(self._connection(), "version") or 0)

    # --------------------------------------------------------- derived indexes
    def _refresh_derived(self) -> _Derived:
        """Load the derived indexes matching the database version, rebuilding them if absent."""
        version = self.version()
        current = self._derived
        if current is not None and current.version == version:
            return current  # readers never wait for a writer that has not committed yet
        with self._lock:
            if self._derived is not None and self._derived.version == self.version():
                return self._derived
            version = self.version()
            folder = self.indexes_dir / f"v{version}"
            derived = None
            if folder.is_dir():
                try:
                    derived = _Derived(version, DenseIndex.load(folder), LexicalIndex.load(folder))
                except Exception:  # a damaged derived index is rebuilt from the database
                    derived = None
            if derived is None:
                derived = self._rebuild_derived(self._connection(), version)
            self._derived = derived
            return derived

    def _rebuild_derived(self, connection: sqlite3.Connection, version: int) -> _Derived:
        rows = connection.execute("SELECT id, text, embedding FROM chunks ORDER BY id").fetchall()
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        dimension = self.embedder.dimension
        vectors = (
            np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32).reshape(-1, dimension)
            if rows else np.zeros((0, dimension), dtype=np.float32)
        )
        dense = DenseIndex.build(ids, vectors, exact=len(ids) <= self.exact_search_max_chunks)
        lexical = LexicalIndex.build(ids, [row[1] for row in rows])
        derived = _Derived(version, dense, lexical)
        self._save_derived(derived)
        return derived

    def _save_derived(self, derived: _Derived) -> None:
        self.indexes_dir.mkdir(exist_ok=True)
        final = self.indexes_dir / f"v{derived.version}"
        staging = self.indexes_dir / f"v{derived.version}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        derived.dense.save(staging)
        derived.lexical.save(staging)
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)

    def _drop_old_derived(self, keep: int) -> None:
        for folder in self.indexes_dir.glob("v*"):
            if folder.name != f"v{keep}":
                shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------ writes
    def add(self, document: Document, progress: bool = False, replace: bool = True) -> IngestResult:
        """Add a document, replacing any with the same id unless `replace` is false; all or nothing."""
        return self.add_many([document], progress=progress, replace=replace)[0]

    def add_many(self, documents: Sequence[Document], progress: bool = False,
                 replace: bool = True) -> list[IngestResult]:
        """Chunk and embed documents, then store them in one atomic write.

        With `replace` false, a document whose id is already stored raises DocumentExistsError and
        nothing is written; the check is repeated inside the write, so a concurrent add cannot slip in.
        """
        assert self._chunker is not None, "open() the store first"
        prepared = []
        for document in documents:
            if not replace and self.has(document.id):  # before the embedding work, which is the slow part
                raise DocumentExistsError(document.id)
            if len(document.text) > self.max_document_chars:
                raise DocumentError(
                    "document_too_large",
                    f"document {document.id!r} has {len(document.text):,} characters; "
                    f"the limit is {self.max_document_chars:,}",
                )
            sentences, chunks = self._chunker.run(document.text)
            if not chunks:
                raise DocumentError("empty_document", f"document {document.id!r} has no text to index")
            prepared.append((document, sentences, chunks))
        all_texts = [chunk.text for _, _, chunks in prepared for chunk in chunks]
        vectors = self.embedder.run(all_texts, progress=progress or len(documents) > 3)
        results = []
        with self._write_transaction() as connection:
            offset = 0
            for document, sentences, chunks in prepared:
                replaced = self._delete_rows(connection, document.id)
                if replaced and not replace:
                    raise DocumentExistsError(document.id)
                self._insert(connection, document, sentences, chunks, vectors[offset : offset + len(chunks)])
                offset += len(chunks)
                results.append(IngestResult(document.id, len(chunks), len(sentences), replaced))
        return results

    def delete(self, document_id: str) -> None:
        """Remove a document and its passages, or raise UnknownDocumentError."""
        with self._write_transaction() as connection:
            if not self._delete_rows(connection, document_id):
                raise UnknownDocumentError(document_id)

    def rebuild(self) -> None:
        """Re-chunk and re-embed every document with the running settings."""
        connection = self._connection()
        rows = connection.execute("SELECT id, title, text, metadata FROM documents").fetchall()
        documents = [Document(r[0], r[1], r[2], json.loads(r[3])) for r in rows]
        with connection:
            self._write_meta(connection, "manifest", self.manifest())
        (self.data_dir / "manifest.json").write_text(json.dumps(self.manifest(), indent=2))
        if documents:
            self.add_many(documents, progress=True)

    class _Transaction:
        def __init__(self, store: PassageStore) -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            self.connection = self.store._connection()
            self.connection.execute("BEGIN IMMEDIATE")
            return self.connection

        def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
            try:
                if exc_type is not None:
                    self.connection.execute("ROLLBACK")
                    return
                version = int(self.store._read_meta(self.connection, "version") or 0) + 1
                self.store._write_meta(self.connection, "version", version)
                # Derived indexes for the new version are written before COMMIT: a crash before the
                # commit leaves the old version (and its folder) in force; after it, the new folder.
                derived = self.store._rebuild_derived(self.connection, version)
                self.connection.execute("COMMIT")
                self.store._derived = derived
                self.store._drop_old_derived(version)
            except BaseException:
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
                raise
            finally:
                self.store._lock.release()

    def _write_transaction(self) -> PassageStore._Transaction:
        return PassageStore._Transaction(self)

    @staticmethod
    def _delete_rows(connection: sqlite3.Connection, document_id: str) -> bool:
        cursor = connection.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        return cursor.rowcount > 0

    @staticmethod
    def _insert(
        connection: sqlite3.Connection,
        document: Document,
        sentences: Sequence[Span],
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
    ) -> None:
        connection.execute(
            "INSERT INTO documents(id, title, text, metadata, added_at, chunk_count, sentence_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (document.id, document.title, document.text, json.dumps(document.metadata), time.time(),
             len(chunks), len(sentences)),
        )
        connection.executemany(
            "INSERT INTO sentences(document_id, idx, start, end) VALUES (?, ?, ?, ?)",
            [(document.id, i, s.start, s.end) for i, s in enumerate(sentences)],
        )
        connection.executemany(
            "INSERT INTO chunks(document_id, idx, start, end, first_sentence, last_sentence, text, embedding) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (document.id, c.index, c.start, c.end, c.first_sentence, c.last_sentence, c.text,
                 np.ascontiguousarray(vector, dtype=np.float32).tobytes())
                for c, vector in zip(chunks, vectors, strict=True)
            ],
        )

    # ------------------------------------------------------------------- reads
    def list_documents(self) -> list[DocumentSummary]:
        rows = self._connection().execute(
            "SELECT id, title, metadata, length(text), chunk_count, sentence_count, added_at "
            "FROM documents ORDER BY added_at, id"
        ).fetchall()
        return [DocumentSummary(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def summary(self, document_id: str) -> DocumentSummary:
        row = self._connection().execute(
            "SELECT id, title, metadata, length(text), chunk_count, sentence_count, added_at "
            "FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        if row is None:
            raise UnknownDocumentError(document_id)
        return DocumentSummary(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])

    def get(self, document_id: str) -> Document:
        row = self._connection().execute(
            "SELECT id, title, text, metadata FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        if row is None:
            raise UnknownDocumentError(document_id)
        return Document(row[0], row[1], row[2], json.loads(row[3]))

    def has(self, document_id: str) -> bool:
        return self._connection().execute(
            "SELECT 1 FROM documents WHERE id = ?", (document_id,)
        ).fetchone() is not None

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) in the store."""
        row = self._connection().execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)"
        ).fetchone()
        return int(row[0]), int(row[1])

    def sentences(self, document_id: str) -> list[Span]:
        rows = self._connection().execute(
            "SELECT start, end FROM sentences WHERE document_id = ? ORDER BY idx", (document_id,)
        ).fetchall()
        return [Span(r[0], r[1]) for r in rows]

    def search(
        self, query: str, k: int = 5, document_ids: Iterable[str] | None = None, mode: str = "hybrid"
    ) -> list[SearchHit]:
        """Hybrid search: dense and BM25 rankings fused by reciprocal rank fusion ("dense"/"lexical" alone)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        if mode not in ("hybrid", "dense", "lexical"):
            raise ValueError("mode must be hybrid, dense or lexical")
        derived = self._refresh_derived()
        depth = max(4 * k, FUSION_DEPTH)
        wanted = list(document_ids) if document_ids is not None else None
        allowed = self._chunk_ids_of(wanted) if wanted is not None else None
        if allowed is not None and len(allowed) == 0:
            return []
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if mode != "lexical":
            query_vector = self.embedder.run([query])[0]
            if allowed is not None:
                dense = self._dense_subset(query_vector, allowed, depth)
            else:
                dense = derived.dense.search(query_vector, depth)
        if mode != "dense":
            lexical = derived.lexical.search(query, depth, allowed)
        return self._fuse(dense, lexical, k)

    def _chunk_ids_of(self, document_ids: list[str]) -> np.ndarray:
        marks = ",".join("?" * len(document_ids))
        rows = self._connection().execute(
            f"SELECT id FROM chunks WHERE document_id IN ({marks})", document_ids
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def _dense_subset(self, query_vector: np.ndarray, allowed: np.ndarray, depth: int) -> list[tuple[int, float]]:
        marks = ",".join("?" * len(allowed))
        rows = self._connection().execute(
            f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", [int(i) for i in allowed]
        ).fetchall()
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        scores = matrix @ query_vector
        order = np.argsort(-scores)[:depth]
        return [(int(rows[i][0]), float(scores[i])) for i in order]

    def _fuse(
        self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]], k: int
    ) -> list[SearchHit]:
        fused: dict[int, float] = {}
        for weight, ranking in ((DENSE_WEIGHT, dense), (LEXICAL_WEIGHT, lexical)):
            for rank, (chunk_id, _) in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (RRF_K + rank + 1)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        if not best:
            return []
        marks = ",".join("?" * len(best))
        rows = {
            r[0]: r
            for r in self._connection().execute(
                f"SELECT id, document_id, start, end, text FROM chunks WHERE id IN ({marks})",
                [chunk_id for chunk_id, _ in best],
            )
        }
        return [
            SearchHit(chunk_id, rows[chunk_id][1], rows[chunk_id][2], rows[chunk_id][3], rows[chunk_id][4],
                      dense_scores.get(chunk_id), lexical_scores.get(chunk_id), score)
            for chunk_id, score in best
            if chunk_id in rows
        ]
