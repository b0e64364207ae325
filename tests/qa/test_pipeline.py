"""The question-answering pipeline over a real store and the real reader."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from api.services import Index
from api.settings import Settings
from index.base import StoredChunk, UnknownDocumentError
from index.chunk import Span, widen
from index.documents import make_document
from qa.pipeline import (
    Citation,
    CitationMismatchError,
    Evidence,
    QuestionAnswerer,
    of_the_asked_kind,
    verify,
    vote_by_answer,
)
from qa.reader import AnswerSpan, Reader, ReaderOutput
from qa.verifier import FEATURES, Verifier, answer_features


def pipeline(index: Index, reader: Reader, **changes: Any) -> QuestionAnswerer:
    """The pipeline with the shipped settings, but for `changes`."""
    shipped = Settings().pipeline
    arguments: dict[str, Any] = {"threshold": shipped.no_answer_threshold, "top_k": shipped.top_k,
                                 "rank_penalty": shipped.rank_penalty, "early_exit_score": shipped.early_exit_score,
                                 "verifier": Verifier.load(reader.model_path)}
    return QuestionAnswerer(index.retriever, reader, **{**arguments, **changes})


@pytest.fixture
def answerer(index: Index, reader: Reader, article_text: str) -> QuestionAnswerer:
    index.indexer.add(make_document(article_text, document_id="bakhmut"))
    return pipeline(index, reader)


def test_example_question_is_answered_with_a_verified_citation(answerer: QuestionAnswerer, article_text: str) -> None:
    answer = answerer("who said the troops were fleeing?")
    assert answer.answer is not None and "Prigozhin" in answer.answer
    citation = answer.citations[0]
    assert citation.text == answer.answer == article_text[citation.start : citation.end]
    assert citation.passage.start <= citation.start < citation.end <= citation.passage.end
    assert "fleeing" in citation.passage.text
    assert 0.0 < answer.score <= 1.0


def test_unanswerable_question_abstains_and_offers_the_closest_passage(answerer: QuestionAnswerer,
                                                                      article_text: str) -> None:
    answer = answerer("Who won the 2022 World Cup?")
    assert answer.answer is None
    for citation in answer.citations:
        assert article_text[citation.start : citation.end] == citation.text


def test_the_score_is_the_verifiers_probability_and_its_verdict_decides(answerer: QuestionAnswerer) -> None:
    question = "who said the troops were fleeing?"
    reading = answerer.read(question)
    assert answerer.verifier is not None  # the shipped reader comes with its verifier
    expected = answerer.verifier.probability(answer_features(question, reading.output.spans, reading.hits))
    assert answerer(question).score == pytest.approx(expected)
    size = len(FEATURES)
    doubting = Verifier(np.zeros(size), np.ones(size), np.zeros(size), -5.0)  # says no to every answer
    skeptic = QuestionAnswerer(answerer.retriever, answerer.reader, threshold=answerer.threshold, top_k=answerer.top_k,
                               rank_penalty=answerer.rank_penalty, early_exit_score=answerer.early_exit_score,
                               verifier=doubting)
    assert skeptic(question).answer is None and skeptic(question).score == pytest.approx(1 / (1 + np.exp(5.0)))
    assert skeptic.with_threshold(0.0)(question).answer is not None


def test_a_quantity_of_another_kind_is_never_the_answer(index: Index, reader: Reader) -> None:
    text = ("Lake Varna lies in the north of the country and covers 64 square kilometres. Its perch have grown "
            "smaller since the 1990s, and the lake is now warmer in summer than it was.")
    index.indexer.add(make_document(text, document_id="varna"))
    answerer = pipeline(index, reader)
    question = "How deep is Lake Varna?"
    reading = answerer.read(question)
    assert reading.output.spans[0].text == "64 square kilometres"  # the reader takes the only number there is
    assert answerer.verifier is not None
    sure = answerer.verifier.probability(answer_features(question, reading.output.spans, reading.hits))
    assert sure > answerer.threshold  # the verifier alone would answer it
    answer = answerer(question)
    assert answer.answer is None and answer.score == 0.0
    assert answerer("How large an area does Lake Varna cover?").answer == "64 square kilometres"


def test_an_empty_question_is_refused_and_a_question_is_stripped_once(index: Index, reader: Reader) -> None:
    """The pipeline's public entry checks the question; the retriever and the reader below take it as it is."""
    answerer = pipeline(index, reader)
    for blank in ("", "  \n\t"):
        with pytest.raises(ValueError, match="question is empty"):
            answerer(blank)
        with pytest.raises(ValueError, match="question is empty"):
            answerer.read(blank)
    assert answerer("  Who keeps the light?\n").question == "Who keeps the light?"
    assert answerer.read(" Who keeps the light? ").question == "Who keeps the light?"


