"""The server backend's derived index: one Milvus collection with each chunk's vector and text.

Milvus runs both rankings: HNSW over the dense vectors (inner product of unit vectors: cosine) and BM25
over the text, through Milvus's built-in BM25 function that fills a sparse field at insert and query
time. PostgreSQL stays the truth: every row here is a copy of a `chunks` row, keyed by its chunk id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from bm25s.stopwords import STOPWORDS_EN
from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

from index.base import StoreMismatchError

HNSW_NEIGHBOURS = 32
HNSW_BUILD_DEPTH = 200
HNSW_SEARCH_DEPTH = 128  # as the embedded store's HNSW; searches ask for at least their depth
TEXT_MAX_BYTES = 65_535  # Milvus's VARCHAR limit
DOCUMENT_ID_MAX = 128  # index.documents.validate_id
INSERT_BATCH = 512
DEFAULT_SHARDS = 1  # Milvus's own default for a new collection
MAX_SHARDS = 16  # Milvus's default proxy.maxShardNum
FILTER_BATCH = 200  # documents named in one delete expression
# The embedded store's BM25 (bm25s) drops these words and lowercases; an explicit list, because Milvus Lite
# knows no "_english_" set, so the server and the tested engine analyse text alike.
ANALYZER: dict[str, Any] = {"tokenizer": "standard",
                            "filter": ["lowercase", {"type": "stop", "stop_words": sorted(set(STOPWORDS_EN))}]}


def _drop_session_ts_warning(record: logging.LogRecord) -> bool:
    """pymilvus warns when the server returns no MVCC timestamp for a query iterator's first query (seen on the
    reconcile scan at open) and then uses the client's clock, which a reconcile scan is content with: the warning
    was a second line on CLI commands' one-line errors, so it is dropped; pymilvus's other warnings stay."""
    return "failed to get mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_drop_session_ts_warning)


@dataclass(frozen=True)
class ChunkRow:
    """What Milvus holds of one chunk."""

    chunk_id: int
    document_id: str
    text: str
    vector: np.ndarray


def quoted(value: str) -> str:
    """A string literal for a Milvus filter expression (JSON escaping is a subset of what it accepts)."""
    return json.dumps(value)


def document_filter(document_ids: Sequence[str]) -> str:
    return f"document_id in [{', '.join(quoted(d) for d in document_ids)}]"


def clip_utf8(text: str, limit: int = TEXT_MAX_BYTES) -> str:
    """The longest prefix of `text` within `limit` UTF-8 bytes: only a chunk of one giant sentence is longer,
    and BM25 over its first 64 KiB still finds it (PostgreSQL keeps the whole text that is cited)."""
    encoded = text.encode("utf-8")
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", errors="ignore")


# pymilvus pings every 10 s, even on idle connections; a gRPC server that keeps gRPC's default policy
# (milvus-lite's: at most one ping per 5 minutes without calls) answers that with GOAWAY "too_many_pings",
# and the client's recovery then failed (seen in the server-backend tests). Ping only while a call is open,
# and then no more often than that policy allows: idle connections that died are re-dialled on next use.
KEEPALIVE = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}


class MilvusChunks:
    """One collection: chunk_id (primary key), document_id, text (analysed), dense vector, BM25 sparse vector."""

    def __init__(self, uri: str, collection: str, dimension: int, *, token: str | None = None,
                 db_name: str | None = None, shards: int = DEFAULT_SHARDS, connect_timeout: float = 60.0) -> None:
        if dimension < 1:
            raise ValueError("dimension must be at least 1")
        if not 1 <= shards <= MAX_SHARDS:
            raise ValueError(f"shards must be from 1 to {MAX_SHARDS}")
        # The client waits this long for the server at connect (pymilvus's default, 10 s, was seen to run out
        # on a heavily loaded test machine).
        options: dict[str, Any] = {"uri": uri, "timeout": connect_timeout, "grpc_options": KEEPALIVE}
        if token:
            options["token"] = token
        if db_name:
            options["db_name"] = db_name
        try:
            self.client = MilvusClient(**options)
        except MilvusException as error:
            raise ConnectionError(f"cannot reach Milvus at {uri} (CITEQA_MILVUS_URI): {error.message}") from None
        self.collection = collection
        self.dimension = dimension
        self.shards = shards

    # ------------------------------------------------------------ collection
    def ensure(self) -> None:
        """Create the collection if missing; refuse one whose vectors have another dimension, or that was
        created with another shard count (fixed at creation: `citeqa rebuild` re-creates it)."""
        if self.client.has_collection(self.collection):
            description = self.client.describe_collection(self.collection)
            stored = self._stored_dimension(description)
            if stored != self.dimension:
                raise StoreMismatchError(
                    f"the Milvus collection {self.collection!r} holds {stored}-dimensional vectors, the running "
                    f"embedder makes {self.dimension}: rebuild with `citeqa rebuild`, or set CITEQA_MILVUS_COLLECTION")
            shards = int(description.get("num_shards") or 0)
            if shards and shards != self.shards:
                raise StoreMismatchError(
                    f"the Milvus collection {self.collection!r} has {shards} shard(s) but CITEQA_MILVUS_SHARDS is "
                    f"{self.shards}: shards are fixed when a collection is created. Set CITEQA_MILVUS_SHARDS={shards}, "
                    "or re-create the collection with that many shards by `citeqa rebuild` (it copies every chunk "
                    "again from PostgreSQL); Milvus Lite always has 1")
        else:
            try:
                self._create()
            except MilvusException:
                if not self.client.has_collection(self.collection):  # else another replica made it just now
                    raise
        self.client.load_collection(self.collection)

    def recreate(self) -> None:
        """An empty collection for the running dimension (re-indexing then fills it from PostgreSQL)."""
        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)
        self._create()
        self.client.load_collection(self.collection)

    def _stored_dimension(self, description: Mapping[str, Any]) -> int:
        for field in description["fields"]:
            if field["name"] == "dense":
                return int(field["params"]["dim"])
        raise StoreMismatchError(f"the Milvus collection {self.collection!r} has no dense field: "
                                 "it was not made by citeqa; set CITEQA_MILVUS_COLLECTION to another name")

    def _create(self) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.INT64, is_primary=True)
        schema.add_field("document_id", DataType.VARCHAR, max_length=DOCUMENT_ID_MAX)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True,
                         analyzer_params=ANALYZER)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dimension)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
        indexes = self.client.prepare_index_params()
        indexes.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                          params={"M": HNSW_NEIGHBOURS, "efConstruction": HNSW_BUILD_DEPTH})
        indexes.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                          params={"bm25_k1": 1.5, "bm25_b": 0.75})  # bm25s's defaults, as the embedded store
        indexes.add_index(field_name="document_id", index_type="INVERTED")
        # Strong: a search sees every write acknowledged before it, whichever replica made it.
        self.client.create_collection(self.collection, schema=schema, index_params=indexes,
                                      consistency_level="Strong", num_shards=self.shards)

    # ---------------------------------------------------------------- writes
    def upsert(self, rows: Iterable[ChunkRow]) -> int:
        """Insert or overwrite rows by chunk id (idempotent, so a sync cut short can simply run again)."""
        count = 0
        for batch in _batches(rows, INSERT_BATCH):
            self.client.upsert(self.collection, [
                {"chunk_id": row.chunk_id, "document_id": row.document_id, "text": clip_utf8(row.text),
                 "dense": np.asarray(row.vector, dtype=np.float32).tolist()} for row in batch])
            count += len(batch)
        return count

    def delete_stale(self, oldest_current: Mapping[str, int | None]) -> None:
        """Drop each document's rows older than its current first chunk id (None: the document is gone).

        Chunk ids only grow and a write replaces all of a document's chunks, so a document's current rows
        are exactly those from its first current id on.
        """
        items = sorted(oldest_current.items())
        for start in range(0, len(items), FILTER_BATCH):
            terms = [f"(document_id == {quoted(d)})" if first is None
                     else f"(document_id == {quoted(d)} and chunk_id < {int(first)})"
                     for d, first in items[start:start + FILTER_BATCH]]
            self.client.delete(self.collection, filter=" or ".join(terms))

    def delete_ids(self, chunk_ids: Sequence[int]) -> None:
        for start in range(0, len(chunk_ids), INSERT_BATCH * 8):
            self.client.delete(self.collection, ids=[int(i) for i in chunk_ids[start:start + INSERT_BATCH * 8]])

    # ----------------------------------------------------------------- reads
    def count(self) -> int:
        result = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def ids_between(self, after: int, upto: int | None, batch_size: int = 4096) -> Iterator[list[int]]:
        """The chunk ids in (after, upto] (upto None: every id above `after`), one batch at a time.

        Milvus's query iterator pages by primary key (each page asks for ids above the last one it gave),
        so rows of a page already given may be deleted while iterating.
        """
        expression = f"chunk_id > {int(after)}" + (f" and chunk_id <= {int(upto)}" if upto is not None else "")
        iterator = self.client.query_iterator(self.collection, batch_size=batch_size, filter=expression,
                                              output_fields=["chunk_id"])
        try:
            while batch := iterator.next():
                yield [int(row["chunk_id"]) for row in batch]
        finally:
            iterator.close()

    def dense(self, vector: np.ndarray, depth: int, document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        return self._search([np.asarray(vector, dtype=np.float32).tolist()], "dense", depth, document_ids,
                            {"metric_type": "IP", "params": {"ef": max(HNSW_SEARCH_DEPTH, depth)}})

    def lexical(self, query: str, depth: int, document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        if not query.strip():
            return []
        hits = self._search([query], "sparse", depth, document_ids, {"metric_type": "BM25"})
        # Milvus Lite reports BM25 negated (as a distance); Milvus Standalone as a score: both best first.
        return [(chunk_id, abs(score)) for chunk_id, score in hits if score != 0]

    def _search(self, data: list[Any], field: str, depth: int, document_ids: Sequence[str] | None,
                parameters: dict[str, Any]) -> list[tuple[int, float]]:
        if document_ids is not None and not document_ids:
            return []
        results = self.client.search(self.collection, data=data, anns_field=field, limit=depth,
                                     filter=document_filter(document_ids) if document_ids is not None else "",
                                     search_params=parameters, output_fields=["chunk_id"])
        return [(int(hit["chunk_id"] if "chunk_id" in hit else hit["id"]), float(hit["distance"]))
                for hit in results[0]]

    def close(self) -> None:
        self.client.close()


def _batches(rows: Iterable[ChunkRow], size: int) -> Iterator[list[ChunkRow]]:
    batch: list[ChunkRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
