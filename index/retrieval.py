"""Hybrid retrieval: a dense and a BM25 ranking from the store, fused by weighted reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from index.base import PassageStore, StoredChunk, UnknownDocumentError
from index.embed import Embedder

# Defaults of the fusion (chosen on SQuAD v1.1 dev 25-48; README "Retrieval" gives the measurements).
RRF_K = 10
DENSE_WEIGHT = 1.0
LEXICAL_WEIGHT = 1.5
# Each ranking is cut at this depth (or 4k) before fusion: a chunk ranked 3rd by one ranking and 25th by
# the other must get both shares.
FUSION_DEPTH = 50
MODES = ("hybrid", "dense", "lexical")

Ranking = list[tuple[int, float]]


@dataclass(frozen=True)
class SearchHit:
    """A retrieved chunk with what the reader and the citations need, and its scores."""

    chunk: StoredChunk
    dense_score: float | None
    lexical_score: float | None
    fused_score: float

    @property
    def document_id(self) -> str:
        return self.chunk.document_id

    @property
    def start(self) -> int:
        return self.chunk.start

    @property
    def end(self) -> int:
        return self.chunk.end

    @property
    def text(self) -> str:
        return self.chunk.text


def reciprocal_rank_fusion(rankings: Sequence[tuple[float, Ranking]], k: int, limit: int) -> list[tuple[int, float]]:
    """The `limit` best ids by the sum over rankings of weight / (k + rank), rank counted from 1.

    Ties go to the smaller id, so the order never depends on dictionary order.
    """
    fused: dict[int, float] = {}
    for weight, ranking in rankings:
        for rank, (item, _) in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(fused.items(), key=lambda entry: (-entry[1], entry[0]))[:limit]


class HybridRetriever:
    """Finds the chunks that best match a question; the store does the ranking, this component the fusion."""

    def __init__(
        self,
        store: PassageStore,
        embedder: Embedder,
        *,
        rrf_k: int,
        dense_weight: float,
        lexical_weight: float,
        fusion_depth: int,
        context_chars: int,
    ) -> None:
        if rrf_k < 0:
            raise ValueError("rrf_k must not be negative")
        if dense_weight < 0 or lexical_weight < 0:
            raise ValueError("fusion weights must not be negative")
        if fusion_depth < 1:
            raise ValueError("fusion_depth must be at least 1")
        if context_chars < 0:
            raise ValueError("context_chars must not be negative")
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight
        self.fusion_depth = fusion_depth
        self.context_chars = context_chars

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def run(self, query: str, top_k: int, document_ids: Sequence[str] | None = None,
            mode: str = "hybrid") -> list[SearchHit]:
        """The top_k chunks for a query, best first, within `document_ids` when given.

        Raises UnknownDocumentError when a given document id is not stored. Chunks whose document was
        deleted or replaced since the rankings were built are left out.
        """
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if mode not in MODES:
            raise ValueError("mode must be hybrid, dense or lexical")
        wanted = list(document_ids) if document_ids is not None else None
        for document_id in wanted or []:
            if not self.store.has(document_id):
                raise UnknownDocumentError(document_id)
        depth = max(4 * top_k, self.fusion_depth)
        dense: Ranking = []
        lexical: Ranking = []
        vector = self.embedder.run([query])[0] if mode != "lexical" else None
        if vector is not None:
            dense = self.store.dense_ranking(vector, depth, wanted)
        if mode != "dense":
            lexical = self.store.lexical_ranking(query, depth, wanted)
        best = reciprocal_rank_fusion([(self.dense_weight, dense), (self.lexical_weight, lexical)],
                                      self.rrf_k, top_k)
        if not best:
            return []
        chunks = self.store.chunks([chunk_id for chunk_id, _ in best], self.context_chars)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        if vector is not None and mode == "hybrid":
            # A chunk found by its words alone, below the dense ranking's depth, still has a cosine: unknown is
            # not 0 (the verifier reads it, and a name or code BM25 found is no likelier wrong).
            reached_by_words = [chunk_id for chunk_id, _ in best if chunk_id not in dense_scores]
            dense_scores.update(self.store.cosines(vector, reached_by_words))
        return [SearchHit(chunks[chunk_id], dense_scores.get(chunk_id), lexical_scores.get(chunk_id), score)
                for chunk_id, score in best if chunk_id in chunks]