def test_document_filter(answerer: QuestionAnswerer, index: Index) -> None:
    index.indexer.add(make_document("The capital of Peru is Lima.", document_id="peru"))
    answer = answerer("What is the capital of Peru?", document_ids=["peru"])
    assert answer.answer == "Lima"
    assert all(c.document_id == "peru" for c in answer.citations)
    with pytest.raises(UnknownDocumentError):
        answerer("What is the capital of Peru?", document_ids=["nowhere"])


def test_a_wrong_citation_raises() -> None:
    text = "Alpha beta gamma."
    chunk = StoredChunk(1, "d", 0, 17, text, 0, text, (Span(0, 17),))
    good = Citation("d", 6, 10, "beta", Evidence(0, 17, text))
    verify(good, chunk)
    with pytest.raises(CitationMismatchError):
        verify(Citation("d", 6, 10, "gamm", Evidence(0, 17, text)), chunk)
    with pytest.raises(CitationMismatchError):
        verify(Citation("d", 6, 10, "beta", Evidence(0, 5, "Alpha!")), chunk)
    with pytest.raises(CitationMismatchError):  # outside what was read: never quoted
        verify(Citation("d", 16, 18, "a.", Evidence(0, 17, text)), chunk)


def _inside_top_hit(answerer: QuestionAnswerer, question: str, start: int, end: int) -> bool:
    top = answerer.retriever.run(question, 1)[0]
    return top.start <= start and end <= top.end


def test_early_exit_answers_from_the_top_passage_alone(index: Index, reader: Reader) -> None:
    index.indexer.add(make_document("Who is the lighthouse keeper of the island? Visitors often ask who the "
                                    "lighthouse keeper of the island is.", document_id="echo"))
    index.indexer.add(make_document("Ambrose Quill keeps the island light.", document_id="answer"))
    question = "Who is the lighthouse keeper of the island?"
    assert index.retriever.run(question, 1)[0].document_id == "echo"
    hasty = pipeline(index, reader, threshold=0.0, early_exit_score=0.0)
    thorough = pipeline(index, reader, threshold=0.0, early_exit_score=1.0)
    assert hasty(question).citations[0].document_id == "echo"
    assert thorough(question).answer == "Ambrose Quill"


@pytest.mark.slow  # the whole article ingested, then read without early exit
def test_a_heavy_rank_penalty_keeps_the_answer_in_the_top_passage(index: Index, reader: Reader,
                                                                   article_text: str) -> None:
    index.indexer.add(make_document(article_text, document_id="bakhmut"))
    for question in ("Who is the head of the Wagner group?", "Where did Ukrainian forces advance?"):
        penalised = pipeline(index, reader, threshold=0.0, rank_penalty=100.0)
        citation = penalised(question).citations[0]
        assert _inside_top_hit(penalised, question, citation.start, citation.end)


def test_early_exit_and_rank_penalty_are_validated(index: Index, reader: Reader) -> None:
    with pytest.raises(ValueError, match="rank_penalty"):
        pipeline(index, reader, rank_penalty=-1.0)
    with pytest.raises(ValueError, match="early_exit_score"):
        pipeline(index, reader, early_exit_score=1.5)
    answerer = QuestionAnswerer(index.retriever, reader, threshold=0.5, top_k=4, rank_penalty=0.5,
                                early_exit_score=0.8)
    copy = answerer.with_threshold(0.1)
    assert (copy.threshold, copy.top_k, copy.rank_penalty, copy.early_exit_score) == (0.1, 4, 0.5, 0.8)


# vote_by_answer() is arithmetic over spans the reader returned, so hand-made spans pin its rule exactly.
def _span(text: str, margin: float, start: int) -> AnswerSpan:
    return AnswerSpan("d", start, start + len(text), text, score=margin / 10, margin=margin, passage_index=0)


def test_an_answer_several_spans_agree_on_outvotes_a_single_stronger_span() -> None:
    kyiv, the_donbas, donbas = _span("Kyiv", 3.0, 0), _span("the Donbas", 2.5, 10), _span("Donbas.", 2.4, 40)
    voted = vote_by_answer(ReaderOutput([kyiv, the_donbas, donbas], 0.7))
    # e^2.5 + e^2.4 = 23.2 > e^3 = 20.1; the winner keeps its best span's offsets and score.
    assert voted.spans == [the_donbas, kyiv]
    assert voted.no_answer_score == 0.7


