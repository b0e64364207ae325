"""The cache of optimized (OpenVINO int8) models: keyed by weights sha256 and tool versions, built atomically."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Bump when the conversion or quantization recipe changes: every cached model is then rebuilt.
RECIPE = "ov-int8-3"
# What the openvino backend runs: the int8 model, or the float one with OpenVINO's inference precision set.
PRECISIONS = ("int8", "bf16", "fp32")
MODEL_FILE = "model.xml"
META_FILE = "meta.json"
CALIBRATION_SET = Path(__file__).resolve().parent / "calibration_data" / "squad-v1.1-train-calibration-64.json"
_build_lock = threading.Lock()
# OpenVINOModel pads token lengths to a multiple of this: OpenVINO keeps compiled kernels and buffers per input
# shape, and unrounded lengths made that cache, and the process, grow by hundreds of MB over an ingest or a few
# hundred questions (bench/RESULTS.md, issue 19).
SHAPE_MULTIPLE = 16

# oneDNN's documented cap on the instruction sets it dispatches (the older name second). OpenVINO's CPU plugin
# honours OV_CPU_MAX_ISA alongside it; torch's bf16 and OpenVINO's int8 kernels both come from oneDNN.
ONEDNN_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


@functools.cache  # settings are validated (and the backend resolved) many times; the CPU does not change
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(flag for line in text.splitlines() if line.startswith("flags")
                     for flag in line.split(":", 1)[1].split())


def cpu_allows(flags: Sequence[str], caps_allowing: Sequence[str]) -> bool:
    """True when the CPU has one of `flags` and no oneDNN cap rules them out (a cap naming none of
    `caps_allowing`, e.g. AVX2, means oneDNN will not use them even where the CPU has them)."""
    cap = next((os.environ[name] for name in ONEDNN_CAPS if os.environ.get(name)), "").upper()
    if cap and cap not in ("ALL", "DEFAULT") and not any(name in cap for name in caps_allowing):
        return False
    return bool(_cpu_flags() & set(flags))


def cpu_supports_fast_int8() -> bool:
    """True when the CPU has int8 dot-product instructions (VNNI or AMX). Without them OpenVINO's int8 matmuls
    fall back to slower kernels, and the int8 models are no faster than torch (bench/RESULTS.md, issue 19)."""
    return cpu_allows(("avx512_vnni", "avx_vnni", "amx_int8"), ("VNNI", "BF16", "FP16", "AMX", "AVX10"))


def cpu_supports_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX) and no oneDNN cap (e.g. AVX2)
    keeps torch and OpenVINO from using them: bf16 would then run emulated, as on a CPU without it."""
    return cpu_allows(("avx512_bf16", "amx_bf16"), ("BF16", "FP16", "AMX", "AVX10"))


def cpu_supports_avx2() -> bool:
    """True on an x86 CPU with AVX2 and FMA, and no cap below them: OpenVINO's float kernels beat torch's there."""
    return cpu_allows(("avx2",), ("AVX2", "AVX512", "AVX10", "AMX", "VNNI", "BF16", "FP16"))


def resolve_backend(requested: str) -> str:
    """"auto": OpenVINO on x86 CPUs with AVX2 (int8 where they run it fast, float elsewhere: see
    `resolve_precision`), torch on other CPUs; other values as given."""
    if requested != "auto":
        return requested
    return "openvino" if cpu_supports_fast_int8() or cpu_supports_avx2() else "torch"


def resolve_precision(backend: str, requested: str) -> str:
    """The number format a backend runs: "int8" (OpenVINO only), "bf16" or "fp32".

    "auto": int8 where the CPU has int8 dot products (VNNI or AMX), else bf16 where it has native bf16, else fp32.
    Without VNNI, OpenVINO's int8 matmuls were no faster than float ones (bench/RESULTS.md, issue 19).
    """
    if requested not in ("auto", *PRECISIONS):
        raise ValueError(f"precision must be auto or one of {PRECISIONS}, got {requested!r}")
    if requested == "int8" and backend != "openvino":
        raise ValueError("int8 runs on the openvino backend only (CITEQA_INFERENCE_BACKEND=openvino)")
    if requested != "auto":
        return requested
    if backend == "openvino" and cpu_supports_fast_int8():
        return "int8"
    return "bf16" if cpu_supports_fast_bf16() else "fp32"


