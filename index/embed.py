"""Sentence embeddings from the packaged all-MiniLM-L6-v2, L2-normalised float32."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


class Embedder:
    """Loads a local sentence-transformers model once and embeds texts in batches."""

    def __init__(self, model_path: Path, batch_size: int = 32) -> None:
        if not Path(model_path).is_dir():
            raise FileNotFoundError(f"embedder model folder not found: {model_path}")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self._model: object | None = None

    @property
    def name(self) -> str:
        return self.model_path.name if self.model_path.name != "model" else self.model_path.parent.name

    def warm_up(self) -> None:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @property
    def model(self) -> object:
        self.warm_up()
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())  # type: ignore[attr-defined]

    @property
    def tokenizer(self) -> object:
        return self.model.tokenizer  # type: ignore[attr-defined]

    def run(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed texts into an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(  # type: ignore[attr-defined]
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
