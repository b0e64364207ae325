"""Train citeqa's extractive reader on SQuAD-format data: the loop, its schedule, checkpoints and export."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab.examples import mixed_with_real_unanswerable, shuffled_examples
from lab.features import bucketed_batches, collate, tokenize_examples
from lab.negatives import NegativeMix
from runtime.windows import DEFAULT_STRIDE, DEFAULT_WINDOW

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in each checkpoint."""

    data_path: Path
    output_dir: Path
    base_model: Path
    max_length: int = DEFAULT_WINDOW
    stride: int = DEFAULT_STRIDE
    batch_size: int = 24
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    epochs: float = 1.0
    max_examples: int | None = None
    skip_examples: int = 0
    negatives: NegativeMix = field(default_factory=NegativeMix)
    time_budget_minutes: float | None = None
    checkpoint_minutes: float = 10.0
    seed: int = 13
    device: str = "auto"
    bf16: bool = True
    freeze_word_embeddings: bool = True
    resume: Path | None = None
    unanswerable_data: Path | None = None
    unanswerable_repeat: int = 1
    hold_out_articles: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


FIT_TO_BUDGET_AT = (50, 300, 1000)  # steps into a run at which a time budget re-fits the schedule
BUDGET_MARGIN = 0.97


@dataclass
class StepPlan:
    """Linear warm-up then linear decay to zero at `total`; `fit` shrinks it to a time budget.

    Shrinking the schedule instead of stopping mid-way means a budget-limited run still ends with
    its learning rate decayed to zero, which is what makes its last weights the good ones.
    """

    total: int
    warmup: int
    ceiling: int

    def learning_rate_factor(self, step: int) -> float:
        if step < self.warmup:
            return step / max(1, self.warmup)
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

    def fit(self, step: int, steps_per_second: float, seconds_left: float) -> None:
        """End the schedule at the last step that fits in the time left (never past the plan)."""
        reachable = step + int(max(0.0, seconds_left) * steps_per_second * BUDGET_MARGIN)
        self.total = max(step + 1, min(self.ceiling, reachable))
        self.warmup = min(self.warmup, self.total // 10)


def adamw(model: Any, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, with no weight decay on biases and LayerNorm weights (BERT's recipe)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if "bias" in name or "LayerNorm" in name else decay).append(parameter)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=learning_rate)


def optimizer_step(model: Any, optimizer: torch.optim.Optimizer, scheduler: Any, loss: torch.Tensor) -> None:
    """Backpropagate `loss`, clip the gradients' norm at 1, and step the optimiser and its schedule."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def pick_device(requested: str) -> torch.device:
    """Use CUDA when present unless told otherwise."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def train_reader(config: TrainConfig) -> Path:
    """Run (or resume) training and write the final fp16 reader into output_dir/final."""
    from transformers import AutoTokenizer, BertForQuestionAnswering

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(str(config.base_model))
    examples = shuffled_examples(config.data_path, config.negatives, config.seed)
    end = config.skip_examples + config.max_examples if config.max_examples else None
    examples = examples[config.skip_examples : end]
    if config.unanswerable_data is not None:
        examples = mixed_with_real_unanswerable(examples, config.unanswerable_data, config.negatives, config.seed,
                                                config.unanswerable_repeat, config.hold_out_articles)
    started = time.monotonic()
    features = tokenize_examples(examples, tokenizer, config.max_length, config.stride)
    log.info("%d examples -> %d features in %.0fs", len(examples), len(features), time.monotonic() - started)

    lengths = [len(feature[0]) for feature in features]
    epochs_whole = max(1, math.ceil(config.epochs))
    schedule: list[list[int]] = []
    for epoch in range(epochs_whole):
        schedule.extend(bucketed_batches(lengths, config.batch_size, random.Random(config.seed + epoch)))
    total_steps = int(len(schedule) * config.epochs / epochs_whole)
    schedule = schedule[:total_steps]

    # fp32 master weights even when the source folder holds fp16 (newer transformers keep the file's dtype)
    model = BertForQuestionAnswering.from_pretrained(str(config.base_model), dtype=torch.float32)
    if config.freeze_word_embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.to(device)  # type: ignore[arg-type]
    optimizer = adamw(model, config.learning_rate, config.weight_decay)
    plan = StepPlan(total_steps, int(total_steps * config.warmup_ratio), ceiling=total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.learning_rate_factor)
    step = 0
    resume = config.resume or (output_dir / "checkpoint.pt" if (output_dir / "checkpoint.pt").exists() else None)
    if resume:
        state = torch.load(resume, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        plan.total = state.get("total_steps", plan.total)
        log.info("resumed from %s at step %d/%d", resume, step, plan.total)

    model.train()
    use_bf16 = config.bf16 and device.type in ("cpu", "cuda")
    last_checkpoint = time.monotonic()
    run_started = time.monotonic()
    seen, running_loss = 0, 0.0
    budget = config.time_budget_minutes * 60 if config.time_budget_minutes else None
    first_step = step
    last_fit = (step, run_started)
    while step < plan.total:
        batch = {k: v.to(device) for k, v in collate(features, schedule[step], tokenizer.pad_token_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(**batch).loss
        optimizer_step(model, optimizer, scheduler, loss)
        step += 1
        seen += len(schedule[step - 1])
        running_loss += loss.item()
        if step % 50 == 0:
            elapsed = time.monotonic() - run_started
            log.info(
                "step %d/%d loss %.3f lr %.2e %.1f features/s",
                step, plan.total, running_loss / 50, scheduler.get_last_lr()[0], seen / elapsed,
            )
            running_loss = 0.0
        if budget is not None and step - first_step in FIT_TO_BUDGET_AT:
            # the rate since the last fit, not since the start: the first steps include warm-up costs
            now = time.monotonic()
            plan.fit(step, (step - last_fit[0]) / (now - last_fit[1]), budget - (now - run_started))
            last_fit = (step, now)
            log.info("time budget: schedule now ends at step %d", plan.total)
        out_of_time = budget is not None and time.monotonic() - run_started > budget
        if time.monotonic() - last_checkpoint > config.checkpoint_minutes * 60 or out_of_time:
            _save_checkpoint(output_dir, model, optimizer, scheduler, step, plan.total, config, tokenizer)
            last_checkpoint = time.monotonic()
        if out_of_time:
            log.info("time budget reached at step %d/%d", step, plan.total)
            break
    _save_checkpoint(output_dir, model, optimizer, scheduler, step, plan.total, config, tokenizer)
    return output_dir / "latest"


def _save_checkpoint(
    output_dir: Path,
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    total_steps: int,
    config: TrainConfig,
    tokenizer: Any,
) -> None:
    temporary = output_dir / "checkpoint.pt.tmp"
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
         "scheduler": scheduler.state_dict(), "step": step, "total_steps": total_steps},
        temporary,
    )
    os.replace(temporary, output_dir / "checkpoint.pt")
    export_fp16(model, tokenizer, output_dir / "latest", {
        "step": step, "total_steps": total_steps,
        "config": {k: str(v) for k, v in asdict(config).items()},
    })
    log.info("checkpoint at step %d", step)


def export_fp16(model: Any, tokenizer: Any, target: Path, training_state: dict[str, Any]) -> None:
    """Write fp16 safetensors, config and tokenizer into target, replacing it atomically."""
    import shutil

    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    half = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    from safetensors.torch import save_file

    staging.mkdir(parents=True)
    save_file(half, str(staging / "model.safetensors"), metadata={"format": "pt"})
    model.config.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    (staging / "training_state.json").write_text(json.dumps(training_state, indent=2))
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
