"""Soft targets for distilling a larger span-extraction teacher into the reader across two tokenizers.

The teacher (MPNet) and the reader (BERT uncased) split text into different tokens, so the teacher's
start/end distributions cannot be copied token for token. They are carried through characters: each
teacher token's start probability belongs to the character it starts at, its end probability to the
character it ends at. A reader window then collects, for each of its tokens, the mass of the
characters that token covers; mass outside the window joins the teacher's "no answer" mass on
`[CLS]`, which is also what the window's hard label says when the answer lies outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.examples import SquadExample
from lab.features import NO_ANSWER_INDEX, label_window
from runtime.windows import span_candidates


@dataclass
class Window:
    """One tokenised question+context window, with what distillation and decoding need of it."""

    example: int  # index into the example list
    input_ids: np.ndarray  # int32
    token_type_ids: np.ndarray | None  # int8; None for models without segment ids (MPNet)
    offsets: np.ndarray  # (n, 2) int32 character offsets into the context; (0, 0) outside it
    context: tuple[int, int]  # first and last token index of the context, inclusive
    start: int  # hard labels; NO_ANSWER_INDEX when the answer is not inside the window
    end: int


def encode_windows(examples: Sequence[SquadExample], tokenizer: Any, max_length: int, stride: int,
                   batch: int = 2000) -> list[Window]:
    """Question-first windows over each example's context, labelled as the reader's training labels them."""
    windows: list[Window] = []
    for offset in range(0, len(examples), batch):
        chunk = examples[offset : offset + batch]
        encoded = tokenizer(
            [example.question.lstrip() for example in chunk],
            [example.context for example in chunk],
            truncation="only_second", max_length=max_length, stride=stride,
            return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
        )
        types = encoded.get("token_type_ids")
        for index, sample in enumerate(encoded["overflow_to_sample_mapping"]):
            sequence_ids = encoded.sequence_ids(index)
            context = [i for i, sid in enumerate(sequence_ids) if sid == 1]
            offsets = np.array(encoded["offset_mapping"][index], dtype=np.int32).reshape(-1, 2)
            offsets[[sid != 1 for sid in sequence_ids]] = 0
            start, end = label_window(chunk[sample], [(int(a), int(b)) for a, b in offsets], sequence_ids)
            windows.append(Window(
                example=offset + sample,
                input_ids=np.array(encoded["input_ids"][index], dtype=np.int32),
                token_type_ids=np.array(types[index], dtype=np.int8) if types is not None else None,
                offsets=offsets, context=(context[0], context[-1]), start=start, end=end,
            ))
    return windows


@dataclass
class CharTargets:
    """The teacher's sparse character-level start/end distributions, one row per example.

    `start_chars[i]` are character offsets where an answer may start (-1: unused slot), with their
    probabilities at `temperature`; `end_chars` are exclusive end offsets. `null_start`/`null_end`
    are the teacher's "no answer" ([CLS]) probabilities. Only the `k` likeliest characters are
    kept; the mass dropped with the rest is removed by renormalising when a window is built.
    """

    start_chars: np.ndarray
    start_probs: np.ndarray
    end_chars: np.ndarray
    end_probs: np.ndarray
    null_start: np.ndarray
    null_end: np.ndarray
    temperature: float

    @classmethod
    def empty(cls, count: int, k: int, temperature: float) -> CharTargets:
        return cls(np.full((count, k), -1, np.int32), np.zeros((count, k), np.float16),
                   np.full((count, k), -1, np.int32), np.zeros((count, k), np.float16),
                   np.ones(count, np.float16), np.ones(count, np.float16), temperature)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, start_chars=self.start_chars.astype(np.uint16 if self._short() else np.int32),
                            start_probs=self.start_probs, end_chars=self.end_chars.astype(
                                np.uint16 if self._short() else np.int32),
                            end_probs=self.end_probs, null_start=self.null_start, null_end=self.null_end,
                            temperature=np.float32(self.temperature))

    def _short(self) -> bool:
        # -1 (unused) becomes 65535 in uint16; it is told apart by its zero probability on load
        return int(max(self.start_chars.max(initial=0), self.end_chars.max(initial=0))) < 65535

    @classmethod
    def load(cls, path: Path) -> CharTargets:
        data = np.load(path)
        chars = {}
        for name in ("start", "end"):
            values = data[f"{name}_chars"].astype(np.int32)
            values[data[f"{name}_probs"] == 0] = -1
            chars[name] = values
        return cls(chars["start"], data["start_probs"], chars["end"], data["end_probs"],
                   data["null_start"], data["null_end"], float(data["temperature"]))


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def window_char_targets(start_logits: np.ndarray, end_logits: np.ndarray, window: Window, temperature: float,
                        k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
    """A teacher window's distributions over [CLS] and its context tokens, as top-k characters."""
    first, last = window.context
    rows = []
    for logits, column in ((start_logits, 0), (end_logits, 1)):
        probs = _softmax(np.concatenate([logits[:1], logits[first : last + 1]]).astype(np.float64) / temperature)
        chars = window.offsets[first : last + 1, column]
        top = np.argsort(-probs[1:], kind="stable")[:k]
        padded_chars = np.full(k, -1, np.int32)
        padded_probs = np.zeros(k, np.float64)
        padded_chars[: len(top)] = chars[top]
        padded_probs[: len(top)] = probs[1:][top]
        rows.append((padded_chars, padded_probs, float(probs[0])))
    (start_chars, start_probs, null_start), (end_chars, end_probs, null_end) = rows
    return start_chars, start_probs, end_chars, end_probs, null_start, null_end


