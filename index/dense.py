"""Dense vector search with FAISS: exact inner product, or HNSW for very large stores.

Vectors are added in place (`add_with_ids`); a removed chunk's vector stays in the FAISS index, marked
dead and skipped by searches (HNSW cannot remove, and a flat index would move every vector after it),
until the store rebuilds the index from the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np

HNSW_NEIGHBOURS = 32
HNSW_SEARCH_DEPTH = 128


class DenseIndex:
    """Inner-product search over unit vectors, returning chunk ids. Not thread-safe (see LexicalIndex)."""

    FILE = "dense.faiss"
    DEAD_FILE = "dense-dead.npy"

    def __init__(self, index: faiss.Index, dead: Iterable[int] = ()) -> None:
        self.index = index
        self.dead = {int(i) for i in dead}

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, exact: bool = True) -> DenseIndex:
        dimension = vectors.shape[1]
        if exact:
            inner: faiss.Index = faiss.IndexFlatIP(dimension)
        else:
            inner = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efSearch = HNSW_SEARCH_DEPTH
        index = cls(faiss.IndexIDMap2(inner))
        index.add(ids, vectors)
        return index

    @classmethod
    def load(cls, folder: Path) -> DenseIndex:
        return cls(faiss.read_index(str(folder / cls.FILE)), np.load(folder / cls.DEAD_FILE).tolist())

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / self.FILE))
        np.save(folder / self.DEAD_FILE, np.array(sorted(self.dead), dtype=np.int64))

    @property
    def exact(self) -> bool:
        inner = faiss.downcast_index(self.index.index)  # type: ignore[attr-defined]  # an IndexIDMap2
        return not isinstance(inner, faiss.IndexHNSW)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        """Live vectors."""
        return int(self.index.ntotal) - len(self.dead)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), -1),
                                    np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> None:
        self.dead.update(int(i) for i in ids)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest live chunk ids with their cosine similarity."""
        total = int(self.index.ntotal)
        if total == 0 or k <= 0:
            return []
        depth = min(k + len(self.dead), total)  # enough that k live ones remain after skipping the dead
        scores, ids = self.index.search(vector.reshape(1, -1).astype(np.float32), depth)
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True)
                 if i != -1 and int(i) not in self.dead]
        return found[:k]
