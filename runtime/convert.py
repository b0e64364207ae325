"""Torch transformers converted to OpenVINO: saved as float, or quantized to int8 on the shipped calibration set."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.xml"
CALIBRATION_SET = Path(__file__).resolve().parent / "calibration_data" / "squad-v1.1-train-calibration-64.json"


def calibration_pairs() -> list[tuple[str, str]]:
    """(question, paragraph) pairs of the shipped quantization calibration set (SQuAD v1.1 train)."""
    data = json.loads(CALIBRATION_SET.read_text(encoding="utf-8"))["data"]
    return [(qa["question"], paragraph["context"])
            for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


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


def save_quantized(model: Any, samples: Iterable[dict[str, np.ndarray]], folder: Path,
                   keep_float: Sequence[str] = ()) -> None:
    """nncf post-training int8 quantization of a converted transformer on these inputs, saved into `folder`.

    `keep_float`: regular expressions of operation names left in floating point.
    """
    import nncf
    import openvino

    items = list(samples)
    ignored = nncf.IgnoredScope(patterns=list(keep_float), validate=False) if keep_float else None
    quantized = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(items), **({"ignored_scope": ignored} if ignored else {}))
    openvino.save_model(quantized, str(folder / MODEL_FILE))
