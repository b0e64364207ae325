"""Fit the answer verifier on whole-article questions with and without answers (SQuAD 2.0 format)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lab.end_to_end import ArticleQuestion
from lab.metrics import is_right
from qa.pipeline import QuestionAnswerer, Reading
from qa.verifier import DIRECTION, FEATURES, Verifier, answer_features

# Every n-th question is also asked of the next article, where it has no answer: SQuAD 2.0's unanswerable
# questions were written against their own paragraph and reuse its words, while users also ask about
# things the documents never mention; without these the verifier learns that missing names mean nothing.
OFF_TOPIC_EVERY = 5
# Inverse regularisation strength of the logistic fit, chosen with the no-answer threshold by the families rule
# (bench/RESULTS.md, "Answering on three families"); the sign bounds (DIRECTION) keep any weight from turning.
REGULARISATION_C = 1.0


@dataclass(frozen=True)
class VerifierExample:
    """One question's features and whether the pipeline's best span is right (F1 > 0.5; never, if unanswerable)."""

    question: ArticleQuestion
    features: np.ndarray
    right: bool


def off_topic_questions(questions: list[ArticleQuestion], every: int = OFF_TOPIC_EVERY) -> list[ArticleQuestion]:
    """Every `every`-th question, asked of the next article in the file (and so without an answer)."""
    articles = list(dict.fromkeys(question.document_id for question in questions))
    if every < 1 or len(articles) < 2:
        return []
    following = {article: articles[(number + 1) % len(articles)] for number, article in enumerate(articles)}
    return [ArticleQuestion(f"{question.id}-off-topic", following[question.document_id], question.question, [], [])
            for question in questions[::every]]


def verifier_examples(answerer: QuestionAnswerer, questions: list[ArticleQuestion],
                      progress: Callable[[int], None] | None = None) -> list[VerifierExample]:
    """Ask each question of its own article as the pipeline does; questions with no span at all are left out."""
    examples = []
    for number, question in enumerate(questions):
        example = verifier_example(question, answerer.read(question.question, [question.document_id]))
        if example is not None:
            examples.append(example)
        if progress:
            progress(number + 1)
    return examples


def verifier_example(question: ArticleQuestion, reading: Reading) -> VerifierExample | None:
    """The features of what the pipeline read for `question` and whether its best span is right; None if no span."""
    spans = reading.output.spans
    if not spans:
        return None
    return VerifierExample(question, answer_features(question.question, spans, reading.hits),
                           is_right(spans[0].text, question.answers))


def fit_verifier(examples: list[VerifierExample], c: float = REGULARISATION_C) -> Verifier:
    """Standardise the features and fit an L2-regularised logistic regression of `right` on them, each
    weight kept to the sign its feature's meaning allows (`qa.verifier.DIRECTION`)."""
    from scipy.optimize import minimize

    features = np.stack([example.features for example in examples])
    labels = np.array([example.right for example in examples], dtype=np.float64)
    if labels.all() or not labels.any():
        raise ValueError("the verifier needs both right and wrong answers to learn from")
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    standard = (features - mean) / scale

    def loss(weights: np.ndarray) -> tuple[float, np.ndarray]:
        logits = standard @ weights[:-1] + weights[-1]
        errors = 1.0 / (1.0 + np.exp(-logits)) - labels
        value = float(np.sum(np.logaddexp(0.0, logits) - labels * logits) + 0.5 / c * weights[:-1] @ weights[:-1])
        return value, np.concatenate([standard.T @ errors + weights[:-1] / c, [errors.sum()]])

    signs = [DIRECTION.get(name, 0) for name in FEATURES]
    bounds = [(0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None) for sign in signs]
    fitted = minimize(loss, np.zeros(len(FEATURES) + 1), jac=True, bounds=[*bounds, (None, None)],
                      method="L-BFGS-B")
    if not fitted.success:
        raise RuntimeError(f"the verifier's fit did not converge: {fitted.message}")
    return Verifier(mean, scale, fitted.x[:-1].copy(), float(fitted.x[-1]))
