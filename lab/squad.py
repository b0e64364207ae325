"""Read SQuAD v1.1/v2.0 files into articles, paragraphs and questions: the lab's one SQuAD parser."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SquadAnswer:
    """A gold answer: its text and where it starts in its paragraph (code points)."""

    text: str
    start: int


@dataclass(frozen=True)
class SquadQuestion:
    """A question; no answers means unanswerable (SQuAD 2.0's `is_impossible`)."""

    id: str
    question: str
    answers: tuple[SquadAnswer, ...]


@dataclass(frozen=True)
class SquadParagraph:
    context: str
    questions: tuple[SquadQuestion, ...]


@dataclass(frozen=True)
class SquadArticle:
    title: str
    paragraphs: tuple[SquadParagraph, ...]


def read_squad(path: Path, max_articles: int | None = None) -> list[SquadArticle]:
    """The articles of a SQuAD-format JSON file (gzipped when it ends in .gz); the first N when asked."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return parse_articles(json.load(handle)["data"][:max_articles])


def parse_articles(data: list[dict[str, Any]]) -> list[SquadArticle]:
    """SQuAD's `data` list as articles."""
    return [SquadArticle(article["title"], tuple(_paragraph(p) for p in article["paragraphs"])) for article in data]


def _paragraph(paragraph: dict[str, Any]) -> SquadParagraph:
    return SquadParagraph(paragraph["context"], tuple(
        SquadQuestion(qa.get("id", ""), qa["question"], () if qa.get("is_impossible") else tuple(
            SquadAnswer(answer["text"], answer["answer_start"]) for answer in qa.get("answers", ())))
        for qa in paragraph["qas"]
    ))
