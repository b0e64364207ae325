"""The extractive reader: question + passages -> calibrated answer spans with document offsets."""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.chunk import PARAGRAPH_BREAK
from qa.logistic import sigmoid
from runtime.forward import Forward
from runtime.models import reader_forward
from runtime.windows import DEFAULT_STRIDE, DEFAULT_WINDOW, span_candidates, window_feed

SHIPPED_MODEL = Path(__file__).resolve().parent / "reader_model"
CALIBRATION_FILE = "calibration.json"
# The score calibration of the int8 OpenVINO reader, when quantization moved its margins (else CALIBRATION_FILE;
# the float OpenVINO model computes what torch does, so it keeps torch's).
OPENVINO_CALIBRATION_FILE = "calibration-openvino.json"


@dataclass(frozen=True)
class Passage:
    """Text to read; `start` is where `text` begins in its document (code points).

    `prior` is added to every span margin (a log-odds bonus or penalty), e.g. a penalty for a lower
    retrieval rank; 0 leaves the reader's own scores unchanged. `breaks`: offsets into `text` that no answer
    runs across, besides blank lines (where a PDF page begins: a sentence may run on across it, but an answer
    is cited on one page, as the reader of the printed page finds it).
    """

    document_id: str
    start: int
    text: str
    prior: float = 0.0
    breaks: tuple[int, ...] = ()


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


