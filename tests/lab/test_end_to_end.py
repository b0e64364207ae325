"""End-to-end SQuAD evaluation: article loading, thresholded scoring, and a real run over a tiny file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
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


def test_a_floor_keeps_one_file_from_paying_for_the_others() -> None:
    _, questions = load_articles(TINY)
    by_id = {q.id: q for q in questions}
    unanswerable = [PipelineRow(by_id["k4"], "Port Velin", 0.5)]  # withholding it needs a threshold over 0.5
    answerable = [PipelineRow(by_id["k1"], "1821", 0.45)] + [PipelineRow(by_id["k2"], "Tarn", 0.9)] * 3
    assert best_pipeline_threshold([unanswerable, answerable]) == pytest.approx(0.7)  # mean 87.5 (100, 75)
    assert best_pipeline_threshold([unanswerable, answerable], floors=[None, 90.0]) == 0.0  # keeps 100
    assert best_pipeline_threshold([unanswerable, answerable], floors=[None, 101.0]) == pytest.approx(0.7)


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


def test_whole_store_questions_name_no_document_and_count_only_their_own_articles_chunks(
        index: Index, reader: Reader) -> None:
    """A user who names no document: the question searches every article, and retrieval recall counts a gold
    span only in a chunk of the question's own article (another article's chunk never holds its answer)."""
    from lab.end_to_end import ArticleQuestion, retrieval_recall

    documents, questions = load_articles(TINY)
    other = "Lake Ombra is a crater lake in the hills of Vessa. It froze over completely in 1903."
    ingest_articles(index.indexer, [*documents, ("Lake_Ombra", "Lake Ombra", other)])
    lake = ArticleQuestion("o1", "Lake_Ombra", "When did Lake Ombra freeze over completely?", ["1903"],
                           [(other.index("1903"), other.index("1903") + 4)])
    answerer = QuestionAnswerer(index.retriever, reader, threshold=0.5, top_k=5, rank_penalty=0.0,
                                early_exit_score=1.0)
    rows = {row.question.id: row.answer for row in answer_all(answerer, [questions[0], lake], whole_store=True)}
    assert rows == {"k1": "1821", "o1": "1903"}
    # The volcano question, said to be about the lake: the top chunk (the volcano's) covers the same offsets,
    # but in another document, so it does not count.
    moved = replace(questions[0], document_id="Lake_Ombra")
    assert retrieval_recall(index.retriever, [moved], ks=(1,), whole_store=True)["hybrid"]["recall@1"] == 0.0
    assert retrieval_recall(index.retriever, [questions[0]], ks=(1,), whole_store=True)["hybrid"]["recall@1"] == 1.0


def test_the_verifier_learns_which_feature_tells_right_from_wrong() -> None:
    from lab.verifier import VerifierExample, fit_verifier
    from qa.verifier import FEATURES

    _, questions = load_articles(TINY)
    rng = np.random.default_rng(0)
    examples = []
    for number in range(200):  # "right" depends on the margin alone; the other features are noise
        features = rng.normal(size=len(FEATURES))
        examples.append(VerifierExample(questions[number % 4], features, bool(features[FEATURES.index("margin")] > 0)))
    verifier = fit_verifier(examples)
    assert int(np.argmax(np.abs(verifier.coef))) == FEATURES.index("margin")
    assert verifier.coef[FEATURES.index("margin")] > 0
    with pytest.raises(ValueError, match="both right and wrong"):
        fit_verifier([VerifierExample(questions[0], np.zeros(len(FEATURES)), True)] * 3)


def test_off_topic_questions_are_asked_of_the_next_article_without_answers() -> None:
    from lab.end_to_end import ArticleQuestion
    from lab.verifier import off_topic_questions

    asked = [ArticleQuestion(f"q{n}", f"article-{n // 4}", f"question {n}?", ["x"], [(0, 1)]) for n in range(12)]
    moved = off_topic_questions(asked, every=5)
    assert [(q.id, q.document_id) for q in moved] == [("q0-off-topic", "article-1"), ("q5-off-topic", "article-2"),
                                                     ("q10-off-topic", "article-0")]
    assert all(not q.answers and not q.spans for q in moved)
    assert off_topic_questions(asked[:4], every=5) == []  # one article: nowhere else to ask


def test_a_weight_never_takes_the_sign_its_feature_cannot_mean() -> None:
    from lab.verifier import VerifierExample, fit_verifier
    from qa.verifier import FEATURES

    _, questions = load_articles(TINY)
    rng = np.random.default_rng(1)
    missing = FEATURES.index("names_missing")
    examples = []
    for number in range(200):  # here more missing names go with right answers: a fluke the fit must not learn
        features = rng.normal(size=len(FEATURES))
        examples.append(VerifierExample(questions[number % 4], features, bool(features[missing] > 0)))
    assert fit_verifier(examples).coef[missing] == 0.0
