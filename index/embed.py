"""Sentence embeddings from the packaged all-MiniLM-L6-v2, L2-normalised float32."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.optimized import PRECISIONS

BACKENDS = ("torch", "openvino")
KIND = "embedder"
# Texts per inference when embedding many: per-text cost is flat from 8 to 32 on 2 cores, and smaller
# batches pad less (bench/RESULTS.md, issue 19).
BULK_BATCH = 8


class Embedder:
    """Loads a local sentence-transformers model once and embeds texts in batches.

    `backend` "torch" runs sentence-transformers; "openvino" runs a model derived from the same weights
    (cached in `cache_dir`, built on first load) with the same tokenisation, mean pooling and normalisation:
    in `precision` "int8" its vectors stay within cosine 0.99 of the torch ones; "bf16" and "fp32" run the
    float model in that arithmetic.
    """

    def __init__(self, model_path: Path, batch_size: int = 32, backend: str = "torch",
                 cache_dir: Path | None = None, threads: int | None = None, precision: str = "int8") -> None:
        if not Path(model_path).is_dir():
            raise FileNotFoundError(f"embedder model folder not found: {model_path}")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "openvino" and cache_dir is None:
            raise ValueError("the openvino backend needs a cache folder for its optimized model")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model_path = Path(model_path)
        self.precision = precision
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = cache_dir
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.model_path.name if self.model_path.name != "model" else self.model_path.parent.name

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                self._model = self._load()

    def _load(self) -> Any:
        if self.backend == "openvino":
            assert self.cache_dir is not None
            xml = optimized_embedder(self.model_path, self.cache_dir, self.precision)
            return OpenVINOEncoder(self.model_path, xml, self.threads, self.precision)
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def run(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed texts into an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def optimized_embedder(model_path: Path, cache_root: Path, precision: str = "int8") -> Path:
    """model.xml of the embedder for `model_path` in `precision` (int8, or the float model for bf16 and fp32),
    built on first use."""
    from index.optimized import optimized_model

    return optimized_model(cache_root, KIND, model_path, precision, lambda folder: build_openvino(model_path, folder),
                           lambda folder: build_float(model_path, folder))


def _sentence_config(model_path: Path) -> tuple[int, int]:
    """(max tokens, dimension) of a Transformer + mean Pooling + Normalize sentence-transformers folder."""
    modules = [module["type"].rsplit(".", 1)[-1] for module in json.loads((model_path / "modules.json").read_text())]
    pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    if modules != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError(f"the openvino backend runs mean-pooled, normalised models only; {model_path} is {modules}")
    max_tokens = json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"]
    return int(max_tokens), int(pooling["word_embedding_dimension"])


class OpenVINOEncoder:
    """sentence-transformers' encode() over the OpenVINO model: tokenise, run, mean-pool, normalise."""

    def __init__(self, model_path: Path, xml: Path, threads: int | None = None, precision: str = "int8") -> None:
        from transformers import AutoTokenizer

        from index.optimized import OpenVINOModel

        self.max_tokens, self.dimension = _sentence_config(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self.xml, self.threads, self.precision = xml, threads, precision
        self._model = OpenVINOModel(xml, threads, precision=precision)
        self._bulk_model: OpenVINOModel | None = None  # compiled on the first ingest: a server that only
        self._bulk_lock = threading.Lock()  # answers never holds it

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts: list[str], batch_size: int, show_progress_bar: bool = False,
               **_: object) -> np.ndarray:
        """One batch (a question) on the latency-compiled model; more (a document's chunks) in small
        batches, several at once on a throughput-compiled one, which embeds more chunks per second."""
        if len(texts) <= batch_size:
            feed = self._feed(texts)
            return self._pool(self._model.run(feed)["last_hidden_state"], feed["attention_mask"])
        order = np.argsort([-len(text) for text in texts], kind="stable")  # similar lengths share a batch
        groups = [order[offset : offset + BULK_BATCH] for offset in range(0, len(texts), BULK_BATCH)]
        feeds = [self._feed([texts[row] for row in rows]) for rows in groups]
        hidden = self._bulk().run_all(feeds, "last_hidden_state")
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for rows, feed, states in zip(groups, feeds, hidden, strict=True):
            vectors[rows] = self._pool(states, feed["attention_mask"])
        return vectors

    def _bulk(self) -> Any:
        with self._bulk_lock:
            if self._bulk_model is None:
                from index.optimized import OpenVINOModel

                self._bulk_model = OpenVINOModel(self.xml, self.threads, hint="THROUGHPUT", precision=self.precision)
            return self._bulk_model

    def _feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        batch = self.tokenizer(texts, padding=True, truncation="longest_first", max_length=self.max_tokens,
                               return_tensors="np")
        return {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def _converted(model_path: Path) -> Any:
    import torch
    from transformers import AutoModel

    from index.optimized import convert

    model = AutoModel.from_pretrained(str(model_path), dtype=torch.float32, attn_implementation="eager").eval()
    return convert(model, example_length=16)


def build_float(model_path: Path, folder: Path) -> None:
    """Convert the embedder's transformer to OpenVINO, weights kept float32."""
    from index.optimized import save_float

    _sentence_config(model_path)  # the same check as the int8 build: a model this encoder can pool
    save_float(_converted(model_path), folder)


def build_openvino(model_path: Path, folder: Path) -> None:
    """Convert the embedder's transformer to OpenVINO and quantize it to int8 on the shipped calibration texts."""
    import openvino
    from transformers import AutoTokenizer

    from index.optimized import MODEL_FILE, calibration_pairs, quantize

    max_tokens, _ = _sentence_config(model_path)
    converted = _converted(model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    texts = [text for pair in calibration_pairs() for text in pair]
    samples = [{name: values.astype(np.int64) for name, values in
                tokenizer([text], truncation=True, max_length=max_tokens, return_tensors="np").items()}
               for text in texts]
    openvino.save_model(quantize(converted, samples), str(folder / MODEL_FILE))
