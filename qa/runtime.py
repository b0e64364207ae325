"""The reader's forward pass, one function per backend: logits from input ids, token types and mask."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np


class Forward(Protocol):
    """(start logits, end logits), each (windows, width) float32, of a padded batch of windows."""

    def __call__(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class TorchForward:
    """The model as trained: torch, with bf16 autocast where the CPU runs bf16 natively."""

    def __init__(self, model_path: Path, bf16: bool, threads: int | None = None) -> None:
        import torch
        from transformers import BertForQuestionAnswering

        if threads:
            torch.set_num_threads(threads)
        self.bf16 = bf16
        self._model = BertForQuestionAnswering.from_pretrained(str(model_path), dtype=torch.float32).eval()
        self._lock = threading.Lock()

    def __call__(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with (
            self._lock,
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16),
        ):
            output = self._model(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types),
                                 attention_mask=torch.from_numpy(mask))
        return output.start_logits.float().numpy(), output.end_logits.float().numpy()


class OpenVINOForward:
    """A model `citeqa optimize` derives from the same weights (qa/optimize.py), on OpenVINO: the int8 one, or
    the float one run in `precision` (bf16 or fp32)."""

    def __init__(self, xml: Path, threads: int | None = None, precision: str = "int8") -> None:
        from index.optimized import OpenVINOModel

        self.xml = xml
        self._model = OpenVINOModel(xml, threads, precision=precision)

    def __call__(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = self._model.run({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        return outputs["start_logits"], outputs["end_logits"]
