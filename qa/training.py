"""Train citeqa's extractive reader on SQuAD-format data (CPU-friendly, resumable)."""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from index.chunk import Span

log = logging.getLogger(__name__)

NO_ANSWER_INDEX = 0  # the [CLS] token carries "no answer"


@dataclass(frozen=True)
class NegativeMix:
    """How often each kind of "no answer" example is added, per question that has an answer.

    sibling: a random other paragraph of the same article (easy: usually off-topic).
    retrieved: the other paragraph of the article that BM25 ranks first for the question, the kind
        of wrong passage the pipeline's retrieval hands the reader.
    answer_removed: the question's own paragraph without the sentences that hold the answer.
    entity_swapped: the question with one of its names or numbers replaced by another from the
        same article that its paragraph never mentions, over that paragraph (SQuAD 2.0's most
        common kind of unanswerable question).
    negated: the question with its auxiliary verb negated ("was" -> "was not"), over its paragraph
        (SQuAD 2.0's negation kind).
    antonym: the question with one word swapped for its antonym ("largest" -> "smallest") that the
        paragraph never uses, over its paragraph (SQuAD 2.0's antonym kind).
    Kinds at 0 draw nothing from the random generator, so an order made before a kind existed is
    made again unchanged (the calibration hold-out depends on that).
    """

    sibling: float = 0.1
    retrieved: float = 0.0
    answer_removed: float = 0.0
    entity_swapped: float = 0.0
    negated: float = 0.0
    antonym: float = 0.0

    def __post_init__(self) -> None:
        for name, ratio in vars(self).items():
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"{name} negatives ratio must be within [0, 1], got {ratio}")

    def describe(self) -> str:
        return ", ".join(f"{name} {ratio}" for name, ratio in vars(self).items() if ratio)


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in each checkpoint."""

    data_path: Path
    output_dir: Path
    base_model: Path
    max_length: int = 256
    stride: int = 128
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


@dataclass
class SquadExample:
    """One question over one context; answer_start -1 means unanswerable."""

    question: str
    context: str
    answer_start: int
    answer_text: str


def load_squad(path: Path) -> list[dict[str, Any]]:
    """Read a SQuAD-format JSON file (optionally gzipped) and return its articles."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return list(json.load(handle)["data"])


def build_examples(
    articles: list[dict[str, Any]], mix: NegativeMix, rng: random.Random
) -> list[SquadExample]:
    """Flatten articles into examples, adding "no answer" negatives of the kinds in `mix`."""
    examples: list[SquadExample] = []
    for article in articles:
        contexts = [paragraph["context"] for paragraph in article["paragraphs"]]
        article_negatives = _ArticleNegatives(contexts, mix)
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if not qa.get("answers"):
                    examples.append(SquadExample(qa["question"], paragraph["context"], -1, ""))
                    continue
                answer = qa["answers"][0]
                positive = SquadExample(qa["question"], paragraph["context"], answer["answer_start"], answer["text"])
                examples.append(positive)
                examples.extend(article_negatives.for_question(positive, rng))
    return examples


class _ArticleNegatives:
    """Makes the "no answer" examples for the questions of one article."""

    def __init__(self, contexts: list[str], mix: NegativeMix) -> None:
        self.contexts = contexts
        self.mix = mix
        self._lexical: Any = None
        self._names: list[str] | None = None
        self._sentences: dict[str, list[Span]] = {}

    def for_question(self, positive: SquadExample, rng: random.Random) -> Iterator[SquadExample]:
        question, own, answer = positive.question, positive.context, positive.answer_text
        # the sibling draw comes first and is made exactly as before the other kinds existed
        if len(self.contexts) > 1 and rng.random() < self.mix.sibling:
            negative = _sibling_without_answer(self.contexts, own, answer, rng)
            if negative is not None:
                yield SquadExample(question, negative, -1, "")
        if self.mix.retrieved and rng.random() < self.mix.retrieved:
            negative = self._retrieved_without_answer(question, own, answer)
            if negative is not None:
                yield SquadExample(question, negative, -1, "")
        if self.mix.answer_removed and rng.random() < self.mix.answer_removed:
            negative = _without_answer_sentences(positive, self.sentences(own))
            if negative is not None:
                yield SquadExample(question, negative, -1, "")
        if self.mix.entity_swapped and rng.random() < self.mix.entity_swapped:
            swapped = _swap_entity(question, own, self.names(), rng)
            if swapped is not None:
                yield SquadExample(swapped, own, -1, "")
        if self.mix.negated and rng.random() < self.mix.negated:
            negated = negate(question)
            if negated is not None:
                yield SquadExample(negated, own, -1, "")
        if self.mix.antonym and rng.random() < self.mix.antonym:
            flipped = swap_antonym(question, own)
            if flipped is not None:
                yield SquadExample(flipped, own, -1, "")

    def _retrieved_without_answer(self, question: str, own: str, answer: str) -> str | None:
        if self._lexical is None:
            import numpy as np

            from index.lexical import LexicalIndex

            self._lexical = LexicalIndex.build(np.arange(len(self.contexts)), self.contexts)
        needle = answer.lower()
        for position, _ in self._lexical.search(question, k=4):
            candidate = self.contexts[position]
            if candidate != own and needle not in candidate.lower():
                return candidate
        return None

    def sentences(self, context: str) -> list[Span]:
        """The paragraph's sentences, split once however many of its questions need them."""
        if context not in self._sentences:
            from index.chunk import split_sentences

            self._sentences[context] = split_sentences(context)
        return self._sentences[context]

    def names(self) -> list[str]:
        if self._names is None:
            found = {match.group() for context in self.contexts for match in _NAME_OR_NUMBER.finditer(context)}
            self._names = sorted(found)
        return self._names


