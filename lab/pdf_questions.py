"""Questions on PDFs with the page that answers them: answer F1 and whether the cited page is right.

A question file is JSON lines: `{"file", "question", "answers": [...], "page", "also_pages"?}`; an empty
`answers` list (page null) marks a question the PDF does not answer (tests/fixtures/pdf/questions.jsonl).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.metrics import best_over, f1, is_right, squad_scores
from qa.pipeline import Answer


@dataclass(frozen=True)
class PdfQuestion:
    file: str
    question: str
    answers: tuple[str, ...]
    page: int | None
    also_pages: tuple[int, ...] = ()

    @property
    def pages(self) -> set[int]:
        return {self.page, *self.also_pages} if self.page is not None else set()


def read_questions(path: Path) -> list[PdfQuestion]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [PdfQuestion(r["file"], r["question"], tuple(r["answers"]), r["page"], tuple(r.get("also_pages", ())))
            for r in rows]


def evaluate(ask: Callable[[PdfQuestion], Answer], questions: Sequence[PdfQuestion]) -> dict[str, Any]:
    """SQuAD scores, and among answerable questions answered: how often the cited page is right.

    `page_right` counts a citation whose starting page is the question's page (or one of `also_pages`),
    among every answered answerable question (a wrong answer found elsewhere is cited where it was found,
    so this also counts the reader's mistakes); `page_right_when_right` among the right answers (F1 > 0.5):
    whether a right answer is placed on the right page. `refused_answerable` is the share of answerable
    questions with no answer (the costliest error).
    """
    answers = [ask(question) for question in questions]
    scores = squad_scores([a.answer for a in answers], [list(q.answers) for q in questions])
    answered = [(q, a) for q, a in zip(questions, answers, strict=True) if q.answers and a.answer is not None]
    right_page = [a.citations[0].location.page in q.pages for q, a in answered]
    answerable = [q for q in questions if q.answers]
    wrong_pages = [{"question": q.question, "answer": a.answer, "cited": a.citations[0].location.page,
                    "page": q.page, "f1": round(100 * best_over(f1, a.answer or "", q.answers), 1)}
                   for (q, a), ok in zip(answered, right_page, strict=True) if not ok]
    correct = [ok for (q, a), ok in zip(answered, right_page, strict=True) if is_right(a.answer or "", q.answers)]
    return {**scores, "answered": len(answered), "answerable": len(answerable), "right": len(correct),
            "page_right": 100.0 * sum(right_page) / len(right_page) if right_page else 0.0,
            "page_right_when_right": 100.0 * sum(correct) / len(correct) if correct else 0.0,
            "refused_answerable": 100.0 * (len(answerable) - len(answered)) / len(answerable) if answerable else 0.0,
            "wrong_pages": wrong_pages}
