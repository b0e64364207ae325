"""Sentence-aware chunking that keeps exact code-point offsets into the document text."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class Span:
    """A [start, end) range of code points in a document's text."""

    start: int
    end: int

    def text_of(self, document_text: str) -> str:
        return document_text[self.start : self.end]


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences: its span and the index range of its sentences."""

    index: int
    start: int
    end: int
    text: str
    first_sentence: int
    last_sentence: int  # inclusive


@lru_cache(maxsize=1)
def _segmenter() -> object:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=False)


def paragraph_spans(text: str) -> list[Span]:
    """Spans of the blank-line separated paragraphs, trimmed of surrounding white space."""
    spans: list[Span] = []
    cursor = 0
    for match in [*PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        trimmed = _trim(text, cursor, end)
        if trimmed:
            spans.append(trimmed)
        cursor = match.end() if match else len(text)
    return spans


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def split_sentences(text: str) -> list[Span]:
    """Sentence spans covering every non-space character of text, in order."""
    sentences: list[Span] = []
    for paragraph in paragraph_spans(text):
        sentences.extend(_sentences_in(text, paragraph))
    return sentences


def _sentences_in(text: str, paragraph: Span) -> list[Span]:
    body = text[paragraph.start : paragraph.end]
    try:
        pieces: list[str] = _segmenter().segment(body)  # type: ignore[attr-defined]
    except Exception:  # pysbd can fail on exotic input; the paragraph then stays one sentence
        pieces = [body]
    starts: list[int] = []
    cursor = 0
    for piece in pieces:
        stripped = piece.strip()
        if not stripped:
            continue
        found = body.find(stripped, cursor)
        if found == -1:  # the splitter altered the text; merge into the previous sentence
            continue
        starts.append(found)
        cursor = found + len(stripped)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    spans = []
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(body)
        trimmed = _trim(text, paragraph.start + start, paragraph.start + end)
        if trimmed:
            spans.append(trimmed)
    return spans


def chunk_sentences(
    text: str, sentences: Sequence[Span], token_counts: Sequence[int], max_tokens: int
) -> list[Chunk]:
    """Group whole sentences into chunks of at most max_tokens, overlapping by one sentence."""
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last, used = first, token_counts[first]
        while last + 1 < len(sentences) and used + token_counts[last + 1] <= max_tokens:
            last += 1
            used += token_counts[last]
        start, end = sentences[first].start, sentences[last].end
        chunks.append(Chunk(len(chunks), start, end, text[start:end], first, last))
        if last + 1 >= len(sentences):
            break
        first = last if last > first else last + 1
    return chunks


class Chunker:
    """Splits documents into sentences and token-budgeted chunks."""

    def __init__(self, count_tokens: TokenCounter, max_tokens: int = 160) -> None:
        if max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens

    def run(self, text: str) -> tuple[list[Span], list[Chunk]]:
        sentences = split_sentences(text)
        counts = self.count_tokens([sentence.text_of(text) for sentence in sentences]) if sentences else []
        return sentences, chunk_sentences(text, sentences, counts, self.max_tokens)


def tokenizer_counter(tokenizer: object) -> TokenCounter:
    """A TokenCounter backed by a Hugging Face tokenizer (special tokens excluded)."""

    def count(texts: Sequence[str]) -> list[int]:
        encoded = tokenizer(list(texts), add_special_tokens=False)  # type: ignore[operator]
        return [len(ids) for ids in encoded["input_ids"]]

    return count
