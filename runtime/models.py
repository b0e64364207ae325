"""citeqa's two models as runnable parts on a backend and precision: the reader's forward pass and the
embedder's sentence encoder; and how each is derived into the optimized-model cache (runtime/cache.py)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from runtime.cache import optimized_model
from runtime.convert import calibration_pairs, convert, save_float, save_quantized
from runtime.encoder import PooledEncoder, SentenceEncoder, SentenceTransformerEncoder, sentence_config
from runtime.forward import Forward, TorchForward
from runtime.openvino import OpenVINOForward
from runtime.policy import BACKENDS, resolve_precision
from runtime.windows import DEFAULT_STRIDE, DEFAULT_WINDOW, window_feed

READER = "reader"
EMBEDDER = "embedder"
# The reader's span head stays in floating point: start/end logits a few hundredths apart decide a span's
# boundaries. So do the feed-forward down-projections (`layer.N.output.dense`): their inputs (GELU outputs) have
# the widest ranges in the model, and with them in int8 the top span moved off torch's for several percent of
# questions.
KEEP_FLOAT: tuple[str, ...] = (r".*qa_outputs.*", r".*layer\.\d+\.output\.dense.*")


def _checked(backend: str, cache_dir: Path | None) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "openvino" and cache_dir is None:
        raise ValueError("the openvino backend needs a cache folder for its optimized model")


def reader_forward(model_path: Path, backend: str = "torch", precision: str = "auto", cache_dir: Path | None = None,
                   threads: int | None = None) -> Forward:
    """The reader's forward pass (start and end logits), not yet loaded: torch runs the weights as trained
    (bf16 autocast where `precision` is bf16), openvino the int8 or float model derived from them into
    `cache_dir` (built on first load)."""
    _checked(backend, cache_dir)
    precision = resolve_precision(backend, precision)
    if backend == "openvino":
        assert cache_dir is not None
        return OpenVINOForward(lambda: optimized_reader(model_path, cache_dir, precision), threads, precision)
    return TorchForward(lambda: _torch_reader(model_path), precision, threads)


def embedder_encoder(model_path: Path, backend: str = "torch", precision: str = "auto",
                     cache_dir: Path | None = None, threads: int | None = None) -> SentenceEncoder:
    """The embedder's encoder, not yet loaded: sentence-transformers on torch (float32, as trained); on openvino
    the int8 or float model derived from its transformer, pooled as sentence-transformers pools (int8 vectors stay
    within cosine 0.99 of torch's)."""
    _checked(backend, cache_dir)
    if backend == "torch":
        return SentenceTransformerEncoder(model_path)
    assert cache_dir is not None
    precision = resolve_precision(backend, precision)
    locate = functools.cache(lambda: optimized_embedder(model_path, cache_dir, precision))
    return PooledEncoder(model_path, OpenVINOForward(locate, threads, precision),
                         OpenVINOForward(locate, threads, precision, hint="THROUGHPUT"))


def optimized_reader(model_path: Path, cache_root: Path, precision: str = "int8") -> Path:
    """model.xml of the reader for `model_path` in `precision` (int8, or the float model for bf16 and fp32),
    built on first use: about a minute for int8 on 2 cores, seconds for float."""
    return optimized_model(cache_root, READER, model_path, precision, lambda folder: build_reader(model_path, folder),
                           lambda folder: save_float(_converted_reader(model_path), folder))


def optimized_embedder(model_path: Path, cache_root: Path, precision: str = "int8") -> Path:
    """model.xml of the embedder for `model_path` in `precision` (int8, or the float model for bf16 and fp32),
    built on first use."""
    return optimized_model(cache_root, EMBEDDER, model_path, precision,
                           lambda folder: build_embedder(model_path, folder),
                           lambda folder: build_float_embedder(model_path, folder))


def _torch_reader(model_path: Path, **options: Any) -> Any:
    import torch
    from transformers import BertForQuestionAnswering

    return BertForQuestionAnswering.from_pretrained(str(model_path), dtype=torch.float32, **options)


def _converted_reader(model_path: Path) -> Any:
    return convert(_torch_reader(model_path, attn_implementation="eager").eval(), example_length=64)


def build_reader(model_path: Path, folder: Path, keep_float: tuple[str, ...] = KEEP_FLOAT) -> None:
    """Convert the torch reader to OpenVINO (dynamic batch and length) and quantize it to int8, calibrated on
    windows laid out as the reader serves them (its default window and stride)."""
    from transformers import AutoTokenizer

    converted = _converted_reader(model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    samples = []
    for question, context in calibration_pairs():
        encoding = tokenizer(question, context, truncation="only_second", max_length=DEFAULT_WINDOW,
                             stride=DEFAULT_STRIDE, return_overflowing_tokens=True)
        for ids, types in zip(encoding["input_ids"], encoding["token_type_ids"], strict=True):
            feed = window_feed([ids], [types])
            samples.append({name: feed[name] for name in ("input_ids", "attention_mask", "token_type_ids")})
    save_quantized(converted, samples, folder, keep_float)


def _converted_embedder(model_path: Path) -> Any:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path), dtype=torch.float32, attn_implementation="eager").eval()
    return convert(model, example_length=16)


def build_float_embedder(model_path: Path, folder: Path) -> None:
    """Convert the embedder's transformer to OpenVINO, weights kept float32."""
    sentence_config(model_path)  # the same check as the int8 build: a model the pooled encoder can pool
    save_float(_converted_embedder(model_path), folder)


def build_embedder(model_path: Path, folder: Path) -> None:
    """Convert the embedder's transformer to OpenVINO and quantize it to int8 on the shipped calibration texts."""
    from transformers import AutoTokenizer

    max_tokens, _ = sentence_config(model_path)
    converted = _converted_embedder(model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    texts = [text for pair in calibration_pairs() for text in pair]
    samples = [{name: values.astype(np.int64) for name, values in
                tokenizer([text], truncation=True, max_length=max_tokens, return_tensors="np").items()}
               for text in texts]
    save_quantized(converted, samples, folder)
