"""Reader evaluation on gold paragraphs, with SQuAD metrics and no-answer calibration fitting."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.reader import Calibration, Passage, Reader
from qa.squad_metrics import answerability_auc, best_over, exact_match, f1

if TYPE_CHECKING:
    from qa.training import NegativeMix


@dataclass(frozen=True)
class GoldQuestion:
    """A question with its own paragraph and gold answers (empty: unanswerable)."""

    id: str
    question: str
    context: str
    answers: list[str]


def gold_questions(path: Path, limit: int | None = None) -> list[GoldQuestion]:
    """Read a SQuAD v1.1/v2.0 file into questions with their paragraphs."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]

    def generate() -> Iterator[GoldQuestion]:
        for article in data:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]]
                    yield GoldQuestion(qa["id"], qa["question"], paragraph["context"], answers)

    questions = list(generate())
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
    exact, overlap, has_f1, no_correct = [], [], [], []
    for prediction in predictions:
        text = prediction.text
        if threshold is not None and prediction.score < threshold:
            text = ""
        truths = prediction.question.answers
        exact.append(best_over(exact_match, text, truths))
        overlap.append(best_over(f1, text, truths))
        if truths:
            has_f1.append(overlap[-1])
        else:
            no_correct.append(float(text == ""))
    result: dict[str, Any] = {
        "exact_match": 100 * float(np.mean(exact)) if exact else 0.0,
        "f1": 100 * float(np.mean(overlap)) if overlap else 0.0,
        "count": len(predictions),
    }
    if no_correct:
        result["no_answer_accuracy"] = 100 * float(np.mean(no_correct))
        result["has_answer_f1"] = 100 * float(np.mean(has_f1)) if has_f1 else 0.0
        result["no_answer_count"] = len(no_correct)
        result["threshold"] = threshold
        if has_f1:
            result["auc"] = answerability_auc([p.score for p in predictions],
                                              [bool(p.question.answers) for p in predictions])
    return result


def fit_calibration(predictions: list[Prediction]) -> Calibration:
    """Platt-scale margins so a span's score is the probability it is (F1 > 0.5) correct."""
    import torch

    margins = torch.tensor([p.margin for p in predictions], dtype=torch.float64)
    labels = torch.tensor(
        [float(best_over(f1, p.text, p.question.answers) > 0.5) if p.question.answers else 0.0
         for p in predictions],
        dtype=torch.float64,
    )
    scale = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([scale, bias], max_iter=200)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(scale * margins + bias, labels)
        loss.backward()
        return loss

    optimiser.step(closure)
    return Calibration(float(scale.detach()), float(bias.detach()))


def held_out_questions(data_path: Path, negatives: NegativeMix, seed: int, skip: int,
                       count: int) -> list[GoldQuestion]:
    """Training-format examples the reader never saw (after the first `skip`), negatives included."""
    from qa.training import shuffled_examples

    examples = shuffled_examples(data_path, negatives, seed)[skip : skip + count]
    return [GoldQuestion(f"heldout-{i}", e.question, e.context, [e.answer_text] if e.answer_start >= 0 else [])
            for i, e in enumerate(examples)]


def best_threshold(predictions: list[Prediction]) -> float:
    """The score threshold that maximises F1 on questions with and without answers."""
    candidates = sorted({round(p.score, 3) for p in predictions} | {0.0})
    return max(candidates, key=lambda t: (score(predictions, t)["f1"], -t))