def best_window_score(start_logits: np.ndarray, end_logits: np.ndarray, window: Window) -> float:
    """How strongly a teacher window holds some answer: its best start plus its best end logit."""
    first, last = window.context
    return float(start_logits[first : last + 1].max() + end_logits[first : last + 1].max())


def project(chars: np.ndarray, probs: np.ndarray, null: float, window: Window, ends: bool) -> np.ndarray:
    """The teacher's distribution as seen by one reader window: a probability per token, [CLS] first.

    A start character belongs to the token whose range holds it; an (exclusive) end character to the
    token that ends at or after it and starts before it. Mass landing outside the window's context
    goes to [CLS], as the window's hard label would; the whole is renormalised to one.
    """
    target = np.zeros(len(window.input_ids), np.float64)
    first, last = window.context
    lows = window.offsets[first : last + 1, 0]
    highs = window.offsets[first : last + 1, 1]
    used = (chars >= 0) & (probs > 0)
    chars, weights = chars[used].astype(np.int64), probs[used].astype(np.float64)
    if ends:
        position = np.searchsorted(highs, chars, side="left")
        inside = position < len(highs)
        inside[inside] &= lows[position[inside]] < chars[inside]
    else:
        position = np.searchsorted(lows, chars, side="right") - 1
        inside = position >= 0
        inside[inside] &= chars[inside] < highs[position[inside]]
    np.add.at(target, first + position[inside], weights[inside])
    target[NO_ANSWER_INDEX] += float(null) + float(weights[~inside].sum())
    total = target.sum()
    return target / total if total > 0 else target


def distillation_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, attention_mask: torch.Tensor,
                      start_targets: torch.Tensor, end_targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft cross-entropy of the student's start and end distributions against the teacher's, times T^2
    (so its gradients keep their scale as the temperature changes, as in Hinton et al.)."""
    losses = []
    for logits, targets in ((start_logits, start_targets), (end_logits, end_targets)):
        scaled = (logits.float() / temperature).masked_fill(attention_mask == 0, -1e4)
        losses.append(-(targets * torch.log_softmax(scaled, dim=-1)).sum(-1).mean())
    return (losses[0] + losses[1]) / 2 * temperature**2


@dataclass
class SpanChoice:
    """A window's best span and its margin over [CLS], in the model's own logits."""

    example: int
    start_char: int
    end_char: int
    span_score: float
    null_score: float


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, window: Window, top: int = 20,
              max_tokens: int = 30) -> SpanChoice:
    """The best-scoring context span (start <= end, at most `max_tokens` long) of one window."""
    first, last = window.context
    context = np.zeros(len(start_logits), dtype=bool)
    context[first : last + 1] = True
    best = (-np.inf, first, first)
    for s, e in span_candidates(start_logits, end_logits, context, max_tokens, top):
        score = float(start_logits[s] + end_logits[e])
        if score > best[0]:
            best = (score, s, e)
    score, s, e = best
    return SpanChoice(window.example, int(window.offsets[s, 0]), int(window.offsets[e, 1]), score,
                      float(start_logits[0] + end_logits[0]))