def test_without_agreement_the_strongest_span_wins() -> None:
    spans = [_span("Kyiv", 3.0, 0), _span("Donbas", 2.9, 10), _span("Bakhmut", -900.0, 20), _span("Lviv", -901.0, 30)]
    assert vote_by_answer(ReaderOutput(spans, 0.1)).spans == spans
    assert vote_by_answer(ReaderOutput([], 1.0)).spans == []


# widen() is pure offset arithmetic over sentence spans, so these use hand-made spans, no models.
WIDEN_TEXT = "One a. Two bb. Three ccc. Four.\n\nFive e. Six ff."


def _sentence_spans(text: str) -> list[Span]:
    spans, start = [], 0
    for index, char in enumerate(text):
        if char == ".":
            spans.append(Span(start, index + 1))
            start = index + 1
            while start < len(text) and text[start].isspace():
                start += 1
    return spans


def test_widen_adds_whole_sentences_within_the_budget() -> None:
    sentences = _sentence_spans(WIDEN_TEXT)
    chunk = sentences[2]  # "Three ccc."
    start, end = widen(WIDEN_TEXT, sentences, chunk.start, chunk.end, budget=8)
    assert WIDEN_TEXT[start:end] == "Two bb. Three ccc. Four."
    start, end = widen(WIDEN_TEXT, sentences, chunk.start, chunk.end, budget=100)
    assert WIDEN_TEXT[start:end] == "One a. Two bb. Three ccc. Four."  # stops at the blank line
    assert widen(WIDEN_TEXT, sentences, chunk.start, chunk.end, budget=0) == (chunk.start, chunk.end)


def test_widen_stops_at_any_blank_line_the_chunker_splits_paragraphs_at() -> None:
    text = WIDEN_TEXT.replace("\n\n", "\r\n \r\n")  # Windows line ends, a stray space on the blank line
    sentences = _sentence_spans(text)
    start, end = widen(text, sentences, sentences[2].start, sentences[2].end, budget=100)
    assert text[start:end] == "One a. Two bb. Three ccc. Four."


def test_the_reader_sees_the_widened_passage_but_citations_stay_exact(
        make_index: Callable[..., Index], reader: Reader, article_text: str) -> None:
    index = make_index(retrieval={"read_context_chars": 300})
    index.indexer.add(make_document(article_text, document_id="bakhmut"))
    answer = pipeline(index, reader, threshold=0.0)("Who is the head of the Wagner group?")
    citation = answer.citations[0]
    assert answer.answer == citation.text == article_text[citation.start : citation.end]
    assert article_text[citation.passage.start : citation.passage.end] == citation.passage.text


def test_an_answer_never_runs_from_one_page_onto_the_next(index: Index, reader: Reader) -> None:
    from index.layout import Layout, Page
    from qa.reader import Passage

    # A sentence that runs on across a page break, the name it asks for split by it.
    text = "The old stone bridge over the river was designed by Ansel\nVorn in 1902, after the flood."
    question = "Who designed the old stone bridge?"
    page_break = text.index("Vorn")
    assert reader.run(question, [Passage("bridge", 0, text)]).spans[0].text == "Ansel\nVorn"  # what it would cite
    pages = tuple(Page(number, None, start, end, 612.0, 792.0, 0, np.zeros((end - start, 4), dtype=np.float32))
                  for number, (start, end) in enumerate(((0, page_break), (page_break, len(text))), start=1))
    document = make_document(text, document_id="bridge")
    index.indexer.add(dataclasses.replace(document, layout=Layout(pages)))
    reading = pipeline(index, reader).read(question)
    assert reading.output.spans, "the reader still finds spans inside one page"
    for span in reading.output.spans:
        assert not span.start < page_break < span.end, span


def test_the_best_answer_of_the_asked_kind_goes_first() -> None:
    output = ReaderOutput([_span("120 metres", 3.0, 13), _span("about 2 cm per century", 1.0, 50)], 0.1)
    assert of_the_asked_kind("How quickly is the sea rising?", output).spans[0].text == "about 2 cm per century"
    assert of_the_asked_kind("How far did the sea rise?", output) is output  # the best one fits: unchanged
    only = ReaderOutput(output.spans[:1], 0.1)
    assert of_the_asked_kind("How quickly is the sea rising?", only) is only  # none fits: refused later
