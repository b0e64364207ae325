"""The question-answering pipeline over a real store and the real reader."""

from __future__ import annotations

import pytest

from index.documents import make_document
from index.store import PassageStore, UnknownDocumentError
from qa.pipeline import Citation, CitationMismatchError, Evidence, QuestionAnswerer, verify
from qa.reader import Reader


@pytest.fixture
def answerer(store: PassageStore, reader: Reader, article_text: str) -> QuestionAnswerer:
    store.add(make_document(article_text, document_id="bakhmut"))
    return QuestionAnswerer(store, reader)


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


def test_document_filter(answerer: QuestionAnswerer) -> None:
    answerer.store.add(make_document("The capital of Peru is Lima.", document_id="peru"))
    answer = answerer("What is the capital of Peru?", document_ids=["peru"])
    assert answer.answer == "Lima"
    assert all(c.document_id == "peru" for c in answer.citations)
    with pytest.raises(UnknownDocumentError):
        answerer("What is the capital of Peru?", document_ids=["nowhere"])


def test_a_wrong_citation_raises() -> None:
    text = "Alpha beta gamma."
    good = Citation("d", 6, 10, "beta", Evidence(0, 17, text))
    verify(good, text)
    with pytest.raises(CitationMismatchError):
        verify(Citation("d", 6, 10, "gamm", Evidence(0, 17, text)), text)
    with pytest.raises(CitationMismatchError):
        verify(Citation("d", 6, 10, "beta", Evidence(0, 5, "Alpha!")), text)
