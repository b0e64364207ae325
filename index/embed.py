"""Sentence embeddings from the packaged all-MiniLM-L6-v2, L2-normalised float32."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.encoder import SentenceEncoder
from runtime.models import embedder_encoder


class Embedder:
    """Embeds texts in batches with the sentence encoder it is handed (runtime/models.py `embedder_encoder`:
    sentence-transformers on torch, or the OpenVINO model derived from the same weights); by default
    sentence-transformers on torch. The model loads once, in `warm_up()` or on first use.
    """

    def __init__(self, model_path: Path, encoder: SentenceEncoder | None = None, batch_size: int = 32) -> None:
        if not Path(model_path).is_dir():
            raise FileNotFoundError(f"embedder model folder not found: {model_path}")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.model_path = Path(model_path)
        self.encoder = encoder or embedder_encoder(self.model_path)
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return self.model_path.name if self.model_path.name != "model" else self.model_path.parent.name

    @property
    def backend(self) -> str:
        return self.encoder.backend

    @property
    def precision(self) -> str:
        return self.encoder.precision

    def warm_up(self) -> None:
        self.encoder.warm_up()

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    @property
    def tokenizer(self) -> Any:
        return self.encoder.tokenizer

    def run(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed texts into an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.encoder.encode(list(texts), self.batch_size, progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)
