"""The reader alone on gold paragraphs: each question read with its own paragraph, then scored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.metrics import answerability_auc, squad_scores
from lab.squad import read_squad
from qa.reader import Passage, Reader


@dataclass(frozen=True)
class GoldQuestion:
    """A question with its own paragraph and gold answers (empty: unanswerable)."""

    id: str
    question: str
    context: str
    answers: list[str]


def gold_questions(path: Path, limit: int | None = None) -> list[GoldQuestion]:
    """Read a SQuAD v1.1/v2.0 file into questions with their paragraphs; the first `limit` when given."""
    questions = [GoldQuestion(qa.id, qa.question, paragraph.context, [answer.text for answer in qa.answers])
                 for article in read_squad(path) for paragraph in article.paragraphs for qa in paragraph.questions]
    return questions[:limit] if limit else questions


@dataclass(frozen=True)
class Prediction:
    """The reader's best span for one gold question."""

    question: GoldQuestion
    text: str
    margin: float
    score: float


def predict(reader: Reader, questions: list[GoldQuestion],
            progress: Callable[[int], None] | None = None) -> list[Prediction]:
    predictions = []
    for number, question in enumerate(questions):
        output = reader.run(question.question, [Passage("gold", 0, question.context)], top_k=1)
        top = output.spans[0] if output.spans else None
        predictions.append(
            Prediction(question, top.text if top else "", top.margin if top else -99.0, top.score if top else 0.0)
        )
        if progress:
            progress(number + 1)
    return predictions


def score(predictions: list[Prediction], threshold: float | None = None) -> dict[str, Any]:
    """EM/F1 (x100); with a threshold, predictions scoring below it answer "" (no answer)."""
    given = [None if not p.text or (threshold is not None and p.score < threshold) else p.text for p in predictions]
    result = squad_scores(given, [p.question.answers for p in predictions])
    if "no_answer_count" in result:
        result["threshold"] = threshold
        answerable = [bool(p.question.answers) for p in predictions]
        if any(answerable):
            result["auc"] = answerability_auc([p.score for p in predictions], answerable)
    return result


def best_threshold(predictions: list[Prediction]) -> float:
    """The score threshold that maximises F1 on questions with and without answers."""
    candidates = sorted({round(p.score, 3) for p in predictions} | {0.0})
    return max(candidates, key=lambda t: (score(predictions, t)["f1"], -t))
