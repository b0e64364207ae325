"""The extractive reader: question + passages -> calibrated answer spans with document offsets."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from index.chunk import PARAGRAPH_BREAK
from index.embed import BACKENDS
from index.optimized import resolve_precision
from qa.logistic import sigmoid
from qa.runtime import Forward, OpenVINOForward, TorchForward

SHIPPED_MODEL = Path(__file__).resolve().parent / "reader_model"
CALIBRATION_FILE = "calibration.json"
# The score calibration of the int8 OpenVINO reader, when quantization moved its margins (else CALIBRATION_FILE;
# the float OpenVINO model computes what torch does, so it keeps torch's).
OPENVINO_CALIBRATION_FILE = "calibration-openvino.json"
# Tokens per window and overlap between windows of a long passage; `citeqa train-reader` uses the same.
DEFAULT_WINDOW = 256
DEFAULT_STRIDE = 96


@dataclass(frozen=True)
class Passage:
    """Text to read; `start` is where `text` begins in its document (code points).

    `prior` is added to every span margin (a log-odds bonus or penalty), e.g. a penalty for a lower
    retrieval rank; 0 leaves the reader's own scores unchanged.
    """

    document_id: str
    start: int
    text: str
    prior: float = 0.0


@dataclass(frozen=True)
class AnswerSpan:
    """A candidate answer: document-level [start, end) code points, its text and calibrated score."""

    document_id: str
    start: int
    end: int
    text: str
    score: float
    margin: float
    passage_index: int


@dataclass(frozen=True)
class ReaderOutput:
    """Ranked spans and the probability that none of them answers."""

    spans: list[AnswerSpan]
    no_answer_score: float


def resolve_dtype(requested: str) -> torch.dtype:
    """torch's dtype: bf16 only where the CPU runs it natively; it is emulated (and slow) elsewhere."""
    return torch.bfloat16 if resolve_precision("torch", requested) == "bf16" else torch.float32


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the span-vs-no-answer logit margin: p = sigmoid(scale * margin + bias)."""

    scale: float = 0.5
    bias: float = 0.0

    def probability(self, margin: float) -> float:
        return sigmoid(self.scale * margin + self.bias)

    @classmethod
    def load(cls, folder: Path, backend: str = "torch", precision: str = "int8") -> Calibration:
        path = folder / CALIBRATION_FILE
        if backend == "openvino" and precision == "int8" and (folder / OPENVINO_CALIBRATION_FILE).exists():
            path = folder / OPENVINO_CALIBRATION_FILE
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(float(data["scale"]), float(data["bias"]))


def pad_windows(
    input_ids: Sequence[Sequence[int]], token_types: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input ids, token types, attention mask) of a batch of windows, right-padded to the longest.

    Shared by inference and training, so the model is trained on batches laid out as it will read them.
    """
    width = max(len(ids) for ids in input_ids)
    ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, (row_ids, row_types) in enumerate(zip(input_ids, token_types, strict=True)):
        ids[row, : len(row_ids)] = torch.tensor(row_ids)
        types[row, : len(row_types)] = torch.tensor(row_types)
        mask[row, : len(row_ids)] = 1
    return ids, types, mask


def span_candidates(start_logits: np.ndarray, end_logits: np.ndarray, context: np.ndarray, max_tokens: int,
                    candidates: int = 20) -> list[tuple[int, int]]:
    """(start, end) token pairs inside the context, start <= end, at most `max_tokens` long, from the
    `candidates` best starts and ends: the spans a window can answer with. Shared by the reader and the
    lab's gold-paragraph decoder, so both decode alike."""
    top_starts = np.argsort(-np.where(context, start_logits, -np.inf))[:candidates]
    top_ends = np.argsort(-np.where(context, end_logits, -np.inf))[:candidates]
    return [(int(s), int(e)) for s in top_starts if context[s]
            for e in top_ends if context[e] and s <= e < s + max_tokens]


