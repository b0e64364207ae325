"""SQuAD scoring: exact match, F1, the shared scorer, AUC and the abstention curve."""

from __future__ import annotations

import pytest

from lab.metrics import abstention_curve, answerability_auc, best_over, exact_match, f1, squad_scores


def test_exact_match_ignores_normalised_differences_only() -> None:
    assert exact_match("the Denver Broncos.", "Denver Broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0


def test_f1_counts_shared_tokens() -> None:
    # prediction "denver broncos won", truth "denver broncos": precision 2/3, recall 1 -> F1 0.8
    assert f1("Denver Broncos won", "the Denver Broncos") == pytest.approx(0.8)
    assert f1("Carolina", "Denver Broncos") == 0.0
    assert f1("", "") == 1.0 and f1("", "Denver") == 0.0


def test_best_over_takes_the_best_gold_answer_and_empty_gold_means_no_answer() -> None:
    assert best_over(f1, "Broncos", ["Denver", "Broncos"]) == 1.0
    assert best_over(exact_match, "", []) == 1.0
    assert best_over(exact_match, "Denver", []) == 0.0


def test_auc_is_one_for_perfect_separation_and_half_for_none() -> None:
    assert answerability_auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert answerability_auc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5
    with pytest.raises(ValueError):
        answerability_auc([0.1, 0.2], [True, True])


def test_curve_counts_withheld_answers_right_only_on_unanswerable_questions() -> None:
    # two answerable questions (F1 1.0 at score 0.9, F1 0.5 at score 0.4), one unanswerable at score 0.6
    rows = abstention_curve([0.9, 0.4, 0.6], [1.0, 0.5, 0.0], [True, True, False], thresholds=(0.0, 0.5, 0.95))
    assert [r["has_answer_f1"] for r in rows] == [75.0, 50.0, 0.0]
    assert [r["no_answer_accuracy"] for r in rows] == [0.0, 0.0, 100.0]
    assert [round(r["coverage"], 1) for r in rows] == [100.0, 66.7, 0.0]
    assert rows[2]["f1"] == pytest.approx(100 / 3)


def test_scores_count_a_withheld_answer_right_only_on_an_unanswerable_question() -> None:
    result = squad_scores(["Denver Broncos", "Denver", None, None], [["Denver Broncos"], ["Denver Broncos"], [], ["x"]])
    assert result["count"] == 4 and result["no_answer_count"] == 1
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert result["no_answer_accuracy"] == 100.0
    assert result["has_answer_f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert "no_answer_count" not in squad_scores(["a"], [["a"]])
