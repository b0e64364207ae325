"""Lexical search with BM25 (bm25s), so exact names and numbers are found."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
from bm25s.tokenization import Tokenizer
from bm25s.utils import json_functions

# bm25s writes its vocabulary (integer keys) with orjson whenever orjson is installed (pymilvus brings it), and
# orjson refuses integer keys; the standard library writes them as strings, which is what bm25s reads back.
json_functions.dumps = json_functions.dumps_with_builtin


def _tokenizer() -> Tokenizer:
    return Tokenizer(stopwords="en", stemmer=None, lower=True)


class LexicalIndex:
    """BM25 over chunk texts, returning chunk ids."""

    FOLDER = "lexical"

    def __init__(self, retriever: bm25s.BM25 | None, tokenizer: Tokenizer, ids: np.ndarray) -> None:
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.ids = ids

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str]) -> LexicalIndex:
        tokenizer = _tokenizer()
        if not texts:
            return cls(None, tokenizer, ids)
        tokens = tokenizer.tokenize(list(texts), return_as="ids", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever, tokenizer, ids)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        path = folder / cls.FOLDER
        ids = np.load(path / "chunk_ids.npy")
        tokenizer = _tokenizer()
        if not len(ids):
            return cls(None, tokenizer, ids)
        tokenizer.load_vocab(str(path))
        return cls(bm25s.BM25.load(str(path)), tokenizer, ids)

    def save(self, folder: Path) -> None:
        path = folder / self.FOLDER
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "chunk_ids.npy", self.ids)
        if self.retriever is not None:
            self.retriever.save(str(path), show_progress=False)
            self.tokenizer.save_vocab(str(path))
        (path / "done.json").write_text(json.dumps({"chunks": len(self.ids)}))

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Up to k chunk ids with a positive BM25 score, best first."""
        if self.retriever is None or not len(self.ids):
            return []
        query_ids = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)
        mask = None
        if allowed is not None:
            mask = np.isin(self.ids, allowed).astype(np.float32)
        positions, scores = self.retriever.retrieve(
            query_ids, k=min(k, len(self.ids)), show_progress=False, weight_mask=mask, n_threads=0
        )
        return [
            (int(self.ids[p]), float(s)) for p, s in zip(positions[0], scores[0], strict=True) if s > 0
        ]
