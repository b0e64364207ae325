"""Ingestion: documents are checked, split into sentences and chunks, embedded, then written in one step."""

from __future__ import annotations

from collections.abc import Sequence

from index.base import DocumentExistsError, IngestResult, PassageStore, PreparedDocument
from index.chunk import Chunker
from index.documents import Document, DocumentError
from index.embed import Embedder
from index.extract import ParseLimits, reextract


class Indexer:
    """Turns documents into stored, searchable chunks (all of a call's documents or none)."""

    def __init__(self, store: PassageStore, embedder: Embedder, chunker: Chunker, max_document_chars: int,
                 parse_limits: ParseLimits | None = None) -> None:
        if max_document_chars < 1:
            raise ValueError("max_document_chars must be at least 1")
        self.parse_limits = parse_limits or ParseLimits(max_chars=max_document_chars)
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.max_document_chars = max_document_chars

    def run(self, documents: Sequence[Document], replace: bool = True, progress: bool = False) -> list[IngestResult]:
        """Chunk and embed documents, then store them in one atomic write.

        With `replace` false, a document whose id is already stored raises DocumentExistsError and
        nothing is written; the store repeats the check inside its write, so a concurrent add cannot
        slip in between.
        """
        prepared = []
        for document in documents:
            if not replace and self.store.has(document.id):  # before the embedding work, the slow part
                raise DocumentExistsError(document.id)
            if len(document.text) > self.max_document_chars:
                raise DocumentError("document_too_large",
                                    f"document {document.id!r} has {len(document.text):,} characters; "
                                    f"the limit is {self.max_document_chars:,}")
            sentences, chunks = self.chunker.run(document.text)
            if not chunks:
                raise DocumentError("empty_document", f"document {document.id!r} has no text to index")
            prepared.append((document, sentences, chunks))
        texts = [chunk.text for _, _, chunks in prepared for chunk in chunks]
        vectors = self.embedder.run(texts, progress=progress or len(documents) > 3)
        items, offset = [], 0
        for document, sentences, chunks in prepared:
            items.append(PreparedDocument(document, sentences, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        return self.store.write(items, replace=replace)

    def add(self, document: Document, replace: bool = True) -> IngestResult:
        return self.run([document], replace=replace)[0]

    def rebuild(self) -> int:
        """Re-chunk and re-embed every stored document with the running settings, PDF and Word files read
        again from their original files (so an extractor upgrade reaches them); the count rebuilt."""
        documents = [reextract(document, self.parse_limits) for document in self.store.all_documents()]
        self.store.adopt_manifest()
        if documents:
            self.run(documents, progress=True)
        return len(documents)
