"""End-to-end SQuAD evaluation: article loading, thresholded scoring, and a real run over a tiny file."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.services import Index
from lab.end_to_end import (
    PipelineRow,
    answer_all,
    best_pipeline_threshold,
    evaluate_pipeline,
    ingest_articles,
    load_articles,
    pipeline_scores,
)
from qa.pipeline import QuestionAnswerer
from qa.reader import Reader

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-squad-v2.json"


def test_articles_become_one_document_with_gold_spans_in_the_joined_text() -> None:
    documents, questions = load_articles(TINY)
    assert [d[0] for d in documents] == ["mount_kelra"]
    text = documents[0][2]
    assert "\n\nThe island's only harbour" in text
    for question in questions:
        assert [text[s:e] for s, e in question.spans] == question.answers
    assert [q.answers for q in questions if q.id == "k4"] == [[]]


def test_scores_withhold_answers_under_the_threshold() -> None:
    _, questions = load_articles(TINY)
    by_id = {q.id: q for q in questions}
    # Plain data rows (no model): a right answer scored 0.9, a half-right one at 0.4, a wrong one at 0.3,
    # and an answer to the unanswerable question at 0.2.
    rows = [PipelineRow(by_id["k1"], "1821", 0.9), PipelineRow(by_id["k2"], "Tarn village", 0.4),
            PipelineRow(by_id["k3"], "1902", 0.3), PipelineRow(by_id["k4"], "Port Velin", 0.2)]
    never = pipeline_scores(rows, 0.0)
    assert never["exact_match"] == pytest.approx(25.0)
    assert never["no_answer_accuracy"] == 0.0
    cautious = pipeline_scores(rows, 0.35)
    assert cautious["no_answer_accuracy"] == 100.0
    assert cautious["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0 + 1) / 4)
    assert best_pipeline_threshold([rows]) == pytest.approx(0.25)  # midway between 0.2 and 0.3


@pytest.mark.slow  # a whole evaluation run, twice over
def test_a_real_run_answers_from_the_article(index: Index, reader: Reader) -> None:
    documents, questions = load_articles(TINY)
    ingest_articles(index.indexer, documents)
    answerer = QuestionAnswerer(index.retriever, reader, threshold=0.5, top_k=5, rank_penalty=0.0,
                                early_exit_score=1.0)
    rows = answer_all(answerer, questions)
    answers = {row.question.id: row.answer for row in rows}
    assert answers["k1"] == "1821"
    assert all(0.0 <= row.score <= 1.0 for row in rows)
    result = evaluate_pipeline(answerer, questions)
    assert result["count"] == 4 and result["threshold"] == 0.5
    assert result["f1_never_abstaining"] >= 50.0
