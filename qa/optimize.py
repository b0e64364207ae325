"""Derive the reader's OpenVINO int8 model from its weights (converted, quantized, cached by weights digest)."""

from __future__ import annotations

from pathlib import Path

from index.optimized import MODEL_FILE, cached_model, calibration_pairs, convert, quantize

KIND = "reader"
# The span head stays in floating point: start/end logits a few hundredths apart decide a span's boundaries.
# So do the feed-forward down-projections (`layer.N.output.dense`): their inputs (GELU outputs) have the widest
# ranges in the model, and with them in int8 the top span moved off torch's for several percent of questions.
KEEP_FLOAT: tuple[str, ...] = (r".*qa_outputs.*", r".*layer\.\d+\.output\.dense.*")


def optimized_reader(model_path: Path, cache_root: Path) -> Path:
    """model.xml of the int8 reader for `model_path`, built on first use (about a minute on 2 cores)."""
    return cached_model(cache_root, KIND, model_path, lambda folder: build_reader(model_path, folder))


def build_reader(model_path: Path, folder: Path, keep_float: tuple[str, ...] = KEEP_FLOAT) -> None:
    """Convert the torch reader to OpenVINO (dynamic batch and length) and quantize it to int8."""
    import openvino
    import torch
    from transformers import AutoTokenizer, BertForQuestionAnswering

    # Calibrated on windows laid out as the reader serves them (its default window and stride).
    from qa.reader import DEFAULT_STRIDE, DEFAULT_WINDOW, pad_windows

    model = BertForQuestionAnswering.from_pretrained(str(model_path), dtype=torch.float32,
                                                     attn_implementation="eager").eval()
    converted = convert(model, example_length=64)
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
