"""Weights carried to and from a lent GPU machine in small files: int8-row shards and back.

A device call carries at most 64 MiB, so a model travels as `pack`ed parts (`citeqa distil pack`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"  # frozen in the reader's training: never carried back


def pack(source: Path, target: Path, parts: int, exact: Callable[[str], bool] = lambda name: False) -> list[Path]:
    """Split a safetensors file into `parts` files, matrices as int8 per row (absmax scale) unless `exact`.

    A 438 MB teacher does not fit one call's 64 MiB; int8 rows lose at most ~0.4% per weight and
    the teacher is fine-tuned after, so its trip costs a quarter of the bytes.
    """
    from safetensors.torch import load_file, save_file

    state = load_file(str(source))
    names = list(state)
    sizes = [state[n].numel() * (2 if exact(n) or state[n].dim() < 2 else 1) for n in names]
    budget = sum(sizes) / parts
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    shard: dict[str, torch.Tensor] = {}
    used = 0.0
    for name, size in zip(names, sizes, strict=True):
        tensor = state[name].float()
        if exact(name) or tensor.dim() < 2:
            shard[name] = tensor.half().contiguous()
        else:
            scale = tensor.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
            shard[name + ".q8"] = torch.round(tensor / scale).to(torch.int8).contiguous()
            shard[name + ".scale"] = scale.contiguous()
        used += size
        if used >= budget * (len(written) + 1) and len(written) < parts - 1:
            written.append(_save_shard(shard, target, len(written), save_file))
            shard = {}
    if shard:
        written.append(_save_shard(shard, target, len(written), save_file))
    return written


def pack_model(source: Path, target: Path, parts: int, reader: bool) -> list[Path]:
    """`pack`, keeping every tensor fp16 but the reader's frozen word embeddings where `reader` is set."""
    return pack(source, target, parts, (lambda name: name != WORD_EMBEDDINGS) if reader else (lambda name: False))


def _save_shard(shard: dict[str, torch.Tensor], target: Path, index: int, save: Any) -> Path:
    path = target / f"part-{index}.safetensors"
    save(shard, str(path))
    return path


def unpack(paths: Sequence[Path]) -> dict[str, torch.Tensor]:
    """The fp32 state dict that `pack` split (int8 rows dequantised)."""
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for path in paths:
        shard = load_file(str(path))
        for name, tensor in shard.items():
            if name.endswith(".q8"):
                base = name[: -len(".q8")]
                state[base] = tensor.float() * shard[base + ".scale"]
            elif not name.endswith(".scale"):
                state[name] = tensor.float()
    return state


def unpack_folder(folder: Path) -> dict[str, torch.Tensor]:
    """`unpack` of every part-*.safetensors in a folder, in name order."""
    return unpack(sorted(folder.glob("part-*.safetensors")))
