"""SQuAD scoring: exact match and F1 as the official v1.1/v2.0 scripts compute them, AUC and the abstention curve."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.text import normalize_answer


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str) -> float:
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(truth).split()
    if not predicted or not gold:  # SQuAD v2: both empty counts as a match
        return float(predicted == gold)
    common = Counter(predicted) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def best_over(metric: object, prediction: str, truths: Sequence[str]) -> float:
    """The best score of prediction against any gold answer ("" when there is none)."""
    golds = [t for t in truths if normalize_answer(t)] or [""]
    return max(metric(prediction, truth) for truth in golds)  # type: ignore[operator]


def is_right(prediction: str, truths: Sequence[str]) -> bool:
    """Whether an answer counts as right when fitting scores to it: F1 > 0.5 against some gold answer;
    no answer to a question without one is right."""
    return bool(truths) and best_over(f1, prediction, truths) > 0.5


def squad_scores(given: Sequence[str | None], golds: Sequence[Sequence[str]]) -> dict[str, Any]:
    """EM and F1 (x100) of the answers given (None: withheld) against each question's gold answers.

    An empty gold list marks an unanswerable question; when there are any, the result adds the
    no-answer accuracy (withholding is right), the F1 over answerable questions and their count.
    """
    exact, overlap, has_f1, no_correct = [], [], [], []
    for answer, truths in zip(given, golds, strict=True):
        text = answer or ""
        exact.append(best_over(exact_match, text, truths))
        overlap.append(best_over(f1, text, truths))
        if truths:
            has_f1.append(overlap[-1])
        else:
            no_correct.append(float(answer is None))
    result: dict[str, Any] = {"exact_match": _percent(exact), "f1": _percent(overlap), "count": len(exact)}
    if no_correct:
        result["no_answer_accuracy"] = _percent(no_correct)
        result["has_answer_f1"] = _percent(has_f1)
        result["no_answer_count"] = len(no_correct)
    return result


def _percent(values: list[float]) -> float:
    return 100 * float(np.mean(values)) if values else 0.0


CURVE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def answerability_auc(scores: Sequence[float], answerable: Sequence[bool]) -> float:
    """Area under the ROC curve of `scores` separating answerable from unanswerable questions (0.5: chance)."""
    from sklearn.metrics import roc_auc_score

    if len(set(answerable)) < 2:
        raise ValueError("the AUC needs both answerable and unanswerable questions")
    return float(roc_auc_score(list(answerable), list(scores)))


def abstention_curve(scores: Sequence[float], answered_f1: Sequence[float], answerable: Sequence[bool],
                     thresholds: Sequence[float] = CURVE_THRESHOLDS) -> list[dict[str, float]]:
    """No-answer accuracy, HasAns F1, overall F1 and coverage (share answered) at each threshold.

    `answered_f1` is each question's F1 if its best span is given (x1, not x100); a withheld answer
    scores 1 on an unanswerable question and 0 on an answerable one, as in the official v2.0 script.
    """
    rows = []
    for threshold in thresholds:
        answered = [score >= threshold for score in scores]
        has = [f if given else 0.0 for f, given, gold in zip(answered_f1, answered, answerable, strict=True) if gold]
        no = [0.0 if given else 1.0 for given, gold in zip(answered, answerable, strict=True) if not gold]
        overall = has + no
        rows.append({
            "threshold": threshold,
            "no_answer_accuracy": 100 * sum(no) / max(1, len(no)),
            "has_answer_f1": 100 * sum(has) / max(1, len(has)),
            "f1": 100 * sum(overall) / max(1, len(overall)),
            "coverage": 100 * sum(answered) / max(1, len(answered)),
        })
    return rows
