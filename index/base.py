"""What every passage store provides, whatever engine holds it: the records, the errors and the protocol.

The embedded store (`index.store.SqliteStore`: SQLite with FAISS and BM25 files) is one implementation;
a server backend implements the same protocol, and the retriever, the indexer and the pipeline work
with either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from index.chunk import Chunk, Span, widen
from index.documents import Document
from index.layout import Layout, SourceFile


class StoreMismatchError(RuntimeError):
    """The store was built with other settings than the running ones."""


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
    source_type: str = "text"
    page_count: int | None = None  # PDFs only
    filename: str | None = None  # the uploaded file's name, when it came as a file
    sha256: str | None = None  # that file's digest


@dataclass(frozen=True)
class IngestResult:
    """What a write stored."""

    document_id: str
    chunk_count: int
    sentence_count: int
    replaced: bool


@dataclass(frozen=True)
class PreparedDocument:
    """A document split into sentences and chunks, with one embedding per chunk: ready to store."""

    document: Document
    sentences: list[Span]
    chunks: list[Chunk]
    vectors: np.ndarray


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as read from the store, with the text the reader reads and the sentences to cite.

    `start`/`end`/`text`: the chunk. `context_start`/`context_text`: what the reader reads (the chunk,
    or the chunk widened by whole sentences of its paragraph). `sentences`: the sentence spans inside
    the context. Every offset is in code points of the stored document text, read in one snapshot, so
    citations made from this record always match the document as it was when it was read.
    """

    chunk_id: int
    document_id: str
    start: int
    end: int
    text: str
    context_start: int
    context_text: str
    sentences: tuple[Span, ...]
    # The pages (PDF) and sections (Word) that the context overlaps, with their character boxes: enough to
    # place any span of it, read in the same snapshot as the text.
    layout: Layout = field(default_factory=Layout, compare=False)
    # The document's title: what the whole text is about, named once (a heading, a file's first line).
    document_title: str = field(default="", compare=False)

    @property
    def context_end(self) -> int:
        return self.context_start + len(self.context_text)

    @property
    def pages(self) -> tuple[int, ...]:
        """Every page the chunk covers (empty for unpaged text)."""
        return self.layout.locate(self.start, self.end).pages

    @classmethod
    def widened(cls, chunk_id: int, document_id: str, start: int, end: int, text: str, document_text: str,
                sentences: Sequence[Span], context_chars: int) -> StoredChunk:
        """The chunk with up to `context_chars` of whole sentences of its document on each side to read."""
        context_start, context_end = widen(document_text, sentences, start, end, context_chars)
        inside = tuple(s for s in sentences if s.start >= context_start and s.end <= context_end)
        return cls(chunk_id, document_id, start, end, text, context_start, document_text[context_start:context_end],
                   inside)


class PassageStore(Protocol):
    """Documents, their sentences and chunks, and the two rankings hybrid retrieval fuses."""

    def version(self) -> int:
        """A number that changes with every committed write (caches key on it)."""

    def write(self, prepared: Sequence[PreparedDocument], replace: bool) -> list[IngestResult]:
        """Store documents in one atomic write; DocumentExistsError if one exists and `replace` is false."""

    def delete(self, document_id: str) -> None:
        """Remove a document and its chunks, or raise UnknownDocumentError."""

    def has(self, document_id: str) -> bool: ...

    def get(self, document_id: str) -> Document:
        """The document with its layout (pages, boxes, sections), without its original file."""

    def source(self, document_id: str) -> SourceFile | None:
        """The file the document was read from (None for text sent as JSON), or UnknownDocumentError."""

    def summary(self, document_id: str) -> DocumentSummary: ...

    def list_documents(self) -> list[DocumentSummary]: ...

    def all_documents(self) -> list[Document]:
        """Every document with its layout and original file (to re-index them)."""

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""

    def adopt_manifest(self) -> None:
        """Record the running settings as the store's own (before re-indexing every document)."""

    def dense_ranking(self, vector: np.ndarray, depth: int,
                      document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        """Up to `depth` (chunk id, cosine) pairs nearest the query vector, best first."""

    def lexical_ranking(self, query: str, depth: int,
                        document_ids: Sequence[str] | None) -> list[tuple[int, float]]:
        """Up to `depth` (chunk id, BM25 score) pairs with a positive score, best first."""

    def cosines(self, vector: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        """The query vector's cosine with each chunk still stored among `chunk_ids` (those the dense ranking
        did not reach), by id."""

    def chunks(self, chunk_ids: Sequence[int], context_chars: int) -> dict[int, StoredChunk]:
        """The chunks still stored among `chunk_ids`, read in one snapshot, by id."""

    def close(self) -> None: ...


def manifest(embedder_name: str, dimension: int, chunk_tokens: int) -> dict[str, Any]:
    """What a store's content depends on; a store opened with another manifest must be rebuilt."""
    return {
        "schema_version": 1,
        "embedder": embedder_name,
        "embedding_dimension": dimension,
        "chunk_tokens": chunk_tokens,
        "chunk_overlap_sentences": 1,
        "chunk_layout": "whole-paragraphs",
        "sentence_splitter": "pysbd-en",
    }