class Reader:
    """A BERT span-extraction model loaded once; thread-safe `run()`.

    `backend` picks only the forward pass (qa/runtime.py): "torch" runs the weights as trained, "openvino" a
    model derived from them and cached in `cache_dir` (built on first load). `dtype` is the number format:
    "auto", "bf16", "fp32", or "int8" (openvino only); openvino's bf16 and fp32 run its float model.
    Tokenisation, windows, span decoding and calibration are this class's, whatever the backend.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        max_length: int = DEFAULT_WINDOW,
        stride: int = DEFAULT_STRIDE,
        max_answer_tokens: int = 30,
        batch_size: int = 16,
        dtype: str = "auto",
        threads: int | None = None,
        backend: str = "torch",
        cache_dir: Path | None = None,
    ) -> None:
        self.model_path = Path(model_path or SHIPPED_MODEL)
        if not (self.model_path / "config.json").exists():
            raise FileNotFoundError(f"no reader model in {self.model_path} (config.json missing)")
        if not 32 <= max_length <= 512:
            raise ValueError("max_length must be between 32 and 512")
        if not 0 <= stride < max_length:
            raise ValueError("stride must be in [0, max_length)")
        if max_answer_tokens < 1 or batch_size < 1:
            raise ValueError("max_answer_tokens and batch_size must be positive")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "openvino" and cache_dir is None:
            raise ValueError("the openvino backend needs a cache folder for its optimized model")
        self.max_length = max_length
        self.stride = stride
        self.max_answer_tokens = max_answer_tokens
        self.batch_size = batch_size
        self.precision = resolve_precision(backend, dtype)
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32  # torch's
        self.threads = threads
        self.backend = backend
        self.cache_dir = cache_dir
        self.calibration = Calibration.load(self.model_path, backend, self.precision)
        self._model: Forward | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load tokenizer and model (once; the openvino backend first builds its cached model if missing)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_path))
            self._model = self._load_forward()

    def _load_forward(self) -> Forward:
        if self.backend == "openvino":
            from qa.optimize import optimized_reader

            assert self.cache_dir is not None
            xml = optimized_reader(self.model_path, self.cache_dir, self.precision)
            return OpenVINOForward(xml, self.threads, self.precision)
        return TorchForward(self.model_path, bf16=self.dtype == torch.bfloat16, threads=self.threads)

    @property
    def tokenizer(self) -> Any:
        self.warm_up()
        return self._tokenizer

    def logits(self, question: str, passages: Sequence[Passage]) -> tuple[Any, np.ndarray, np.ndarray]:
        """Tokenise into windows and return (encoding, start logits, end logits) per window."""
        self.warm_up()
        encoding = self._tokenizer(
            [question.strip()] * len(passages),
            [passage.text for passage in passages],
            truncation="only_second",
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        windows = len(encoding["input_ids"])
        width = max(len(ids) for ids in encoding["input_ids"])
        starts = np.full((windows, width), -1e4, dtype=np.float32)
        ends = np.full((windows, width), -1e4, dtype=np.float32)
        order = sorted(range(windows), key=lambda i: len(encoding["input_ids"][i]))
        for offset in range(0, windows, self.batch_size):
            rows = order[offset : offset + self.batch_size]
            start_logits, end_logits = self._forward([encoding["input_ids"][i] for i in rows],
                                                     [encoding["token_type_ids"][i] for i in rows])
            for position, row in enumerate(rows):
                length = len(encoding["input_ids"][row])
                starts[row, :length] = start_logits[position, :length]
                ends[row, :length] = end_logits[position, :length]
        return encoding, starts, ends

    def _forward(self, input_ids: list[list[int]], token_types: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        ids, types, mask = pad_windows(input_ids, token_types)
        assert self._model is not None
        return self._model(ids.numpy(), types.numpy(), mask.numpy())

    def run(self, question: str, passages: Sequence[Passage], top_k: int = 5) -> ReaderOutput:
        """Rank answer spans over all passages; spans found twice (overlapping chunks) are merged."""
        if not passages:
            return ReaderOutput([], 1.0)
        encoding, starts, ends = self.logits(question, passages)
        spans = [
            span
            for window in range(len(encoding["input_ids"]))
            for span in self._window_spans(encoding, window, starts[window], ends[window], passages)
        ]
        return merge_spans(spans, top_k)

    def _window_spans(
        self,
        encoding: Any,
        window: int,
        start_logits: np.ndarray,
        end_logits: np.ndarray,
        passages: Sequence[Passage],
        candidates: int = 20,
    ) -> list[AnswerSpan]:
        passage_index = encoding["overflow_to_sample_mapping"][window]
        passage = passages[passage_index]
        sequence_ids = encoding.sequence_ids(window)
        offsets = encoding["offset_mapping"][window]
        context = np.array([sid == 1 for sid in sequence_ids] + [False] * (len(start_logits) - len(sequence_ids)))
        if not context.any():
            return []
        null_logit = float(start_logits[0] + end_logits[0])
        spans = []
        for s, e in span_candidates(start_logits, end_logits, context, self.max_answer_tokens, candidates):
            char_start, char_end = offsets[s][0], offsets[e][1]
            # An answer never runs across a blank line: the next paragraph (or page) is another subject.
            if char_end <= char_start or PARAGRAPH_BREAK.search(passage.text, char_start, char_end):
                continue
            margin = float(start_logits[s] + end_logits[e]) - null_logit + passage.prior
            spans.append(
                AnswerSpan(
                    document_id=passage.document_id,
                    start=passage.start + char_start,
                    end=passage.start + char_end,
                    text=passage.text[char_start:char_end],
                    score=self.calibration.probability(margin),
                    margin=margin,
                    passage_index=passage_index,
                )
            )
        return spans


def merge_spans(spans: Sequence[AnswerSpan], top_k: int) -> ReaderOutput:
    """Rank spans by margin, keeping the best copy of a span found in several windows or reads."""
    best: dict[tuple[str, int, int], AnswerSpan] = {}
    for span in spans:
        key = (span.document_id, span.start, span.end)
        if key not in best or span.margin > best[key].margin:
            best[key] = span
    ranked = sorted(best.values(), key=lambda span: -span.margin)[:top_k]
    return ReaderOutput(ranked, 1.0 - ranked[0].score if ranked else 1.0)
