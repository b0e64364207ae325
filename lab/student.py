"""The student step (the teacher's character targets distilled into the reader) and the splice of its weights."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.distil_evaluation import evaluate
from lab.distil_features import gold_sets, load_features, pad_batch
from lab.distil_training import StepSettings, train
from lab.packing import WORD_EMBEDDINGS, unpack_folder
from lab.soft_targets import CharTargets, distillation_loss, project

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class StudentSettings(StepSettings):
    init: str  # the reader folder (config, tokenizer, weights)
    targets: str  # the teacher step's targets.npz
    alpha: float  # weight of the distillation loss


def student(args: StudentSettings) -> None:
    """Distil the teacher's character targets into the reader, mixed with the hard labels; report; save."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(args.init)
    model = BertForQuestionAnswering(BertConfig.from_pretrained(args.init))
    if args.packed:
        state = unpack_folder(Path(args.packed))
    else:
        from safetensors.torch import load_file

        state = {k: v.float() for k, v in load_file(str(Path(args.init) / "model.safetensors")).items()}
    model.load_state_dict(state)
    model.to(device)  # type: ignore[arg-type]
    feats = Path(args.features)
    train_data = load_features(feats / "student-train.pkl")
    trained = [w for w in train_data["windows"] if w.example < args.train_examples]
    targets = CharTargets.load(Path(args.targets))
    pad = tokenizer.pad_token_id
    report: dict[str, Any] = {"settings": asdict(args)}
    sets = gold_sets(feats, "student", args.report, train_data, args.train_examples)
    for name, data in sets.items():
        report[f"before_{name}"] = evaluate(model, data, pad, True, device)
        log.info("before %s: %s", name, report[f"before_{name}"])

    def loss_of(m: Any, indices: list[int]) -> torch.Tensor:
        chosen = [trained[i] for i in indices]
        batch = {k: v.to(device) for k, v in pad_batch(chosen, pad, True).items()}
        width = batch["input_ids"].shape[1]
        soft = np.zeros((2, len(chosen), width), np.float32)
        for row, w in enumerate(chosen):
            e = w.example
            n = len(w.input_ids)
            soft[0, row, :n] = project(targets.start_chars[e], targets.start_probs[e], targets.null_start[e], w, False)
            soft[1, row, :n] = project(targets.end_chars[e], targets.end_probs[e], targets.null_end[e], w, True)
        soft_t = torch.from_numpy(soft).to(device)
        result = m(**batch, start_positions=torch.tensor([w.start for w in chosen], device=device),
                   end_positions=torch.tensor([w.end for w in chosen], device=device))
        kd = distillation_loss(result.start_logits, result.end_logits, batch["attention_mask"], soft_t[0], soft_t[1],
                               targets.temperature)
        return args.alpha * kd + (1 - args.alpha) * result.loss

    report["training"] = train(model, trained, loss_of, args.batch_size, args.learning_rate, args.epochs,
                               args.budget, args.seed, device, freeze=(WORD_EMBEDDINGS,))
    for name, data in sets.items():
        report[name] = evaluate(model, data, pad, True, device)
        log.info("after %s: %s", name, report[name])
    half = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()
            if k != WORD_EMBEDDINGS}
    names = list(half)
    middle = len(names) // 2
    for index, part in enumerate((names[:middle], names[middle:])):
        save_file({k: half[k] for k in part}, str(out / f"student-{index}.safetensors"))
    (out / "report.json").write_text(json.dumps(report, indent=2))


def splice(parts: Sequence[Path], base: Path, out: Path) -> None:
    """Write a complete fp16 reader folder: the base's files and word embeddings, the student's other weights."""
    import shutil

    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    for item in base.iterdir():
        if item.is_file() and item.name != "model.safetensors":
            shutil.copy2(item, out / item.name)
    reference = load_file(str(base / "model.safetensors"))
    state = {WORD_EMBEDDINGS: reference[WORD_EMBEDDINGS]}
    for part in parts:
        state.update(load_file(str(part)))
    if set(state) != set(reference):
        raise SystemExit(f"the parts do not make a whole reader: {sorted(set(reference) ^ set(state))}")
    save_file({k: state[k].to(torch.float16).contiguous() for k in reference}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
