"""End-to-end evaluation on SQuAD-format files: each article is one stored document."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.documents import make_document, slugify
from index.store import PassageStore
from qa.pipeline import QuestionAnswerer
from qa.squad_metrics import best_over, exact_match, f1


@dataclass(frozen=True)
class ArticleQuestion:
    """A question on one article, with gold spans as offsets into the joined article text."""

    id: str
    document_id: str
    question: str
    answers: list[str]
    spans: list[tuple[int, int]]


def load_articles(path: Path) -> tuple[list[tuple[str, str, str]], list[ArticleQuestion]]:
    """(documents as (id, title, text), questions) with paragraphs joined by a blank line."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    documents, questions = [], []
    for article in data:
        document_id = slugify(article["title"])
        parts, offset = [], 0
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa["answers"]
                questions.append(ArticleQuestion(
                    qa["id"], document_id, qa["question"], [a["text"] for a in answers],
                    [(offset + a["answer_start"], offset + a["answer_start"] + len(a["text"])) for a in answers],
                ))
            parts.append(context)
            offset += len(context) + 2
        documents.append((document_id, article["title"].replace("_", " "), "\n\n".join(parts)))
    return documents, questions


def ingest_articles(store: PassageStore, documents: list[tuple[str, str, str]]) -> None:
    store.add_many([make_document(text, document_id=i, title=t) for i, t, text in documents], progress=True)


def retrieval_recall(store: PassageStore, questions: list[ArticleQuestion],
                     ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, dict[str, float]]:
    """Share of answerable questions whose gold span lies inside a top-k chunk, per search mode."""
    answerable = [q for q in questions if q.spans]
    result: dict[str, dict[str, float]] = {}
    for mode in ("dense", "lexical", "hybrid"):
        hits_at = {k: 0 for k in ks}
        for question in answerable:
            hits = store.search(question.question, k=max(ks), document_ids=[question.document_id], mode=mode)
            for k in ks:
                if any(h.start <= s and e <= h.end for h in hits[:k] for s, e in question.spans):
                    hits_at[k] += 1
        result[mode] = {f"recall@{k}": hits_at[k] / max(1, len(answerable)) for k in ks}
    return result


def evaluate_pipeline(answerer: QuestionAnswerer, questions: list[ArticleQuestion],
                      progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """EM/F1 (x100) of the full pipeline, asking each question against its own article."""
    exact, overlap, has_f1, no_correct = [], [], [], []
    for number, question in enumerate(questions):
        answer = answerer.run(question.question, [question.document_id])
        text = answer.answer or ""
        exact.append(best_over(exact_match, text, question.answers))
        overlap.append(best_over(f1, text, question.answers))
        if question.answers:
            has_f1.append(overlap[-1])
        else:
            no_correct.append(float(answer.answer is None))
        if progress:
            progress(number + 1)
    result: dict[str, Any] = {"exact_match": 100 * float(np.mean(exact)), "f1": 100 * float(np.mean(overlap)),
                              "count": len(questions)}
    if no_correct:
        result["no_answer_accuracy"] = 100 * float(np.mean(no_correct))
        result["has_answer_f1"] = 100 * float(np.mean(has_f1)) if has_f1 else 0.0
    return result
