"""Teacher fine-tuning and distillation into the reader, as steps run on a lent GPU machine.

`python -m lab.distil STEP ...`; the steps and the order they run in are in lab/distil_device.sh.
Only torch, transformers, numpy, safetensors and scikit-learn are needed here (what the GPU
machine has), so the training examples are built beforehand (the `examples` step, where citeqa is installed) and carried
as a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import lzma
import math
import pickle
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.soft_targets import (
    CharTargets,
    Window,
    best_span,
    best_window_score,
    distillation_loss,
    encode_windows,
    project,
    window_char_targets,
)
from lab.examples import SquadExample
from lab.features import bucketed_batches
from lab.metrics import abstention_curve, answerability_auc, best_over, exact_match, f1
from lab.squad import read_squad
from lab.training import FIT_TO_BUDGET_AT, StepPlan, adamw, optimizer_step
from qa.reader import pad_windows

log = logging.getLogger("lab.distil")

WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"  # frozen in the reader's training: never carried back


# ---------------------------------------------------------------- carrying weights in small files

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


# ---------------------------------------------------------------- examples and windows

def save_examples(examples: Sequence[SquadExample], path: Path, about: dict[str, Any]) -> None:
    """Examples as one xz-compressed JSON file, each distinct context written once."""
    contexts: dict[str, int] = {}
    rows = [[e.question, contexts.setdefault(e.context, len(contexts)), e.answer_start, e.answer_text]
            for e in examples]
    with lzma.open(path, "wt", encoding="utf-8", preset=9) as handle:
        json.dump({**about, "contexts": list(contexts), "examples": rows}, handle)


def load_examples(path: Path) -> list[SquadExample]:
    with lzma.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    contexts = data["contexts"]
    return [SquadExample(question, contexts[cid], start, text) for question, cid, start, text in data["examples"]]


def examples(args: argparse.Namespace) -> None:
    """Build a training order (`citeqa train-reader`'s examples, negatives and seed) into one carried file."""
    from lab.examples import shuffled_examples
    from lab.negatives import NegativeMix

    mix = NegativeMix(sibling=args.negative_ratio, retrieved=args.retrieved_negative_ratio,
                      answer_removed=args.answer_removed_ratio, entity_swapped=args.entity_swapped_ratio)
    built = shuffled_examples(Path(args.data), mix, args.seed)
    save_examples(built, Path(args.out), {"mix": vars(mix), "seed": args.seed})
    log.info("%d examples written to %s", len(built), args.out)


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


def prepare(args: argparse.Namespace) -> None:
    """Tokenise the training examples and the gold-paragraph sets for the teacher and the student."""
    from transformers import AutoTokenizer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    examples = load_examples(Path(args.examples))
    sets: dict[str, tuple[list[SquadExample], list[list[str]] | None]] = {"train": (examples, None)}
    for path in args.eval:
        sets[Path(path).stem] = gold_examples(Path(path))
    for who, tokenizer_dir, length in (("teacher", args.teacher_tokenizer, args.teacher_length),
                                       ("student", args.student_tokenizer, args.student_length)):
        if args.who not in ("both", who):
            continue
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        for name, (items, golds) in sets.items():
            windows = encode_windows(items, tokenizer, length, args.stride)
            with open(out / f"{who}-{name}.pkl", "wb") as handle:
                pickle.dump({"examples": items, "golds": golds, "windows": windows}, handle, protocol=5)
            log.info("%s %s: %d examples -> %d windows (%.0fs)", who, name, len(items), len(windows),
                     time.monotonic() - started)
    (out / f"done-{args.who}").write_text("ok")


def _load(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 (our own file, written by `prepare` in the same lease)


def holdout(data: dict[str, Any], first: int) -> dict[str, Any]:
    """The training file's examples [first, end) as a gold set: the ones no model here trained on."""
    from dataclasses import replace

    return {"examples": data["examples"][first:], "golds": None,
            "windows": [replace(w, example=w.example - first) for w in data["windows"] if w.example >= first]}


def _gold_sets(feats: Path, who: str, names: Sequence[str], train_data: dict[str, Any],
               first_held_out: int) -> dict[str, dict[str, Any]]:
    sets = {name: _load(feats / f"{who}-{name}.pkl") for name in names}
    if first_held_out < len(train_data["examples"]):
        sets["held-out"] = holdout(train_data, first_held_out)
    return sets


def _pad(windows: Sequence[Window], pad_id: int, types: bool) -> dict[str, torch.Tensor]:
    """A batch laid out as the reader lays out its own (`pad_windows`); segment ids only for models that take them."""
    ids, token_types, mask = pad_windows(
        [w.input_ids.tolist() for w in windows],
        [(w.token_type_ids if w.token_type_ids is not None else np.zeros_like(w.input_ids)).tolist() for w in windows],
        pad_id)
    batch = {"input_ids": ids, "attention_mask": mask}
    if types:
        batch["token_type_ids"] = token_types
    return batch


# ---------------------------------------------------------------- training

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
        batch = {k: v.to(device) for k, v in _pad([windows[i] for i in indices], pad_id, types).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16):
            result = model(**batch)
        starts = result.start_logits.float().cpu().numpy()
        ends = result.end_logits.float().cpu().numpy()
        for row, index in enumerate(indices):
            n = len(windows[index].input_ids)
            out[index] = (starts[row, :n], ends[row, :n])
    return out


def evaluate(model: Any, data: dict[str, Any], pad_id: int, types: bool, device: torch.device) -> dict[str, Any]:
    """Gold-paragraph EM/F1 never abstaining, and, where some questions have no answer, the AUC of the
    best span's margin over [CLS] and the F1 / no-answer accuracy / HasAns F1 at the best threshold."""
    model.eval()  # a model built from its config starts in training mode: dropout would skew the figures
    windows, examples, golds = data["windows"], data["examples"], data["golds"]
    if golds is None:
        golds = [[e.answer_text] if e.answer_start >= 0 else [] for e in examples]
    logits = logits_of(model, windows, pad_id, types, device)
    best: dict[int, Any] = {}
    null: dict[int, float] = {}
    for window, (start, end) in zip(windows, logits, strict=True):
        choice = best_span(start, end, window)
        if window.example not in best or choice.span_score > best[window.example].span_score:
            best[window.example] = choice
        null[window.example] = min(null.get(window.example, np.inf), choice.null_score)
    texts = [examples[i].context[best[i].start_char : best[i].end_char] for i in range(len(examples))]
    margins = np.array([best[i].span_score - null[i] for i in range(len(examples))])
    answerable = np.array([bool(g) for g in golds])
    em = np.array([best_over(exact_match, t, g) for t, g in zip(texts, golds, strict=True)])
    span_f1 = np.array([best_over(f1, t, g) for t, g in zip(texts, golds, strict=True)])
    result: dict[str, Any] = {"count": len(examples)}
    if answerable.all():
        result.update(exact_match=100 * em.mean(), f1=100 * span_f1.mean())
        return result
    result.update(has_answer_f1_never_abstaining=100 * span_f1[answerable].mean(),
                  auc=answerability_auc(margins.tolist(), answerable.tolist()))
    curve = abstention_curve(margins.tolist(), span_f1.tolist(), answerable.tolist(),
                             thresholds=np.unique(np.concatenate([margins, [np.inf]])).tolist())
    best_row = max(curve, key=lambda row: row["f1"])
    result.update(best_f1=best_row["f1"], best_threshold=best_row["threshold"],
                  no_answer_accuracy=best_row["no_answer_accuracy"], has_answer_f1=best_row["has_answer_f1"])
    return result


# ---------------------------------------------------------------- the teacher

def teacher(args: argparse.Namespace) -> None:
    """Fine-tune the teacher on the training windows, write its character targets, and report its figures."""
    from safetensors.torch import save_file
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(args.model)
    if args.packed:
        save_file(unpack(sorted(Path(args.packed).glob("part-*.safetensors"))), str(folder / "model.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForQuestionAnswering.from_pretrained(str(folder), dtype=torch.float32).to(device)
    feats = Path(args.features)
    train_data = _load(feats / "teacher-train.pkl")
    windows: list[Window] = train_data["windows"]
    trained = [w for w in windows if w.example < args.train_examples]
    pad = tokenizer.pad_token_id

    def loss_of(m: Any, indices: list[int]) -> torch.Tensor:
        chosen = [trained[i] for i in indices]
        batch = {k: v.to(device) for k, v in _pad(chosen, pad, False).items()}
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
    for name, data in _gold_sets(feats, "teacher", args.report, train_data, args.train_examples).items():
        report[f"teacher_{name}"] = evaluate(model, data, pad, False, device)
        log.info("teacher %s: %s", name, report[f"teacher_{name}"])
    (out / "teacher-report.json").write_text(json.dumps(report, indent=2))


# ---------------------------------------------------------------- the student

def student(args: argparse.Namespace) -> None:
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
        state = unpack(sorted(Path(args.packed).glob("part-*.safetensors")))
    else:
        from safetensors.torch import load_file

        state = {k: v.float() for k, v in load_file(str(Path(args.init) / "model.safetensors")).items()}
    model.load_state_dict(state)
    model.to(device)  # type: ignore[arg-type]
    feats = Path(args.features)
    train_data = _load(feats / "student-train.pkl")
    trained = [w for w in train_data["windows"] if w.example < args.train_examples]
    targets = CharTargets.load(Path(args.targets))
    pad = tokenizer.pad_token_id
    report: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "func"}}
    gold_sets = _gold_sets(feats, "student", args.report, train_data, args.train_examples)
    for name, data in gold_sets.items():
        report[f"before_{name}"] = evaluate(model, data, pad, True, device)
        log.info("before %s: %s", name, report[f"before_{name}"])

    def loss_of(m: Any, indices: list[int]) -> torch.Tensor:
        chosen = [trained[i] for i in indices]
        batch = {k: v.to(device) for k, v in _pad(chosen, pad, True).items()}
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
    for name, data in gold_sets.items():
        report[name] = evaluate(model, data, pad, True, device)
        log.info("after %s: %s", name, report[name])
    half = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()
            if k != WORD_EMBEDDINGS}
    names = list(half)
    middle = len(names) // 2
    for index, part in enumerate((names[:middle], names[middle:])):
        save_file({k: half[k] for k in part}, str(out / f"student-{index}.safetensors"))
    (out / "report.json").write_text(json.dumps(report, indent=2))


def splice(args: argparse.Namespace) -> None:
    """Write a complete fp16 reader folder: the base's files and word embeddings, the student's other weights."""
    import shutil

    from safetensors.torch import load_file, save_file

    base, out = Path(args.base), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for item in base.iterdir():
        if item.is_file() and item.name != "model.safetensors":
            shutil.copy2(item, out / item.name)
    reference = load_file(str(base / "model.safetensors"))
    state = {WORD_EMBEDDINGS: reference[WORD_EMBEDDINGS]}
    for part in args.parts:
        state.update(load_file(part))
    if set(state) != set(reference):
        raise SystemExit(f"the parts do not make a whole reader: {sorted(set(reference) ^ set(state))}")
    save_file({k: state[k].to(torch.float16).contiguous() for k in reference}, str(out / "model.safetensors"),
              metadata={"format": "pt"})


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m lab.distil")
    steps = parser.add_subparsers(required=True)

    p = steps.add_parser("examples", help="the training order as one file (phase 4's: the defaults below)")
    p.add_argument("--data", required=True, help="SQuAD training file (squad-train-v1.1.json.gz)")
    p.add_argument("--negative-ratio", type=float, default=0.1)
    p.add_argument("--retrieved-negative-ratio", type=float, default=0.5)
    p.add_argument("--answer-removed-ratio", type=float, default=0.3)
    p.add_argument("--entity-swapped-ratio", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", required=True, help="an .xz file")
    p.set_defaults(func=examples)

    p = steps.add_parser("prepare")
    p.add_argument("--examples", required=True)
    p.add_argument("--eval", nargs="*", default=[])
    p.add_argument("--teacher-tokenizer", required=True)
    p.add_argument("--student-tokenizer", required=True)
    p.add_argument("--teacher-length", type=int, default=384)
    p.add_argument("--student-length", type=int, default=256)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--who", choices=("both", "teacher", "student"), default="both")
    p.add_argument("--out", required=True)
    p.set_defaults(func=prepare)

    p = steps.add_parser("pack", help="split weights into int8-row parts small enough for a device call")
    p.add_argument("--source", required=True, help="a model.safetensors")
    p.add_argument("--out", required=True)
    p.add_argument("--parts", type=int, default=1)
    p.add_argument("--reader", action="store_true",
                   help="keep every tensor fp16 but the reader's frozen word embeddings")
    p.set_defaults(func=lambda a: pack(Path(a.source), Path(a.out), a.parts,
                                       (lambda name: name != WORD_EMBEDDINGS) if a.reader else (lambda name: False)))

    p = steps.add_parser("splice", help="a reader folder from the student's parts and the base's frozen embeddings")
    p.add_argument("--parts", nargs="+", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=splice)

    for name, func in (("teacher", teacher), ("student", student)):
        p = steps.add_parser(name)
        p.add_argument("--features", required=True)
        p.add_argument("--packed", default=None, help="folder of pack()ed part-*.safetensors weights")
        p.add_argument("--train-examples", type=int, required=True, help="train on examples [0, N) only")
        p.add_argument("--report", nargs="*", default=[], help="gold sets to report (prepare's file stems)")
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--learning-rate", type=float, default=3e-5)
        p.add_argument("--epochs", type=float, default=1.0)
        p.add_argument("--budget", type=float, default=1e9, help="seconds the schedule must fit")
        p.add_argument("--seed", type=int, default=13)
        p.add_argument("--out", required=True)
        p.set_defaults(func=func)
        if name == "teacher":
            p.add_argument("--model", required=True, help="folder with the teacher's config and tokenizer")
            p.add_argument("--temperature", type=float, default=2.0)
            p.add_argument("--k", type=int, default=10)
        else:
            p.add_argument("--init", required=True, help="the reader folder (config, tokenizer, weights)")
            p.add_argument("--targets", required=True)
            p.add_argument("--alpha", type=float, default=0.5, help="weight of the distillation loss")
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