def tool_versions() -> dict[str, str]:
    """The versions that change what a conversion produces (read from the installed metadata: importing nncf
    takes seconds, and a start that finds its models cached never needs it)."""
    from importlib.metadata import version

    return {"openvino": version("openvino"), "nncf": version("nncf"), "recipe": RECIPE}


def weights_digest(folder: Path) -> str:
    """sha256 over the weights and config of a model folder (names included, sorted)."""
    digest = hashlib.sha256()
    files = sorted(p for pattern in ("*.safetensors", "*.bin", "config.json") for p in folder.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no model weights in {folder}")
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_key(folder: Path) -> str:
    """The weights' digest and the tool versions, hashed together (what names a cache entry)."""
    payload = json.dumps({"weights": weights_digest(folder), **tool_versions(),
                          "calibration": hashlib.sha256(CALIBRATION_SET.read_bytes()).hexdigest()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def cached_model(cache_root: Path, kind: str, source: Path, build: Callable[[Path], None]) -> Path:
    """The cached model.xml for `source`, built by `build(folder)` into a staging folder and renamed into place.

    A stale entry (same kind and source, other key) is removed once the new one is in place.
    """
    key = cache_key(source)
    final = cache_root / f"{kind}-{key}"
    if (final / META_FILE).exists():
        return final / MODEL_FILE
    with _build_lock:  # one build per process; another process building the same key loses the rename
        if (final / META_FILE).exists():
            return final / MODEL_FILE
        cache_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{kind}-", dir=cache_root))
        try:
            log.info("optimizing the %s from %s (cache key %s): once per weights", kind, source, key)
            build(staging)
            meta = {"kind": kind, "source": str(source.resolve()), "key": key, **tool_versions()}
            (staging / META_FILE).write_text(json.dumps(meta, indent=2))
            try:
                os.rename(staging, final)
            except OSError:
                if not (final / META_FILE).exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for entry in stale_entries(cache_root, kind, source, keep=final):
            shutil.rmtree(entry, ignore_errors=True)
    return final / MODEL_FILE


def optimized_model(cache_root: Path, kind: str, source: Path, precision: str,
                    quantized: Callable[[Path], None], converted: Callable[[Path], None]) -> Path:
    """The cached model.xml `precision` runs on: int8's, built by `quantized(folder)`, or the float model that
    bf16 and fp32 share (entry `<kind>-float-<key>`), built by `converted(folder)`."""
    if precision == "int8":
        return cached_model(cache_root, kind, source, quantized)
    return cached_model(cache_root, f"{kind}-float", source, converted)


def stale_entries(cache_root: Path, kind: str, source: Path, keep: Path) -> list[Path]:
    """Entries of this kind built from the same source folder under another key."""
    stale = []
    for entry in cache_root.glob(f"{kind}-*"):
        try:
            meta = json.loads((entry / META_FILE).read_text())
        except (OSError, ValueError):
            continue
        if entry != keep and meta.get("kind") == kind and meta.get("source") == str(source.resolve()):
            stale.append(entry)
    return stale


def calibration_pairs() -> list[tuple[str, str]]:
    """(question, paragraph) pairs of the shipped quantization calibration set (SQuAD v1.1 train)."""
    data = json.loads(CALIBRATION_SET.read_text(encoding="utf-8"))["data"]
    return [(qa["question"], paragraph["context"])
            for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


class OpenVINOModel:
    """A transformer compiled for this CPU; `run` is thread-safe (one inference at a time).

    Inputs are (batch, tokens) arrays with an attention mask: they are zero-padded (masked) to a multiple of
    SHAPE_MULTIPLE tokens, and every output is cut back to the tokens given along its second axis.
    The latency hint runs one inference on every core; the throughput hint (for `run_all` over many
    batches) runs several at once, one stream per core or so, as OpenVINO chooses. `precision` is the model's:
    "bf16" or "fp32" sets a float model's arithmetic; "int8" leaves OpenVINO's default for its float parts.
    """

    def __init__(self, xml: Path, threads: int | None = None, hint: str = "LATENCY",
                 precision: str = "int8") -> None:
        import openvino

        if hint not in ("LATENCY", "THROUGHPUT"):
            raise ValueError(f"hint must be LATENCY or THROUGHPUT, got {hint!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if precision != "int8":
            config["INFERENCE_PRECISION_HINT"] = {"bf16": "bf16", "fp32": "f32"}[precision]
        self._compiled = openvino.Core().compile_model(str(xml), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        width = _width(inputs)
        with self._lock:
            results = self._request.infer(_padded(inputs, width))
            return {name: _cut(np.array(value), width) for output, value in results.items()
                    for name in output.get_names()}

    def run_all(self, feeds: Sequence[dict[str, np.ndarray]], output: str) -> list[np.ndarray]:
        """`output` of each feed, the feeds run as many at a time as the compiled model has streams."""
        import openvino

        results: list[np.ndarray | None] = [None] * len(feeds)
        queue = openvino.AsyncInferQueue(self._compiled,
                                         int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))

        widths = [_width(feed) for feed in feeds]

        def done(request: Any, position: int) -> None:
            results[position] = _cut(np.array(request.get_tensor(output).data), widths[position])

        queue.set_callback(done)
        for position, feed in enumerate(feeds):
            queue.start_async(_padded(feed, widths[position]), position)
        queue.wait_all()
        finished = [result for result in results if result is not None]
        if len(finished) != len(feeds):
            raise RuntimeError(f"OpenVINO gave no output for {len(feeds) - len(finished)} of {len(feeds)} batches")
        return finished


def _width(inputs: dict[str, np.ndarray]) -> int:
    return int(next(iter(inputs.values())).shape[1])


def _padded(inputs: dict[str, np.ndarray], width: int) -> dict[str, np.ndarray]:
    padding = ((0, 0), (0, -width % SHAPE_MULTIPLE))
    return {name: np.pad(values, padding) for name, values in inputs.items()}


def _cut(values: np.ndarray, width: int) -> np.ndarray:
    return values[:, :width] if values.ndim > 1 else values


def convert(model: Any, example_length: int) -> Any:
    """A torch transformer as an OpenVINO model taking int64 ids, mask and token types of any batch and length."""
    import openvino
    import torch

    example = {"input_ids": torch.ones(2, example_length, dtype=torch.long),
               "attention_mask": torch.ones(2, example_length, dtype=torch.long),
               "token_type_ids": torch.zeros(2, example_length, dtype=torch.long)}
    inputs = [(name, [-1, -1], openvino.Type.i64) for name in example]
    with torch.no_grad():
        return openvino.convert_model(model, example_input=example, input=inputs)


def save_float(model: Any, folder: Path) -> None:
    """Save a converted model with float32 weights: the float backend computes what torch computes."""
    import openvino

    openvino.save_model(model, str(folder / MODEL_FILE), compress_to_fp16=False)


def quantize(model: Any, samples: Iterable[dict[str, np.ndarray]], keep_float: Sequence[str] = ()) -> Any:
    """nncf post-training int8 quantization of an OpenVINO transformer model on these inputs.

    `keep_float`: regular expressions of operation names left in floating point.
    """
    import nncf

    items = list(samples)
    ignored = nncf.IgnoredScope(patterns=list(keep_float), validate=False) if keep_float else None
    return nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items),
                         **({"ignored_scope": ignored} if ignored else {}))
