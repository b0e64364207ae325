"""The distillation's tokenised windows: the `prepare` step writes them, the teacher and the student read them.

One file per model and set (`teacher-train.pkl`, `student-squad-v2.0-dev-public.pkl`, ...) in the
features folder, and the padded batches both models are fed.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.examples import SquadExample, load_examples
from lab.soft_targets import Window, encode_windows
from lab.squad import read_squad
from runtime.windows import pad_windows

log = logging.getLogger(__name__)


def gold_examples(path: Path) -> tuple[list[SquadExample], list[list[str]]]:
    """Every question of a SQuAD file over its own paragraph, and its gold answers ([] if unanswerable)."""
    examples, golds = [], []
    for article in read_squad(path):
        for paragraph in article.paragraphs:
            for qa in paragraph.questions:
                first = qa.answers[0] if qa.answers else None
                examples.append(SquadExample(qa.question, paragraph.context, first.start if first else -1,
                                             first.text if first else ""))
                golds.append([answer.text for answer in qa.answers])
    return examples, golds


def prepare(examples_path: Path, eval_paths: Sequence[Path], teacher_tokenizer: str, student_tokenizer: str,
            teacher_length: int, student_length: int, stride: int, who: str, out: Path) -> None:
    """Tokenise the training examples and the gold-paragraph sets for the teacher and the student."""
    from transformers import AutoTokenizer

    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    examples = load_examples(examples_path)
    sets: dict[str, tuple[list[SquadExample], list[list[str]] | None]] = {"train": (examples, None)}
    for path in eval_paths:
        sets[Path(path).stem] = gold_examples(Path(path))
    for model, tokenizer_dir, length in (("teacher", teacher_tokenizer, teacher_length),
                                         ("student", student_tokenizer, student_length)):
        if who not in ("both", model):
            continue
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        for name, (items, golds) in sets.items():
            windows = encode_windows(items, tokenizer, length, stride)
            with open(out / f"{model}-{name}.pkl", "wb") as handle:
                pickle.dump({"examples": items, "golds": golds, "windows": windows}, handle, protocol=5)
            log.info("%s %s: %d examples -> %d windows (%.0fs)", model, name, len(items), len(windows),
                     time.monotonic() - started)
    (out / f"done-{who}").write_text("ok")


def load_features(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 (our own file, written by `prepare` in the same lease)


def holdout(data: dict[str, Any], first: int) -> dict[str, Any]:
    """The training file's examples [first, end) as a gold set: the ones no model here trained on."""
    from dataclasses import replace

    return {"examples": data["examples"][first:], "golds": None,
            "windows": [replace(w, example=w.example - first) for w in data["windows"] if w.example >= first]}


def gold_sets(feats: Path, who: str, names: Sequence[str], train_data: dict[str, Any],
              first_held_out: int) -> dict[str, dict[str, Any]]:
    """The named gold sets `prepare` wrote for `who`, and the training file's held-out tail if any."""
    sets = {name: load_features(feats / f"{who}-{name}.pkl") for name in names}
    if first_held_out < len(train_data["examples"]):
        sets["held-out"] = holdout(train_data, first_held_out)
    return sets


def pad_batch(windows: Sequence[Window], pad_id: int, types: bool) -> dict[str, torch.Tensor]:
    """A batch laid out as the reader lays out its own (`pad_windows`); segment ids only for models that take them."""
    ids, token_types, mask = pad_windows(
        [w.input_ids.tolist() for w in windows],
        [(w.token_type_ids if w.token_type_ids is not None else np.zeros_like(w.input_ids)).tolist() for w in windows],
        pad_id)
    batch = {"input_ids": ids, "attention_mask": mask}
    if types:
        batch["token_type_ids"] = token_types
    return batch
