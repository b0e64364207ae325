"""The distillation's training loop and batched logits, shared by the teacher and the student steps."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lab.distil_features import pad_batch
from lab.features import bucketed_batches
from lab.soft_targets import Window
from lab.training import FIT_TO_BUDGET_AT, StepPlan, adamw, optimizer_step

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class StepSettings:
    """The options the teacher and the student steps share, in the order report.json's settings list them."""

    features: str  # the folder `prepare` wrote
    packed: str | None  # folder of pack()ed part-*.safetensors weights
    train_examples: int  # train on examples [0, N) only
    report: list[str]  # gold sets to report (prepare's file stems)
    batch_size: int
    learning_rate: float
    epochs: float
    budget: float  # seconds the schedule must fit
    seed: int
    out: str


def train(model: Any, windows: Sequence[Window], loss_of: Callable[[Any, list[int]], torch.Tensor],
          batch_size: int, learning_rate: float, epochs: float, budget_seconds: float, seed: int,
          device: torch.device, freeze: Sequence[str] = ()) -> dict[str, Any]:
    """AdamW, 10% warm-up then linear decay, bf16 autocast, clipping at 1; the schedule is shrunk to fit
    `budget_seconds` (as `citeqa train-reader --time-budget-minutes` does) so it always ends decayed."""
    for name, parameter in model.named_parameters():
        if name in freeze:
            parameter.requires_grad_(False)
    optimizer = adamw(model, learning_rate, 0.01)
    lengths = [len(w.input_ids) for w in windows]
    schedule: list[list[int]] = []
    for epoch in range(max(1, math.ceil(epochs))):
        schedule.extend(bucketed_batches(lengths, batch_size, random.Random(seed + epoch)))
    total = int(len(schedule) * epochs / max(1, math.ceil(epochs)))
    plan = StepPlan(total, int(total * 0.1), ceiling=total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.learning_rate_factor)
    model.train()
    started = time.monotonic()
    last_fit = (0, started)
    step = 0
    while step < plan.total:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = loss_of(model, schedule[step])
        optimizer_step(model, optimizer, scheduler, loss)
        step += 1
        if step % 200 == 0:
            log.info("step %d/%d loss %.3f lr %.2e %.0f windows/s", step, plan.total, loss.item(),
                     scheduler.get_last_lr()[0], step * batch_size / (time.monotonic() - started))
        if step in FIT_TO_BUDGET_AT:
            now = time.monotonic()
            plan.fit(step, (step - last_fit[0]) / (now - last_fit[1]), budget_seconds - (now - started))
            last_fit = (step, now)
            log.info("budget: schedule ends at step %d of %d", plan.total, total)
    model.eval()
    return {"steps": step, "planned_steps": total, "windows_seen": step * batch_size,
            "epochs_seen": round(step / max(1, len(schedule) / max(1, math.ceil(epochs))), 3),
            "seconds": round(time.monotonic() - started, 1)}


@torch.no_grad()
def logits_of(model: Any, windows: Sequence[Window], pad_id: int, types: bool, device: torch.device,
              batch_size: int = 256) -> list[tuple[np.ndarray, np.ndarray]]:
    """Start and end logits (fp32, unpadded) of every window, batched by length."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    out: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0), np.empty(0))] * len(windows)
    for offset in range(0, len(order), batch_size):
        indices = order[offset : offset + batch_size]
        batch = {k: v.to(device) for k, v in pad_batch([windows[i] for i in indices], pad_id, types).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16):
            result = model(**batch)
        starts = result.start_logits.float().cpu().numpy()
        ends = result.end_logits.float().cpu().numpy()
        for row, index in enumerate(indices):
            n = len(windows[index].input_ids)
            out[index] = (starts[row, :n], ends[row, :n])
    return out
