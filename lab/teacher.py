"""The teacher step: fine-tune the teacher on the training windows and write its character targets."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.distil_evaluation import evaluate
from lab.distil_features import gold_sets, load_features, pad_batch
from lab.distil_training import StepSettings, logits_of, train
from lab.packing import unpack_folder
from lab.soft_targets import CharTargets, Window, best_window_score, window_char_targets

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class TeacherSettings(StepSettings):
    model: str  # folder with the teacher's config and tokenizer
    temperature: float
    k: int  # characters kept per distribution


def teacher(args: TeacherSettings) -> None:
    """Fine-tune the teacher on the training windows, write its character targets, and report its figures."""
    from safetensors.torch import save_file
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(args.model)
    if args.packed:
        save_file(unpack_folder(Path(args.packed)), str(folder / "model.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForQuestionAnswering.from_pretrained(str(folder), dtype=torch.float32).to(device)
    feats = Path(args.features)
    train_data = load_features(feats / "teacher-train.pkl")
    windows: list[Window] = train_data["windows"]
    trained = [w for w in windows if w.example < args.train_examples]
    pad = tokenizer.pad_token_id

    def loss_of(m: Any, indices: list[int]) -> torch.Tensor:
        chosen = [trained[i] for i in indices]
        batch = {k: v.to(device) for k, v in pad_batch(chosen, pad, False).items()}
        batch["start_positions"] = torch.tensor([w.start for w in chosen], device=device)
        batch["end_positions"] = torch.tensor([w.end for w in chosen], device=device)
        return m(**batch).loss

    report: dict[str, Any] = {"teacher_training": train(model, trained, loss_of, args.batch_size, args.learning_rate,
                                                        args.epochs, args.budget, args.seed, device)}
    log.info("teacher trained: %s", report["teacher_training"])

    started = time.monotonic()
    logits = logits_of(model, windows, pad, False, device, batch_size=512)
    examples = train_data["examples"]
    targets = CharTargets.empty(len(examples), args.k, args.temperature)
    strongest = np.full(len(examples), -np.inf)
    for window, (start, end) in zip(windows, logits, strict=True):
        score = best_window_score(start, end, window)
        if score <= strongest[window.example]:
            continue
        strongest[window.example] = score
        sc, sp, ec, ep, ns, ne = window_char_targets(start, end, window, args.temperature, args.k)
        i = window.example
        targets.start_chars[i], targets.start_probs[i], targets.end_chars[i], targets.end_probs[i] = sc, sp, ec, ep
        targets.null_start[i], targets.null_end[i] = ns, ne
    targets.save(out / "targets.npz")
    report["targets_seconds"] = round(time.monotonic() - started, 1)
    for name, data in gold_sets(feats, "teacher", args.report, train_data, args.train_examples).items():
        report[f"teacher_{name}"] = evaluate(model, data, pad, False, device)
        log.info("teacher %s: %s", name, report[f"teacher_{name}"])
    (out / "teacher-report.json").write_text(json.dumps(report, indent=2))
