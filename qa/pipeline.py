"""Question -> hybrid retrieval -> reader -> a cited answer, or a plain "not answered"."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from index.base import StoredChunk
from index.layout import NOWHERE, Location
from index.retrieval import HybridRetriever, SearchHit
from qa.logistic import odds
from qa.reader import AnswerSpan, Passage, Reader, ReaderOutput, completed, merge_spans
from qa.text import normalize_answer
from qa.units import answer_kinds, asked_kinds, contradicts
from qa.verifier import Verifier, answer_features

# Spans the reader returns per read; answers are then voted on among them (`vote_by_answer`).
CANDIDATE_SPANS = 10


class CitationMismatchError(AssertionError):
    """A citation's text differs from the document text at its offsets: always a bug."""


@dataclass(frozen=True)
class Evidence:
    """The sentence(s) around an answer: [start, end) code points and their text."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Citation:
    """A verified span of a stored document, with where it sits: page and boxes (PDF), section (Word)."""

    document_id: str
    start: int
    end: int
    text: str
    passage: Evidence
    location: Location = NOWHERE


@dataclass(frozen=True)
class Reading:
    """What the pipeline read for a question (stripped): the hits in rank order and the reader's voted spans."""

    question: str
    hits: list[SearchHit]
    output: ReaderOutput


@dataclass(frozen=True)
class Answer:
    """The pipeline's result; `answer` is None when the documents do not answer."""

    question: str
    answer: str | None
    score: float
    citations: list[Citation] = field(default_factory=list)


