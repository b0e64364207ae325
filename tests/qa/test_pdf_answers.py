"""Answers on the two real NIST PDFs (tests/fixtures/pdf), read through the parsing worker into a real store
and answered by the shipped pipeline: right answers are cited on the page that prints them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from api.services import Index, build_answerer
from api.settings import Settings
from index.extract import ParseLimits, load_path
from lab.pdf_questions import evaluate, read_questions
from qa.reader import Reader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pdf"


@pytest.mark.slow
def test_right_answers_cite_the_page_that_prints_them(make_index: Callable[..., Index], reader: Reader) -> None:
    index = make_index()
    questions = read_questions(FIXTURES / "questions.jsonl")
    ids = {}
    for name in sorted({q.file for q in questions}):
        document = load_path(FIXTURES / name, ParseLimits())
        index.indexer.add(document)
        ids[name] = document.id
    answerer = build_answerer(Settings(), index, reader)
    result = evaluate(lambda q: answerer.run(q.question, [ids[q.file]]), questions)
    assert result["right"] >= 50, result
    assert result["page_right_when_right"] >= 95.0, result["wrong_pages"]
    # Below the target of 75 (a reader trained on Wikipedia, reading standards): a floor against
    # regressions in extraction, measured 57 when this test was written (bench/RESULTS.md).
    assert result["f1"] >= 50.0, result
    unanswerable = [q for q in questions if not q.answers]
    assert len(unanswerable) >= 12 and result["no_answer_accuracy"] >= 50.0