_NAME_OR_NUMBER = re.compile(r"\b(?:[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*|\d[\d,.]*\d|\d)\b")


def _swap_entity(question: str, context: str, names: list[str], rng: random.Random) -> str | None:
    """Replace a name or number the question shares with its paragraph by one the paragraph lacks."""
    shared = [m for m in _NAME_OR_NUMBER.finditer(question) if m.start() > 0 and m.group() in context]
    if not shared:
        return None
    target = rng.choice(shared)
    numeric = target.group()[0].isdigit()
    replacements = [name for name in names
                    if name[0].isdigit() == numeric and name not in context and name not in question]
    if not replacements:
        return None
    return question[: target.start()] + rng.choice(replacements) + question[target.end() :]


_AUXILIARY = re.compile(
    r"\b(is|are|was|were|did|does|do|can|could|will|would|has|have|had|should|must|may|might)\b(?!\s+not\b)",
    re.IGNORECASE,
)


_WH_BEFORE = re.compile(r"\b(?:what|who|whom|whose|when|where|which|why|how)\b(?:\s+\S+){0,2}\s+$", re.IGNORECASE)


def negate(question: str) -> str | None:
    """Negate the question's first auxiliary verb after its first word; None when it has none.

    "Who was the first mayor?" -> "Who was not the first mayor?"; "What did the port handle?" ->
    "What did the port not handle?". The paragraph then states the opposite of what is asked, the cue
    SQuAD 2.0's negation questions carry.
    """
    if re.search(r"\b(not|never|n't)\b", question, re.IGNORECASE):
        return None
    match = next((m for m in _AUXILIARY.finditer(question) if _WH_BEFORE.search(question, 0, m.start())), None)
    if match is None:
        return None
    # do-support puts the negation before the main verb, which ends a question; other auxiliaries take it directly
    rest = question[match.end():]
    words = list(re.finditer(r"\S+", rest))
    if match.group().lower() in {"did", "does", "do"}:
        if not 2 <= len(words) <= 3:  # "did the port handle?": a longer clause may not end with its verb
            return None
        last = words[-1]
        return question[: match.end()] + rest[: last.start()] + "not " + rest[last.start():]
    return question[: match.end()] + " not" + rest


_ANTONYM_PAIRS = (
    ("largest", "smallest"), ("biggest", "smallest"), ("highest", "lowest"), ("longest", "shortest"),
    ("earliest", "latest"), ("oldest", "newest"), ("most", "least"), ("more", "less"),
    ("before", "after"), ("increase", "decrease"), ("increased", "decreased"), ("north", "south"),
    ("east", "west"), ("northern", "southern"), ("eastern", "western"), ("maximum", "minimum"),
    ("major", "minor"), ("above", "below"), ("win", "lose"), ("won", "lost"),
    ("began", "ended"), ("best", "worst"), ("higher", "lower"), ("larger", "smaller"), ("early", "late"),
    ("rich", "poor"), ("positive", "negative"), ("inside", "outside"), ("public", "private"),
    ("ancient", "modern"), ("strong", "weak"), ("legal", "illegal"), ("successful", "unsuccessful"),
    ("allowed", "forbidden"), ("accepted", "rejected"), ("supported", "opposed"), ("common", "rare"),
)
ANTONYMS = {a: b for pair in _ANTONYM_PAIRS for a, b in (pair, pair[::-1])}
_WORD = re.compile(r"[A-Za-z]+")


def swap_antonym(question: str, context: str) -> str | None:
    """Swap the question's first word that has an antonym the paragraph never uses; None when none has."""
    used = {word.lower() for word in _WORD.findall(context)}
    for match in _WORD.finditer(question):
        word = match.group()
        opposite = ANTONYMS.get(word.lower())
        if opposite is None or opposite in used:
            continue
        if word[0].isupper():
            opposite = opposite.capitalize()
        return question[: match.start()] + opposite + question[match.end():]
    return None


