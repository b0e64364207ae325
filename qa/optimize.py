"""Derive the reader's OpenVINO models from its weights (converted, int8 also quantized; cached by weights digest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from index.optimized import MODEL_FILE, calibration_pairs, convert, optimized_model, quantize, save_float

KIND = "reader"
# The span head stays in floating point: start/end logits a few hundredths apart decide a span's boundaries.
# So do the feed-forward down-projections (`layer.N.output.dense`): their inputs (GELU outputs) have the widest
# ranges in the model, and with them in int8 the top span moved off torch's for several percent of questions.
KEEP_FLOAT: tuple[str, ...] = (r".*qa_outputs.*", r".*layer\.\d+\.output\.dense.*")


def optimized_reader(model_path: Path, cache_root: Path, precision: str = "int8") -> Path:
    """model.xml of the reader for `model_path` in `precision` (int8, or the float model for bf16 and fp32),
    built on first use: about a minute for int8 on 2 cores, seconds for float."""
    return optimized_model(cache_root, KIND, model_path, precision, lambda folder: build_reader(model_path, folder),
                           lambda folder: build_float_reader(model_path, folder))


def _converted(model_path: Path) -> Any:
    import torch
    from transformers import BertForQuestionAnswering

    model = BertForQuestionAnswering.from_pretrained(str(model_path), dtype=torch.float32,
                                                     attn_implementation="eager").eval()
    return convert(model, example_length=64)


def build_float_reader(model_path: Path, folder: Path) -> None:
    """Convert the torch reader to OpenVINO (dynamic batch and length), weights kept float32."""
    save_float(_converted(model_path), folder)


def build_reader(model_path: Path, folder: Path, keep_float: tuple[str, ...] = KEEP_FLOAT) -> None:
    """Convert the torch reader to OpenVINO (dynamic batch and length) and quantize it to int8."""
    import openvino
    from transformers import AutoTokenizer

    # Calibrated on windows laid out as the reader serves them (its default window and stride).
    from qa.reader import DEFAULT_STRIDE, DEFAULT_WINDOW, pad_windows

    converted = _converted(model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    samples = []
    for question, context in calibration_pairs():
        encoding = tokenizer(question, context, truncation="only_second", max_length=DEFAULT_WINDOW,
                             stride=DEFAULT_STRIDE, return_overflowing_tokens=True)
        for ids, types in zip(encoding["input_ids"], encoding["token_type_ids"], strict=True):
            batch_ids, batch_types, batch_mask = pad_windows([ids], [types])
            samples.append({"input_ids": batch_ids.numpy(), "attention_mask": batch_mask.numpy(),
                            "token_type_ids": batch_types.numpy()})
    openvino.save_model(quantize(converted, samples, keep_float), str(folder / MODEL_FILE))