class QuestionAnswerer:
    """A plain callable pipeline: a retriever finds passages, a reader picks the span, citations prove it."""

    def __init__(
        self,
        retriever: HybridRetriever,
        reader: Reader,
        *,
        threshold: float,
        top_k: int,
        rank_penalty: float,
        early_exit_score: float,
        verifier: Verifier | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if rank_penalty < 0.0:
            raise ValueError("rank_penalty must not be negative")
        if not 0.0 <= early_exit_score <= 1.0:
            raise ValueError("early_exit_score must be in [0, 1] (1 reads every passage)")
        self.retriever = retriever
        self.reader = reader
        self.threshold = threshold
        self.top_k = top_k
        self.rank_penalty = rank_penalty
        self.early_exit_score = early_exit_score
        self.verifier = verifier

    def warm_up(self) -> None:
        self.retriever.warm_up()
        self.reader.warm_up()

    def __call__(self, question: str, document_ids: Sequence[str] | None = None,
                 top_k: int | None = None) -> Answer:
        return self.run(question, document_ids, top_k)

    def run(self, question: str, document_ids: Sequence[str] | None = None,
            top_k: int | None = None) -> Answer:
        """Answer from the stored documents (only `document_ids` when given; UnknownDocumentError if one
        is not stored), or say they do not answer: `answer` None with the closest passage cited.
        ValueError if the question is empty."""
        reading = self.read(question, document_ids, top_k)
        question, hits, output = reading.question, reading.hits, reading.output
        if not hits:
            return Answer(question, None, 0.0, [])
        if not output.spans:
            return Answer(question, None, 0.0, [_passage_citation(hits[0].chunk, hits[0].start, hits[0].end)])
        best = output.spans[0]
        score = self.score(reading)
        chunk = hits[best.passage_index].chunk
        if score < self.threshold:
            return Answer(question, None, score, [_passage_citation(chunk, best.start, best.end)])
        citation = _cite(chunk, best)
        return Answer(question, citation.text, score, [citation])

    def read(self, question: str, document_ids: Sequence[str] | None = None, top_k: int | None = None) -> Reading:
        """Retrieve and read: the hits and the voted spans, before any no-answer decision.

        The question is checked here, once (ValueError if it is empty), and stripped; the retriever and the
        reader take it as it is.
        """
        question = question.strip()
        if not question:
            raise ValueError("question is empty")
        hits = self.retriever.run(question, top_k or self.top_k, document_ids)
        if not hits:
            return Reading(question, [], ReaderOutput([], 1.0))
        output = vote_by_answer(self._read(question, self._passages(hits)))
        return Reading(question, hits, of_the_asked_kind(question, output))

    def score(self, reading: Reading) -> float:
        """The probability that the best span answers: the verifier's when there is one, else the reader's; 0
        when it is a quantity of another kind than the question asks for (`qa.units`)."""
        spans = reading.output.spans
        if not spans:
            return 0.0
        if contradicts(reading.question, spans[0].text):  # "How deep?" "64 square kilometres": never an answer
            return 0.0
        if self.verifier is None:
            return spans[0].score
        return self.verifier.probability(answer_features(reading.question, spans, reading.hits))

    def with_threshold(self, threshold: float) -> QuestionAnswerer:
        """The same pipeline (retriever, reader, settings) with another no-answer threshold."""
        return QuestionAnswerer(self.retriever, self.reader, threshold=threshold, top_k=self.top_k,
                                rank_penalty=self.rank_penalty, early_exit_score=self.early_exit_score,
                                verifier=self.verifier)

    def _passages(self, hits: Sequence[SearchHit]) -> list[Passage]:
        """What the reader reads for each hit, in rank order, with the rank penalty as a prior.

        Overlapping widened passages are each read in full: merging them into one long passage was
        measured worse (the same spans found from two passages agree, and merge_spans keeps one).
        """
        return [Passage(hit.document_id, hit.chunk.context_start, hit.chunk.context_text,
                        -self.rank_penalty * math.log1p(rank), _page_starts(hit.chunk))
                for rank, hit in enumerate(hits)]

    def _read(self, question: str, passages: list[Passage]) -> ReaderOutput:
        """Read the best-ranked passage alone first; read the others only when it is not convincing."""
        if len(passages) == 1 or self.early_exit_score >= 1.0:
            return self.reader.run(question, passages, top_k=CANDIDATE_SPANS)
        first = self.reader.run(question, passages[:1], top_k=CANDIDATE_SPANS)
        if first.spans and first.spans[0].score >= self.early_exit_score:
            return first
        rest = self.reader.run(question, passages[1:], top_k=CANDIDATE_SPANS)
        shifted = [replace(span, passage_index=span.passage_index + 1) for span in rest.spans]
        return merge_spans([*first.spans, *shifted], top_k=CANDIDATE_SPANS)


def _page_starts(chunk: StoredChunk) -> tuple[int, ...]:
    """Where PDF pages begin inside the chunk's context, as offsets into it (no answer runs across one)."""
    return tuple(page.start - chunk.context_start for page in chunk.layout.pages
                 if chunk.context_start < page.start < chunk.context_end)


def _cite(chunk: StoredChunk, span: AnswerSpan) -> Citation:
    """The answer span, completed as shown (`qa.reader.completed`), with the sentences around it, quoted from
    the passage it was read in."""
    offset = chunk.context_start
    start, end = (position + offset for position in completed(chunk.context_text, span.start - offset,
                                                               span.end - offset))
    evidence = _evidence(chunk, start, end)
    citation = Citation(chunk.document_id, start, end, _quote(chunk, start, end), evidence,
                        chunk.layout.locate(start, end))
    verify(citation, chunk)
    return citation


def _passage_citation(chunk: StoredChunk, start: int, end: int) -> Citation:
    """The sentences around [start, end), cited whole (the closest passage when nothing answers)."""
    evidence = _evidence(chunk, start, end)
    citation = Citation(chunk.document_id, evidence.start, evidence.end, evidence.text, evidence,
                        chunk.layout.locate(evidence.start, evidence.end))
    verify(citation, chunk)
    return citation


def _quote(chunk: StoredChunk, start: int, end: int) -> str:
    return chunk.context_text[start - chunk.context_start : end - chunk.context_start]


def _evidence(chunk: StoredChunk, start: int, end: int) -> Evidence:
    covering = [s for s in chunk.sentences if s.start < end and s.end > start]
    if not covering:
        return Evidence(start, end, _quote(chunk, start, end))
    first, last = covering[0].start, covering[-1].end
    return Evidence(first, last, _quote(chunk, first, last))


def vote_by_answer(output: ReaderOutput) -> ReaderOutput:
    """Rank answers by the summed odds of every span that says the same thing, best span of each first.

    An answer found in several passages (or as "the X" and "X") is likelier right than one found once:
    on the first 1,200 SQuAD v1.1 dev 25-48 questions this gave F1 +0.4. Each answer keeps the score
    and offsets of its best span, so the calibrated score and the citation stay those of one real span.
    """
    votes: dict[str, float] = {}
    best: dict[str, AnswerSpan] = {}
    for span in output.spans:
        key = normalize_answer(span.text) or span.text
        votes[key] = votes.get(key, 0.0) + odds(span.margin)
        if key not in best or span.margin > best[key].margin:
            best[key] = span
    ranked = sorted(best, key=lambda key: (-votes[key], -best[key].margin))
    return ReaderOutput([best[key] for key in ranked], output.no_answer_score)


def of_the_asked_kind(question: str, output: ReaderOutput) -> ReaderOutput:
    """When the best answer is a quantity of another kind than the question asks for ("How quickly is the sea
    level rising?" "120 m"), the best answer that is of that kind ("1-3 cm per century") goes first; with
    none, the order stays and `QuestionAnswerer.score` refuses it."""
    spans = output.spans
    if not spans or not contradicts(question, spans[0].text):
        return output
    asked = asked_kinds(question)
    fitting = [span for span in spans if answer_kinds(span.text) & asked]
    if not fitting:
        return output
    return ReaderOutput([fitting[0], *(span for span in spans if span is not fitting[0])], output.no_answer_score)


def verify(citation: Citation, chunk: StoredChunk) -> None:
    """Raise CitationMismatchError unless both quoted texts equal the stored text at their offsets."""
    for start, end, text, what in ((citation.start, citation.end, citation.text, "citation"),
                                   (citation.passage.start, citation.passage.end, citation.passage.text, "evidence")):
        inside = chunk.context_start <= start <= end <= chunk.context_end
        if not inside or _quote(chunk, start, end) != text:
            raise CitationMismatchError(f"{what} text differs from {citation.document_id}[{start}:{end}]")
