"""The server backend: PostgreSQL is the truth, one Milvus collection derives both rankings from it.

A write commits in PostgreSQL first (documents, sentences, chunks, the store version and an outbox row per
document in `milvus_pending`, all in one transaction), then copies the documents' current chunks to
Milvus and clears their outbox rows. A process killed in between leaves the outbox row, and the next
start (of any replica), the next write from this process, or `citeqa rebuild` finishes the copy. Chunks
are always read from PostgreSQL, so a chunk Milvus still returns after its document was deleted or
replaced is simply not found, and never read or cited.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from index.base import DocumentExistsError, IngestResult, PreparedDocument, StoreMismatchError, UnknownDocumentError
from index.milvus import ChunkRow, MilvusChunks
from index.sql import rows
from index.sql.postgresql import POSTGRES, bump_version, mark_pending
from index.sql.reads import SqlReads, check_manifest

log = logging.getLogger(__name__)
SYNC_LOCK = 7_130_018  # advisory-lock namespace: one sync of a document at a time, across replicas
SYNC_BATCH = 200  # documents copied to Milvus per transaction
RECONCILE_RANGE = 10_000  # chunk ids compared per step of a full reconciliation: its memory, whatever the store


class PostgresStore(SqlReads):
    """Documents, sentences and chunks in PostgreSQL (through a connection pool); rankings from Milvus.

    Holds no state of its own between calls, so any number of replicas can share one database and one
    collection: the store version is a row in PostgreSQL, and every read asks the servers. The reads and
    the SQL are shared with the other SQL store (`index/sql/`); what is here is this backend's own: the
    pool, the outbox and the Milvus sync and reconciliation.
    """

    dialect = POSTGRES

    def __init__(self, database_url: str, milvus: MilvusChunks, manifest: Mapping[str, Any], *,
                 pool_size: int = 8, connect_timeout: float = 30.0) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if int(manifest["embedding_dimension"]) != milvus.dimension:
            raise ValueError("the manifest and the Milvus collection disagree on the vector dimension")
        self.manifest = dict(manifest)
        self.milvus = milvus
        self.pool = ConnectionPool(database_url, min_size=1, max_size=pool_size, open=False,
                                   kwargs={"autocommit": True}, name="citeqa")
        try:
            self.pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self.pool.close()
            parts = conninfo_to_dict(database_url)  # named without the password
            raise ConnectionError(f"cannot reach PostgreSQL at {parts.get('host', 'localhost')}:"
                                  f"{parts.get('port', 5432)}/{parts.get('dbname', '')} within {connect_timeout:g} s "
                                  "(CITEQA_DATABASE_URL)") from None

    # ----------------------------------------------------------------- opening
    def open(self) -> PostgresStore:
        """Migrate the schema, check the manifest, make sure the collection exists and matches PostgreSQL."""
        with self.pool.connection() as connection:
            POSTGRES.migrate(connection)
            stored = rows.read_meta(POSTGRES, connection, "manifest")
        if stored is None:
            self.adopt_manifest()
            return self
        check_manifest(stored, self.manifest, "the PostgreSQL store", "CITEQA_DATABASE_URL to a new database")
        self.milvus.ensure()
        self.reconcile()
        return self

    def adopt_manifest(self) -> None:
        """Record the running settings; a collection of another dimension is emptied (re-indexing fills it)."""
        with self.pool.connection() as connection:
            POSTGRES.migrate(connection)
            rows.write_meta(POSTGRES, connection, "manifest", self.manifest)
        try:
            self.milvus.ensure()
        except StoreMismatchError:
            self.milvus.recreate()
        self.reconcile(full=True)

    def close(self) -> None:
        self.pool.close()
        self.milvus.close()

    def _connect(self) -> AbstractContextManager[Connection[Any]]:
        return self.pool.connection()

    # ------------------------------------------------------------------ writes
    def write(self, prepared: Sequence[PreparedDocument], replace: bool) -> list[IngestResult]:
        """Store prepared documents in one transaction, then copy their chunks to Milvus."""
        results = []
        with self.pool.connection() as connection, connection.transaction():
            version = bump_version(connection)  # first: its row lock orders this writer after the others
            for item in prepared:
                replaced = rows.delete_rows(POSTGRES, connection, item.document.id)
                if replaced and not replace:
                    raise DocumentExistsError(item.document.id)
                rows.insert(POSTGRES, connection, item)
                results.append(IngestResult(item.document.id, len(item.chunks), len(item.sentences), replaced))
            mark_pending(connection, {result.document_id: result.replaced for result in results}, version)
        self._sync_after_write([item.document.id for item in prepared])
        return results

    def delete(self, document_id: str) -> None:
        with self.pool.connection() as connection, connection.transaction():
            version = bump_version(connection)
            if not rows.delete_rows(POSTGRES, connection, document_id):
                raise UnknownDocumentError(document_id)
            mark_pending(connection, {document_id: True}, version)
        self._sync_after_write([document_id])

    def _sync_after_write(self, document_ids: list[str]) -> None:
        # The write is committed: a Milvus failure now must not report it as failed. Its outbox rows stay,
        # and the next write here, any replica's next start or `citeqa rebuild` copies it.
        try:
            self.sync(document_ids)
            self.sync(None, wait=False)  # what earlier writes left behind, unless another process is on it
        except Exception:
            log.exception("copying documents to Milvus failed; they stay pending and are copied on the next "
                          "write, start or `citeqa rebuild`")

    # ------------------------------------------------------------ Milvus sync
    def sync(self, document_ids: Sequence[str] | None, *, wait: bool = True) -> int:
        """Make Milvus match PostgreSQL for these documents (None: every pending one); the count copied."""
        with self.pool.connection() as connection:
            if document_ids is None:
                rows = connection.execute("SELECT document_id FROM milvus_pending ORDER BY document_id").fetchall()
                wanted = [row[0] for row in rows]
            else:
                wanted = sorted(set(document_ids))
        return sum(self._sync_batch(wanted[start:start + SYNC_BATCH], wait)
                   for start in range(0, len(wanted), SYNC_BATCH))

    def _sync_batch(self, document_ids: list[str], wait: bool) -> int:
        with self.pool.connection() as connection, connection.transaction():
            mine = []
            for document_id in document_ids:  # sorted, so two syncs never wait on each other in a cycle
                if wait:
                    connection.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SYNC_LOCK, document_id))
                    mine.append(document_id)
                else:
                    locked = connection.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
                                                (SYNC_LOCK, document_id)).fetchone()
                    if locked and locked[0]:
                        mine.append(document_id)
            if not mine:
                return 0
            # Read after the locks: the newest committed chunks, whatever an earlier sync copied.
            pending = connection.execute("SELECT document_id, version, stale FROM milvus_pending "
                                         "WHERE document_id = ANY(%s)", (mine,)).fetchall()
            # Only documents that may have rows PostgreSQL no longer has need Milvus's filtered delete (a
            # document without an outbox row was synced by someone else since: checked again, to be safe).
            fresh = {row[0] for row in pending if not row[2]}
            oldest: dict[str, int | None] = {d: None for d in mine if d not in fresh}
            if oldest:
                oldest.update({row[0]: int(row[1]) for row in connection.execute(
                    "SELECT document_id, min(id) FROM chunks WHERE document_id = ANY(%s) GROUP BY document_id",
                    (sorted(oldest),))})
            # A server-side cursor: a batch of large documents is streamed to Milvus, never held in memory whole.
            with connection.cursor(name="citeqa_sync") as cursor:
                cursor.execute("SELECT id, document_id, text, embedding FROM chunks WHERE document_id = ANY(%s)",
                               (mine,))
                rows = (ChunkRow(int(r[0]), r[1], r[2], np.frombuffer(r[3], dtype=np.float32)) for r in cursor)
                copied = self.milvus.upsert(rows)  # new rows first: a document is never missing from Milvus
            if oldest:
                self.milvus.delete_stale(oldest)
            connection.cursor().executemany(
                "DELETE FROM milvus_pending WHERE document_id = %s AND version <= %s", [row[:2] for row in pending])
            return copied

    def reconcile(self, full: bool = False, *, range_size: int | None = None) -> None:
        """Finish pending copies; when the counts differ (or `full`), copy what Milvus lacks, drop what it has extra.

        The comparison walks the chunk ids in ranges of `range_size` PostgreSQL ids (RECONCILE_RANGE), so
        it holds one range's ids at a time, not the store's.
        """
        self.sync(None)
        if not full and self.milvus.count() == self.counts()[1]:
            return
        size = range_size or RECONCILE_RANGE
        if size < 1:
            raise ValueError("range_size must be at least 1")
        extra = missing = 0
        after = 0  # chunk ids start at 1
        while True:
            with self.pool.connection() as connection:  # the range ends at the size-th id after `after`
                bound = connection.execute("SELECT id FROM chunks WHERE id > %s ORDER BY id OFFSET %s LIMIT 1",
                                           (after, size - 1)).fetchone()
            upto = int(bound[0]) if bound is not None else None  # None: the last range, open above
            dropped, copied = self._reconcile_range(after, upto)
            extra, missing = extra + dropped, missing + copied
            if upto is None:
                break
            after = upto
        if extra or missing:
            log.warning("Milvus had %d chunks PostgreSQL lacks and lacked %d: reconciled", extra, missing)

    def _reconcile_range(self, after: int, upto: int | None) -> tuple[int, int]:
        """Reconcile the chunk ids in (after, upto]: (rows dropped from Milvus, rows copied to it)."""
        bounds = "id > %s" + (" AND id <= %s" if upto is not None else "")
        with self.pool.connection() as connection:
            in_postgres = {int(row[0]) for row in connection.execute(
                f"SELECT id FROM chunks WHERE {bounds}", (after,) if upto is None else (after, upto))}
        seen: set[int] = set()
        dropped = 0
        for batch in self.milvus.ids_between(after, upto):
            seen.update(i for i in batch if i in in_postgres)
            unknown = [i for i in batch if i not in in_postgres]
            if not unknown:
                continue
            # Read again after Milvus gave them: a row Milvus holds was committed in PostgreSQL before it was
            # copied, so it is found now (written since the range was read) unless its document is gone since,
            # and then dropping it is right.
            with self.pool.connection() as connection:
                present = {int(row[0]) for row in connection.execute(
                    "SELECT id FROM chunks WHERE id = ANY(%s)", (unknown,))}
            gone = [i for i in unknown if i not in present]
            self.milvus.delete_ids(gone)
            dropped += len(gone)
        lacking = sorted(in_postgres - seen)
        for start in range(0, len(lacking), 4096):  # rows deleted since are simply not read, so not copied
            with self.pool.connection() as connection:
                self.milvus.upsert(ChunkRow(int(r[0]), r[1], r[2], np.frombuffer(r[3], dtype=np.float32))
                                   for r in connection.execute(
                                       "SELECT id, document_id, text, embedding FROM chunks WHERE id = ANY(%s)",
                                       (lacking[start:start + 4096],)))
        return dropped, len(lacking)

    # ----------------------------------------------------------------- ranking
    def dense_ranking(self, vector: np.ndarray, depth: int,
                      document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        return self.milvus.dense(vector, depth, document_ids)

    def lexical_ranking(self, query: str, depth: int,
                        document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        return self.milvus.lexical(query, depth, document_ids)
