"""The cache of models derived from citeqa's weights (OpenVINO int8 and float): keyed by the weights' digest,
the tool versions and the calibration set, built atomically into a staging folder and renamed into place."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from runtime.convert import CALIBRATION_SET, MODEL_FILE

log = logging.getLogger(__name__)

# Bump when the conversion or quantization recipe changes: every cached model is then rebuilt.
RECIPE = "ov-int8-3"
META_FILE = "meta.json"
_build_lock = threading.Lock()


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
