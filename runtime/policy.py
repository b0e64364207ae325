"""Which backend and number format run the models on this CPU (read once from /proc/cpuinfo and oneDNN's caps)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

# What runs a model's forward pass: torch as trained, or OpenVINO on a model derived from the same weights.
BACKENDS = ("torch", "openvino")
# What the openvino backend runs: the int8 model, or the float one with OpenVINO's inference precision set.
PRECISIONS = ("int8", "bf16", "fp32")

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
    `resolve_precision`), torch on other CPUs; other values as given (checked)."""
    if requested == "auto":
        return "openvino" if cpu_supports_fast_int8() or cpu_supports_avx2() else "torch"
    if requested not in BACKENDS:
        raise ValueError(f"backend must be auto or one of {BACKENDS}, got {requested!r}")
    return requested


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
