"""Sentence encoders: texts in, L2-normalised float32 vectors out (what `index.embed.Embedder` is handed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from runtime.forward import BatchForward, Forward

# Texts per inference when embedding many: per-text cost is flat from 8 to 32 on 2 cores, and smaller
# batches pad less (bench/RESULTS.md, issue 19).
BULK_BATCH = 8


class SentenceEncoder(Protocol):
    """Embeds texts; `warm_up()` loads the model (once), the other members load it when first used."""

    backend: str
    precision: str

    def warm_up(self) -> None: ...

    @property
    def tokenizer(self) -> Any: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """The embedder as trained: sentence-transformers' own encode (tokenising, length-sorted batches, pooling)."""

    backend = "torch"
    precision = "fp32"

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @property
    def model(self) -> Any:
        if self._model is None:
            self.warm_up()
        return self._model

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=progress)


def sentence_config(model_path: Path) -> tuple[int, int]:
    """(max tokens, dimension) of a Transformer + mean Pooling + Normalize sentence-transformers folder."""
    modules = [module["type"].rsplit(".", 1)[-1] for module in json.loads((model_path / "modules.json").read_text())]
    pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    if modules != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError(f"the openvino backend runs mean-pooled, normalised models only; {model_path} is {modules}")
    max_tokens = json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"]
    return int(max_tokens), int(pooling["word_embedding_dimension"])


class PooledEncoder:
    """sentence-transformers' encode over any forward pass of the same transformer: tokenise, run, mean-pool,
    normalise. One batch (a question) runs on `forward`; more (a document's chunks) in small batches on `bulk`
    when given (several at once: OpenVINO's throughput mode embeds more chunks per second), else on `forward`.
    """

    def __init__(self, model_path: Path, forward: Forward, bulk: BatchForward | None = None) -> None:
        self.model_path = model_path
        self.max_tokens, self._dimension = sentence_config(model_path)
        self.backend, self.precision = forward.backend, forward.precision
        self._forward = forward
        self._bulk = bulk  # compiled on the first ingest: a server that only answers never holds it
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._tokenizer is None:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_path))
        self._forward.warm_up()

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self.warm_up()
        return self._tokenizer

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray:
        if len(texts) <= batch_size:
            feed = self._feed(texts)
            return self._pool(self._forward(feed)["last_hidden_state"], feed["attention_mask"])
        order = np.argsort([-len(text) for text in texts], kind="stable")  # similar lengths share a batch
        groups = [order[offset : offset + BULK_BATCH] for offset in range(0, len(texts), BULK_BATCH)]
        feeds = [self._feed([texts[row] for row in rows]) for rows in groups]
        if self._bulk is not None:
            hidden = self._bulk.run_all(feeds, "last_hidden_state")
        else:
            hidden = [self._forward(feed)["last_hidden_state"] for feed in feeds]
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for rows, feed, states in zip(groups, feeds, hidden, strict=True):
            vectors[rows] = self._pool(states, feed["attention_mask"])
        return vectors

    def _feed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        batch = self.tokenizer(list(texts), padding=True, truncation="longest_first", max_length=self.max_tokens,
                               return_tensors="np")
        return {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
