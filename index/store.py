"""The embedded passage store: SQLite is the truth, FAISS and BM25 are derived indexes; safe against crashes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import numpy as np

from index.base import DocumentExistsError, IngestResult, PreparedDocument, UnknownDocumentError
from index.derived import Change, DerivedFolders, DerivedIndexes
from index.sql import rows
from index.sql.reads import SqlReads, check_manifest
from index.sql.sqlite import SQLITE


class SqliteStore(SqlReads):
    """Documents, sentences and chunks in one SQLite file, with versioned FAISS and BM25 indexes beside it.

    Chunk ids come from AUTOINCREMENT and are never reused, so a ranking made from an older version of
    the derived indexes can only name chunks that are still stored as they were, or are gone. The reads
    and the SQL are shared with the other SQL store (`index/sql/`); what is here is SQLite's own: WAL,
    one connection per thread, and the derived indexes kept in step with each write.
    """

    dialect = SQLITE

    def __init__(self, data_dir: Path, manifest: Mapping[str, Any], exact_search_max_chunks: int) -> None:
        if exact_search_max_chunks < 1:
            raise ValueError("exact_search_max_chunks must be at least 1")
        self.data_dir = Path(data_dir)
        self.manifest = dict(manifest)
        self.dimension = int(self.manifest["embedding_dimension"])
        self.exact_search_max_chunks = exact_search_max_chunks
        self.folders = DerivedFolders(self.data_dir / "indexes")
        self._lock = threading.RLock()
        self._derived: DerivedIndexes | None = None
        self._local = threading.local()

    @property
    def database_path(self) -> Path:
        return self.data_dir / "store.sqlite3"

    # ----------------------------------------------------------------- opening
    def open(self) -> SqliteStore:
        """Create or open the store, check its manifest and load (or repair) the derived indexes."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        connection = self._connection()
        SQLITE.migrate(connection)
        stored = rows.read_meta(SQLITE, connection, "manifest")
        if stored is None:
            self.adopt_manifest()
        else:
            check_manifest(stored, self.manifest, f"the store in {self.data_dir}", "CITEQA_DATA_DIR to a new folder")
        self._current_indexes()
        return self

    def adopt_manifest(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        connection = self._connection()
        SQLITE.migrate(connection)
        with connection:
            rows.write_meta(SQLITE, connection, "manifest", self.manifest)
            if rows.read_meta(SQLITE, connection, "version") is None:
                rows.write_meta(SQLITE, connection, "version", 0)
        (self.data_dir / "manifest.json").write_text(json.dumps(self.manifest, indent=2))

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

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return nullcontext(self._connection())  # the thread's own, kept open

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # --------------------------------------------------------- derived indexes
    def _current_indexes(self) -> DerivedIndexes:
        """The derived indexes of the committed version: in memory, loaded from their files or rebuilt."""
        current = self._derived
        if current is not None and current.version == self.version():
            return current  # readers never wait for a writer that has not committed yet
        with self._lock:
            with self._snapshot() as connection:
                version = int(rows.read_meta(SQLITE, connection, "version") or 0)
                if self._derived is not None and self._derived.version == version:
                    return self._derived
                derived = self._load_indexes(connection, version)
                if derived is None:
                    derived = self._build_indexes(connection, version)
                    # Another process's write may tidy the folder meanwhile: then it is rebuilt again when needed.
                    with suppress(OSError):
                        self.folders.save_snapshot(derived)
            self._derived = derived
            return derived

    def _load_indexes(self, connection: sqlite3.Connection, version: int) -> DerivedIndexes | None:
        """The indexes of `version` when they hold as many chunks as the database does at it: the ones in
        memory brought up to date with the change files of the writes since (another process's), else
        the saved ones. Called under `_lock`."""
        chunks = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        current = self._derived
        if current is not None and current.version < version:
            caught_up = False
            with suppress(Exception):  # a change that does not apply: the saved indexes are loaded instead
                caught_up = self.folders.catch_up(current, version) and len(current) == chunks
            if caught_up:
                return current
            self._derived = None  # left behind, or changed part of the way: never searched again
        derived = self.folders.load(version, self.dimension)
        return derived if derived is not None and len(derived) == chunks else None

    def _build_indexes(self, connection: sqlite3.Connection, version: int) -> DerivedIndexes:
        """Both indexes from every chunk the connection sees, stamped with `version` (not saved)."""
        found = connection.execute("SELECT id, text, embedding FROM chunks ORDER BY id").fetchall()
        ids = np.array([row[0] for row in found], dtype=np.int64)
        vectors = (np.frombuffer(b"".join(row[2] for row in found), dtype=np.float32).reshape(-1, self.dimension)
                   if found else np.zeros((0, self.dimension), dtype=np.float32))
        return DerivedIndexes.build(version, ids, vectors, [row[1] for row in found],
                                    exact=len(ids) <= self.exact_search_max_chunks)

    # ------------------------------------------------------------------ writes
    def write(self, prepared: Sequence[PreparedDocument], replace: bool) -> list[IngestResult]:
        """Store prepared documents in one atomic write, replacing same-id ones unless `replace` is false."""
        results = []
        with self._write_transaction() as (connection, change):
            for item in prepared:
                removed = rows.chunk_texts(SQLITE, connection, item.document.id)
                replaced = rows.delete_rows(SQLITE, connection, item.document.id)
                if replaced and not replace:
                    raise DocumentExistsError(item.document.id)
                for chunk_id, text in removed:
                    change.remove(chunk_id, text)
                rows.insert(SQLITE, connection, item)
                for chunk_id, text, embedding in rows.chunk_rows(SQLITE, connection, item.document.id):
                    change.add(chunk_id, text, np.frombuffer(embedding, dtype=np.float32))
                results.append(IngestResult(item.document.id, len(item.chunks), len(item.sentences), replaced))
        return results

    def delete(self, document_id: str) -> None:
        with self._write_transaction() as (connection, change):
            removed = rows.chunk_texts(SQLITE, connection, document_id)
            if not rows.delete_rows(SQLITE, connection, document_id):
                raise UnknownDocumentError(document_id)
            for chunk_id, text in removed:
                change.remove(chunk_id, text)

    @contextmanager
    def _write_transaction(self) -> Iterator[tuple[sqlite3.Connection, Change]]:
        """One writer at a time; the version is bumped and the write's derived-index files saved before COMMIT.

        The body records in the Change what it removes and adds. Before the commit the write saves that
        change as `log-<new version>` (and first, now and then, a snapshot of the committed version), or,
        when no indexes of the committed version can be had or dead chunks pile up, rebuilds both indexes
        from what the transaction sees and saves them as `base-<new version>`. A crash before the commit
        leaves the old version in force (its files are still there; the new version's are ignored, then
        deleted by the next write); after it, the new one. In memory the change is applied after COMMIT.
        """
        with self._lock:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                version = int(rows.read_meta(SQLITE, connection, "version") or 0)
                self.folders.drop_after(version)
                current = self._derived if self._derived is not None and self._derived.version == version \
                    else self._load_indexes(connection, version)
                change = Change()
                yield connection, change
                version += 1
                rows.write_meta(SQLITE, connection, "version", version)
                rebuilt = None
                if current is None or current.wants_rebuild(change, self.exact_search_max_chunks):
                    rebuilt = self._build_indexes(connection, version)
                    self.folders.save_snapshot(rebuilt)
                else:
                    if current.wants_snapshot():
                        self.folders.save_snapshot(current)  # the committed version: valid whatever happens next
                    self.folders.save_change(change, version, self.dimension)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            if rebuilt is not None:
                self._derived = rebuilt
            else:
                assert current is not None
                try:
                    current.apply(change, version)
                    self._derived = current
                except Exception:  # never serve indexes of an unknown state: reload or rebuild on next use
                    self._derived = None
            self.folders.drop_before(version)

    # ----------------------------------------------------------------- ranking
    def dense_ranking(self, vector: np.ndarray, depth: int,
                      document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        if document_ids is None:
            return self._current_indexes().dense_search(vector, depth)
        # Within a few documents, exact scores over their own vectors beat filtering a global ranking.
        allowed = self._chunk_ids_of(document_ids)
        if not len(allowed):
            return []
        where, params = SQLITE.in_list("id", [int(i) for i in allowed])
        found = self._connection().execute(f"SELECT id, embedding FROM chunks WHERE {where}", params).fetchall()
        matrix = np.frombuffer(b"".join(r[1] for r in found), dtype=np.float32).reshape(len(found), -1)
        scores = matrix @ vector
        order = np.argsort(-scores)[:depth]
        return [(int(found[i][0]), float(scores[i])) for i in order]

    def lexical_ranking(self, query: str, depth: int,
                        document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        allowed = self._chunk_ids_of(document_ids) if document_ids is not None else None
        if allowed is not None and not len(allowed):
            return []
        return self._current_indexes().lexical_search(query, depth, allowed)

    def _chunk_ids_of(self, document_ids: Sequence[str]) -> np.ndarray:
        if not document_ids:
            return np.zeros(0, dtype=np.int64)
        where, params = SQLITE.in_list("document_id", list(document_ids))
        found = self._connection().execute(f"SELECT id FROM chunks WHERE {where}", params).fetchall()
        return np.array([r[0] for r in found], dtype=np.int64)
