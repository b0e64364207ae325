"""The whole pipeline on SQuAD-format files: each article is one stored document, every question asked of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.documents import make_document, slugify
from index.indexer import Indexer
from index.retrieval import HybridRetriever
from lab.metrics import abstention_curve, answerability_auc, best_over, f1, squad_scores
from lab.squad import read_squad
from qa.pipeline import QuestionAnswerer


@dataclass(frozen=True)
class ArticleQuestion:
    """A question on one article, with gold spans as offsets into the joined article text."""

    id: str
    document_id: str
    question: str
    answers: list[str]
    spans: list[tuple[int, int]]


def load_articles(path: Path, max_articles: int | None = None) -> tuple[list[tuple[str, str, str]],
                                                                      list[ArticleQuestion]]:
    """(documents as (id, title, text), questions) with paragraphs joined by a blank line; the first N articles."""
    documents: list[tuple[str, str, str]] = []
    questions: list[ArticleQuestion] = []
    for article in read_squad(path, max_articles):
        document_id = slugify(article.title)
        offset = 0
        for paragraph in article.paragraphs:
            questions.extend(ArticleQuestion(
                qa.id, document_id, qa.question, [a.text for a in qa.answers],
                [(offset + a.start, offset + a.start + len(a.text)) for a in qa.answers],
            ) for qa in paragraph.questions)
            offset += len(paragraph.context) + 2
        text = "\n\n".join(paragraph.context for paragraph in article.paragraphs)
        documents.append((document_id, article.title.replace("_", " "), text))
    return documents, questions


def ingest_articles(indexer: Indexer, documents: list[tuple[str, str, str]]) -> None:
    indexer.run([make_document(text, document_id=i, title=t) for i, t, text in documents], progress=True)


def retrieval_recall(retriever: HybridRetriever, questions: list[ArticleQuestion],
                     ks: tuple[int, ...] = (1, 5, 10), whole_store: bool = False) -> dict[str, dict[str, float]]:
    """Share of answerable questions whose gold span lies inside a top-k chunk of its article, per search mode
    (searching its article only, or with `whole_store` all of them)."""
    answerable = [q for q in questions if q.spans]
    result: dict[str, dict[str, float]] = {}
    for mode in ("dense", "lexical", "hybrid"):
        hits_at = {k: 0 for k in ks}
        for question in answerable:
            hits = retriever.run(question.question, max(ks), None if whole_store else [question.document_id],
                                 mode=mode)
            for k in ks:
                if any(h.document_id == question.document_id and h.start <= s and e <= h.end
                       for h in hits[:k] for s, e in question.spans):
                    hits_at[k] += 1
        result[mode] = {f"recall@{k}": hits_at[k] / max(1, len(answerable)) for k in ks}
    return result


@dataclass(frozen=True)
class PipelineRow:
    """The pipeline's best span for one question (never withheld) and its calibrated score."""

    question: ArticleQuestion
    answer: str | None
    score: float


def answer_all(answerer: QuestionAnswerer, questions: list[ArticleQuestion],
               progress: Callable[[int], None] | None = None, whole_store: bool = False) -> list[PipelineRow]:
    """Ask every question against its own article (or, `whole_store`, of every stored document, as a user
    who names no document does); the threshold is applied later, by `pipeline_scores`."""
    always = answerer.with_threshold(0.0)
    rows = []
    for number, question in enumerate(questions):
        answer = always.run(question.question, None if whole_store else [question.document_id])
        rows.append(PipelineRow(question, answer.answer, answer.score))
        if progress:
            progress(number + 1)
    return rows


def pipeline_scores(rows: list[PipelineRow], threshold: float) -> dict[str, Any]:
    """EM/F1 (x100) when answers scoring under `threshold` are withheld, exactly as the pipeline does."""
    given = [row.answer if row.answer is not None and row.score >= threshold else None for row in rows]
    scored = squad_scores(given, [row.question.answers for row in rows])
    result = {key: scored[key] for key in ("exact_match", "f1", "count")}
    result["threshold"] = threshold
    result.update({key: scored[key] for key in ("no_answer_accuracy", "has_answer_f1") if key in scored})
    return result


def _answered_f1(rows: list[PipelineRow]) -> list[float]:
    """Each row's F1 if its best span is given (x1); 0 where the pipeline found no span at all."""
    return [best_over(f1, row.answer, row.question.answers) if row.answer is not None else 0.0 for row in rows]


def best_pipeline_threshold(files: list[list[PipelineRow]], floors: list[float | None] | None = None) -> float:
    """The threshold that maximises the mean F1 over several evaluation files (each weighs the same).

    `floors`, one per file: an F1 (x100) the file must keep; thresholds that take any file under its floor
    are not chosen, unless none keeps them all (then the floors are ignored).
    """
    # Candidates sit midway between neighbouring scores, so the chosen value is not a hair from any answer.
    scores = sorted({row.score for rows in files for row in rows})
    candidates = np.array([0.0] + [round((low + high) / 2, 3) for low, high in zip(scores, scores[1:], strict=False)])
    mean_f1 = np.zeros(len(candidates))
    allowed = np.ones(len(candidates), dtype=bool)
    for rows, floor in zip(files, floors or [None] * len(files), strict=True):
        # Each row's F1 if answered and if withheld, computed once; the sweep is then plain array arithmetic.
        answered = np.array(_answered_f1(rows))
        withheld = np.array([0.0 if row.question.answers else 1.0 for row in rows])
        row_scores = np.array([row.score if row.answer is not None else -1.0 for row in rows])
        keeps = row_scores[None, :] >= candidates[:, None]
        file_f1 = np.where(keeps, answered[None, :], withheld[None, :]).mean(axis=1)
        mean_f1 += file_f1 / len(files)
        if floor is not None:
            allowed &= 100 * file_f1 >= floor - 1e-9
    if allowed.any():
        mean_f1 = np.where(allowed, mean_f1, -np.inf)
    best = np.flatnonzero(mean_f1 >= mean_f1.max() - 1e-12)
    return float(candidates[best].min())


def pipeline_report(rows: list[PipelineRow], threshold: float) -> dict[str, Any]:
    """`pipeline_scores` at the threshold, plus the F1 the pipeline would get if it never abstained.

    With unanswerable questions it also gives the AUC of the answer/no-answer decision and the
    accuracy/coverage curve (no-answer accuracy and HasAns F1 at several thresholds).
    """
    result = pipeline_scores(rows, threshold)
    result["f1_never_abstaining"] = pipeline_scores(rows, 0.0)["f1"]
    answerable = [bool(row.question.answers) for row in rows]
    if not all(answerable) and any(answerable):
        scores = [row.score if row.answer is not None else 0.0 for row in rows]
        result["auc"] = answerability_auc(scores, answerable)
        result["curve"] = abstention_curve(scores, _answered_f1(rows), answerable)
    return result


def evaluate_pipeline(answerer: QuestionAnswerer, questions: list[ArticleQuestion],
                      progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """EM/F1 (x100) of the full pipeline at its threshold, plus F1 when it never abstains."""
    return pipeline_report(answer_all(answerer, questions, progress), answerer.threshold)