def _without_answer_sentences(positive: SquadExample, sentences: list[Span]) -> str | None:
    """The paragraph without the sentences that overlap the answer, unless the answer is still in it."""
    answer_start = positive.answer_start
    answer_end = answer_start + len(positive.answer_text)
    kept = [span.text_of(positive.context) for span in sentences
            if span.end <= answer_start or span.start >= answer_end]
    remainder = " ".join(kept)
    if not kept or positive.answer_text.lower() in remainder.lower():
        return None
    return remainder


def shuffled_examples(data_path: Path, negatives: NegativeMix, seed: int) -> list[SquadExample]:
    """All examples with negatives, in the run's seeded order (later runs can skip what was seen)."""
    rng = random.Random(seed)
    examples = build_examples(load_squad(data_path), negatives, rng)
    rng.shuffle(examples)
    return examples


def mixed_with_real_unanswerable(examples: list[SquadExample], config: TrainConfig) -> list[SquadExample]:
    """Add a SQuAD 2.0-format file (real unanswerable questions), repeated, minus held-out articles.

    Crowd-written unanswerable questions are the only negatives that are exactly what users meet, and
    they are few, so they are repeated; articles held out stay unseen for calibration and checks.
    """
    assert config.unanswerable_data is not None
    rng = random.Random(config.seed + 1)
    articles = [a for a in load_squad(config.unanswerable_data) if a["title"] not in config.hold_out_articles]
    extra = build_examples(articles, config.negatives, rng)
    combined = examples + extra * max(1, config.unanswerable_repeat)
    rng.shuffle(combined)
    log.info("%d examples from %d articles of %s, x%d", len(extra), len(articles),
             config.unanswerable_data.name, config.unanswerable_repeat)
    return combined


def _sibling_without_answer(
    contexts: list[str], own: str, answer_text: str, rng: random.Random
) -> str | None:
    needle = answer_text.lower()
    for _ in range(5):
        candidate = rng.choice(contexts)
        if candidate != own and needle not in candidate.lower():
            return candidate
    return None


def tokenize_examples(
    examples: list[SquadExample], tokenizer: Any, max_length: int, stride: int
) -> list[tuple[list[int], list[int], int, int]]:
    """Turn examples into (input_ids, token_type_ids, start, end) features, one per window."""
    features: list[tuple[list[int], list[int], int, int]] = []
    batch = 2000
    for offset in range(0, len(examples), batch):
        chunk = examples[offset : offset + batch]
        encoded = tokenizer(
            [example.question.lstrip() for example in chunk],
            [example.context for example in chunk],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        for index, sample_index in enumerate(encoded["overflow_to_sample_mapping"]):
            example = chunk[sample_index]
            start, end = _label_window(
                example, encoded["offset_mapping"][index], encoded.sequence_ids(index)
            )
            features.append(
                (encoded["input_ids"][index], encoded["token_type_ids"][index], start, end)
            )
    return features


def _label_window(
    example: SquadExample, offsets: list[tuple[int, int]], sequence_ids: list[int | None]
) -> tuple[int, int]:
    if example.answer_start < 0:
        return NO_ANSWER_INDEX, NO_ANSWER_INDEX
    char_start = example.answer_start
    char_end = char_start + len(example.answer_text)
    context_tokens = [i for i, sid in enumerate(sequence_ids) if sid == 1]
    first, last = context_tokens[0], context_tokens[-1]
    if offsets[first][0] > char_start or offsets[last][1] < char_end:
        return NO_ANSWER_INDEX, NO_ANSWER_INDEX
    start = first
    while start <= last and offsets[start][1] <= char_start:
        start += 1
    end = last
    while end >= first and offsets[end][0] >= char_end:
        end -= 1
    return start, end


def bucketed_batches(
    lengths: list[int], batch_size: int, rng: random.Random, bucket_batches: int = 50
) -> list[list[int]]:
    """Shuffle, then sort within mega-buckets by length so padding stays small."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    mega = batch_size * bucket_batches
    for offset in range(0, len(order), mega):
        bucket = sorted(order[offset : offset + mega], key=lengths.__getitem__)
        batches.extend(bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size))
    rng.shuffle(batches)
    return batches


def collate(
    features: list[tuple[list[int], list[int], int, int]], indices: list[int], pad_id: int
) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member."""
    width = max(len(features[i][0]) for i in indices)
    input_ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    token_types = torch.zeros((len(indices), width), dtype=torch.long)
    attention = torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):
        ids, types, _, _ = features[i]
        input_ids[row, : len(ids)] = torch.tensor(ids)
        token_types[row, : len(types)] = torch.tensor(types)
        attention[row, : len(ids)] = 1
    return {
        "input_ids": input_ids,
        "token_type_ids": token_types,
        "attention_mask": attention,
        "start_positions": torch.tensor([features[i][2] for i in indices]),
        "end_positions": torch.tensor([features[i][3] for i in indices]),
    }


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
        examples = mixed_with_real_unanswerable(examples, config)
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
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if "bias" in name or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )
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
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
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
