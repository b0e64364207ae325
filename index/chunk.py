"""Sentence-aware chunking that keeps exact code-point offsets into the document text."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
# The smallest chunk budget: below it most sentences would be split across chunks.
MIN_CHUNK_TOKENS = 16

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
        # The processor's sentences, without `Segmenter.segment`'s own offset search: it compiles a regex
        # per sentence and scans the paragraph with each (about 40% of pysbd's time), and the loop below
        # finds each sentence's offset anyway.
        pieces: list[str] = _segmenter().processor(body).process()  # type: ignore[attr-defined]
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
    """Group whole sentences into chunks of at most max_tokens that keep paragraphs whole where they fit.

    Short paragraphs are packed together; a paragraph over the budget is split into runs of sentences
    that overlap by one sentence; no chunk holds part of one paragraph and part of another, so the
    reader never sees a paragraph cut off by the start of the next one. A heading line (`is_heading`)
    goes with the paragraph under it, never alone at the end of the chunk before: "How much does the
    bike weigh?" is what "The bike weighs 23.5 kg" answers, for the retriever and for the reader.
    """
    bounds: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    pending_tokens = 0
    heading: int | None = None  # the pending chunk's last paragraph is a heading: its sentence
    for first, last in paragraph_ranges(text, sentences):
        tokens = sum(token_counts[first : last + 1])
        own = first if first == last and is_heading(text[sentences[first].start : sentences[first].end]) else None
        if pending is not None and pending_tokens + tokens <= max_tokens:
            pending, pending_tokens, heading = (pending[0], last), pending_tokens + tokens, own
            continue
        if pending is not None:
            if heading is not None and (tokens + token_counts[heading] <= max_tokens or tokens > max_tokens):
                if pending[0] < heading:
                    bounds.append((pending[0], heading - 1))
                first, tokens, own = heading, tokens + token_counts[heading], None  # the heading leads it now
            else:
                bounds.append(pending)
            pending = None
        heading = own
        if tokens <= max_tokens:
            pending, pending_tokens = (first, last), tokens
        else:
            bounds.extend(_sentence_runs(token_counts, first, last, max_tokens))
    if pending is not None:
        bounds.append(pending)
    return [Chunk(index, sentences[first].start, sentences[last].end,
                  text[sentences[first].start : sentences[last].end], first, last)
            for index, (first, last) in enumerate(bounds)]


# A paragraph of one short line that ends without a full stop ("How long does the battery take to charge?",
# "2.1 Charging the battery", "Error codes:") heads the paragraphs under it, in text that marks no sections.
MAX_HEADING_WORDS = 12
_HEADING_LINE = re.compile(r"[^\n]*[^\s.]")


def is_heading(paragraph: str) -> bool:
    """One line of at most MAX_HEADING_WORDS words that does not end with a full stop."""
    paragraph = paragraph.strip()
    return bool(_HEADING_LINE.fullmatch(paragraph)) and len(paragraph.split()) <= MAX_HEADING_WORDS


def paragraph_ranges(text: str, sentences: Sequence[Span]) -> list[tuple[int, int]]:
    """Inclusive sentence index ranges of each paragraph (a blank line between two sentences splits)."""
    ranges: list[tuple[int, int]] = []
    first = 0
    for index in range(1, len(sentences) + 1):
        if index == len(sentences) or PARAGRAPH_BREAK.search(text, sentences[index - 1].end,
                                                            sentences[index].start):
            ranges.append((first, index - 1))
            first = index
    return ranges


def _sentence_runs(token_counts: Sequence[int], first: int, last: int, max_tokens: int) -> list[tuple[int, int]]:
    """Runs of sentences first..last within the budget, each overlapping the previous by one sentence."""
    runs: list[tuple[int, int]] = []
    while True:
        end, used = first, token_counts[first]
        while end + 1 <= last and used + token_counts[end + 1] <= max_tokens:
            end += 1
            used += token_counts[end]
        runs.append((first, end))
        if end >= last:
            return runs
        first = end if end > first else end + 1


class Chunker:
    """Splits documents into sentences and token-budgeted chunks."""

    def __init__(self, count_tokens: TokenCounter, max_tokens: int) -> None:
        if max_tokens < MIN_CHUNK_TOKENS:
            raise ValueError(f"max_tokens must be at least {MIN_CHUNK_TOKENS}")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens

    def run(self, text: str) -> tuple[list[Span], list[Chunk]]:
        sentences = split_sentences(text)
        counts = self.count_tokens([sentence.text_of(text) for sentence in sentences]) if sentences else []
        return sentences, chunk_sentences(text, sentences, counts, self.max_tokens)


def widen(text: str, sentences: Sequence[Span], start: int, end: int, budget: int) -> tuple[int, int]:
    """Grow [start, end) by whole sentences on each side, up to `budget` characters per side.

    Retrieval works best on short chunks, the reader on more context: this gives it the sentences
    around a chunk, but never across a blank line, where a new paragraph (and topic) begins.
    """
    before = [s for s in sentences if s.end <= start]
    new_start = start
    for sentence in reversed(before):
        if start - sentence.start > budget or PARAGRAPH_BREAK.search(text, sentence.start, new_start):
            break
        new_start = sentence.start
    new_end = end
    for sentence in (s for s in sentences if s.start >= end):
        if sentence.end - end > budget or PARAGRAPH_BREAK.search(text, new_end, sentence.end):
            break
        new_end = sentence.end
    return new_start, new_end


def tokenizer_counter(tokenizer: object) -> TokenCounter:
    """A TokenCounter backed by a Hugging Face tokenizer (special tokens excluded)."""

    def count(texts: Sequence[str]) -> list[int]:
        encoded = tokenizer(list(texts), add_special_tokens=False)  # type: ignore[operator]
        return [len(ids) for ids in encoded["input_ids"]]

    return count