class Reader:
    """A BERT span-extraction model loaded once; thread-safe `run()`.

    `forward` is the model's forward pass (runtime/models.py `reader_forward`: torch as trained, or the OpenVINO
    model derived from the same weights); by default torch on `model_path`. Tokenisation, windows, span decoding
    and calibration are this class's, whatever runs the forward pass.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        forward: Forward | None = None,
        max_length: int = DEFAULT_WINDOW,
        stride: int = DEFAULT_STRIDE,
        max_answer_tokens: int = 30,
        batch_size: int = 16,
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
        self.max_length = max_length
        self.stride = stride
        self.max_answer_tokens = max_answer_tokens
        self.batch_size = batch_size
        self.forward = forward or reader_forward(self.model_path)
        self.calibration = Calibration.load(self.model_path, self.forward.backend, self.forward.precision)
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return self.forward.backend

    @property
    def precision(self) -> str:
        return self.forward.precision

    def warm_up(self) -> None:
        """Load tokenizer and model (once; the openvino backend first builds its cached model if missing)."""
        if self._tokenizer is not None:
            return
        with self._lock:
            if self._tokenizer is not None:
                return
            from transformers import AutoTokenizer

            self.forward.warm_up()
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_path))

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
            outputs = self.forward(window_feed([encoding["input_ids"][i] for i in rows],
                                               [encoding["token_type_ids"][i] for i in rows]))
            start_logits, end_logits = outputs["start_logits"], outputs["end_logits"]
            for position, row in enumerate(rows):
                length = len(encoding["input_ids"][row])
                starts[row, :length] = start_logits[position, :length]
                ends[row, :length] = end_logits[position, :length]
        return encoding, starts, ends

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
            char_start, char_end = whole_words(passage.text, offsets[s][0], offsets[e][1])
            if (char_start, char_end) != (offsets[s][0], offsets[e][1]) and sum(
                    1 for i, (a, b) in enumerate(offsets) if context[i] and a < char_end and b > char_start
            ) > self.max_answer_tokens:
                continue  # the whole words are longer than an answer may be
            char_start, char_end = without_stray_marks(passage.text, char_start, char_end)
            # An answer never runs across a blank line (the next paragraph is another subject) or a page start.
            if char_end <= char_start or PARAGRAPH_BREAK.search(passage.text, char_start, char_end) or any(
                    char_start < position < char_end for position in passage.breaks):
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


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """`[start, end)` widened so that it cuts no word, name or number in two.

    The tokenizer splits at punctuation, so the reader can pick "pkix" out of "pkix.asn", "mime_type" out of
    "user.mime_type" or "6" out of "1.6". A span grows over letters and digits, over an underscore between
    them, over a dot or an at sign followed by a lowercase letter or a digit (not "stories.Political",
    a sentence missing its space), over a dot between capitals ("ID.RA-2", a code, not "RA-2") and over a
    colon between digits ("ISO 31000:2009", "10:30"). Hyphens and slashes stay boundaries: "anti-war",
    "Thai/Japanese"; but an e-mail or web address is never cut ("help-libtasn1@gnu.org",
    "https://example.gov/rules").
    """

    def joins(position: int) -> bool:  # text[position] glues the characters either side into one name
        if not 0 < position < len(text) - 1 or not text[position - 1].isalnum():
            return False
        before, glue, after = text[position - 1], text[position], text[position + 1]
        return ((glue == "_" and after.isalnum())
                or (glue in ".@" and (after.islower() or after.isdigit()))
                or (glue == "." and before.isupper() and after.isupper())
                or (glue == ":" and before.isdigit() and after.isdigit()))

    if (start == 0 or text[start - 1].isspace()) and (end == len(text) or text[end].isspace()):
        return start, end  # most spans: whitespace on both sides, nothing to widen
    start, end = _whole_address(text, start, end)
    while start > 0:
        if joins(start - 1):  # the glue and the character before it
            start -= 2
        elif _glued(text[start - 1], text[start]):
            start -= 1
        else:
            break
    while end < len(text):
        if joins(end):  # the glue and the character after it
            end += 2
        elif _glued(text[end - 1], text[end]):
            end += 1
        else:
            break
    return start, end


# Quotes and brackets, closing mark -> opening mark; straight quotes close themselves.
_PAIRS = {"’": "‘", "”": "“", ")": "(", "]": "[", "}": "{", "»": "«", '"': '"', "'": "'"}
_OPENING = {opening: closing for closing, opening in _PAIRS.items()}
# A reference mark glued to the word before it: "Specification[BaseDir]", "GNOME[GNOME]", "claims[12]".
_REFERENCE_MARK = re.compile(r"(?<=\w)\[[^\[\]\s]{1,24}\]\Z")


def without_stray_marks(text: str, start: int, end: int) -> tuple[int, int]:
    """`[start, end)` without a quote or bracket at either end that the span does not also open or close
    ("inode’" -> "inode", "\"?1" -> "?1", "(1990" -> "1990") and without a reference mark at its end
    ("XDG Base Directory Specification[BaseDir]") or a footnote mark after a number at its end ("February
    2013³", as `_glued` never widens onto one). A balanced pair stays: "\"Koori\"", "(NFL)"."""
    changed = True
    while changed and end - start > 1:
        changed = False
        last, first = text[end - 1], text[start]
        if last in _PAIRS and _unbalanced(text[start:end], _PAIRS[last], last):
            end, changed = end - 1, True
        elif (first in _OPENING and _unbalanced(text[start:end], first, _OPENING[first])) or (
                first in _PAIRS and _unbalanced(text[start:end], _PAIRS[first], first)):  # ’inode’ opens with ’
            start, changed = start + 1, True
        elif last.isdigit() and unicodedata.category(last) == "No" and text[end - 2].isdigit():
            end, changed = end - 1, True  # a footnote mark after a number: "February 2013³"
        elif last == "]":
            mark = _REFERENCE_MARK.search(text, start, end)
            if mark and mark.start() > start:
                end, changed = mark.start(), True
        while changed and end > start and text[end - 1].isspace():
            end -= 1
        while changed and start < end and text[start].isspace():
            start += 1
    return start, end


# Letters each followed by a dot, but the last: "p.m", "U.S", "e.g" (its last dot is outside the span).
_DOTTED_ABBREVIATION = re.compile(r"(?<![\w.])(?:[A-Za-z]\.)+[A-Za-z]\Z")


def completed(text: str, start: int, end: int) -> tuple[int, int]:
    """The chosen answer `[start, end)` as it is shown: a bracket it opens inside it and the text closes right
    after it closed ("2 kilometres (1.2 miles" -> "2 kilometres (1.2 miles)"), and an abbreviation's last dot
    kept ("10 p.m" -> "10 p.m.", "the U.S" -> "the U.S."). Straight quotes and apostrophes are left: either
    could close nothing. Only the chosen answer is completed: done to every candidate, it would make two
    spans the reader found apart one, and change the votes they get."""
    closing = text[end] if end < len(text) else ""
    if closing in _PAIRS and closing not in "\"'’":
        opening = _PAIRS[closing]
        if opening in text[start + 1 : end] and _unbalanced(text[start:end], opening, closing):
            return start, end + 1
    if closing == "." and _DOTTED_ABBREVIATION.search(text, start, end):
        return start, end + 1
    return start, end


def _unbalanced(span: str, opening: str, closing: str) -> bool:
    if opening == closing:
        return span.count(opening) % 2 == 1
    return span.count(opening) != span.count(closing)


def _glued(before: str, after: str) -> bool:
    """Two neighbouring characters of one word: letters and digits, but a superscript after a number is a
    footnote mark ("2013³"), not part of it; after letters it is a unit's ("km²")."""
    if not (before.isalnum() and after.isalnum()):
        return False
    return not ((before.isdigit() and unicodedata.category(after) == "No")
                or (unicodedata.category(before) == "No" and after.isdigit()))


def _whole_address(text: str, start: int, end: int) -> tuple[int, int]:
    """An e-mail or web address the span cuts into ("help" of "help-libtasn1@gnu.org"), whole: the run of
    non-space characters around the span, without the brackets, quotes and punctuation around it."""
    low, high = start, end
    while low > 0 and not text[low - 1].isspace():
        low -= 1
    while high < len(text) and not text[high].isspace():
        high += 1
    while low < start and text[low] in "<([{\"'‘“":
        low += 1
    while high > end and text[high - 1] in ".,;:!?)]}>\"'’”":
        high -= 1
    token = text[low:high]
    if "://" in token or re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", token, re.IGNORECASE):
        return min(low, start), max(high, end)
    return start, end


def merge_spans(spans: Sequence[AnswerSpan], top_k: int) -> ReaderOutput:
    """Rank spans by margin, keeping the best copy of a span found in several windows or reads."""
    best: dict[tuple[str, int, int], AnswerSpan] = {}
    for span in spans:
        key = (span.document_id, span.start, span.end)
        if key not in best or span.margin > best[key].margin:
            best[key] = span
    ranked = sorted(best.values(), key=lambda span: -span.margin)[:top_k]
    return ReaderOutput(ranked, 1.0 - ranked[0].score if ranked else 1.0)
