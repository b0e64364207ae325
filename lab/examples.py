"""The reader's training examples: SQuAD questions plus synthetic negatives in a seeded order, and their file."""

from __future__ import annotations

import json
import logging
import lzma
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.negatives import ArticleNegatives, NegativeMix
from lab.squad import SquadArticle, read_squad

log = logging.getLogger(__name__)


@dataclass
class SquadExample:
    """One question over one context; answer_start -1 means unanswerable."""

    question: str
    context: str
    answer_start: int
    answer_text: str


def build_examples(articles: list[SquadArticle], mix: NegativeMix, rng: random.Random) -> list[SquadExample]:
    """Flatten articles into examples (first gold answer), adding "no answer" negatives of the kinds in `mix`."""
    examples: list[SquadExample] = []
    for article in articles:
        negatives = ArticleNegatives([paragraph.context for paragraph in article.paragraphs], mix)
        for paragraph in article.paragraphs:
            for qa in paragraph.questions:
                if not qa.answers:
                    examples.append(SquadExample(qa.question, paragraph.context, -1, ""))
                    continue
                answer = qa.answers[0]
                examples.append(SquadExample(qa.question, paragraph.context, answer.start, answer.text))
                examples.extend(SquadExample(question, context, -1, "")
                                for question, context in negatives.for_question(qa.question, paragraph.context,
                                                                                answer, rng))
    return examples


def shuffled_examples(data_path: Path, negatives: NegativeMix, seed: int) -> list[SquadExample]:
    """All examples with negatives, in the run's seeded order (later runs can skip what was seen)."""
    rng = random.Random(seed)
    examples = build_examples(read_squad(data_path), negatives, rng)
    rng.shuffle(examples)
    return examples


def mixed_with_real_unanswerable(examples: list[SquadExample], path: Path, negatives: NegativeMix, seed: int,
                                 repeat: int = 1, hold_out: Sequence[str] = ()) -> list[SquadExample]:
    """Add a SQuAD 2.0-format file (real unanswerable questions), repeated, minus held-out articles.

    Crowd-written unanswerable questions are the only negatives that are exactly what users meet, and
    they are few, so they are repeated; articles held out stay unseen for calibration and checks.
    """
    rng = random.Random(seed + 1)
    articles = [a for a in read_squad(path) if a.title not in hold_out]
    extra = build_examples(articles, negatives, rng)
    combined = examples + extra * max(1, repeat)
    rng.shuffle(combined)
    log.info("%d examples from %d articles of %s, x%d", len(extra), len(articles), path.name, repeat)
    return combined


def save_examples(examples: Sequence[SquadExample], path: Path, about: dict[str, Any]) -> None:
    """Examples as one xz-compressed JSON file, each distinct context written once."""
    contexts: dict[str, int] = {}
    rows = [[e.question, contexts.setdefault(e.context, len(contexts)), e.answer_start, e.answer_text]
            for e in examples]
    with lzma.open(path, "wt", encoding="utf-8", preset=9) as handle:
        json.dump({**about, "contexts": list(contexts), "examples": rows}, handle)


def load_examples(path: Path) -> list[SquadExample]:
    with lzma.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    contexts = data["contexts"]
    return [SquadExample(question, contexts[cid], start, text) for question, cid, start, text in data["examples"]]


def write_examples(data: Path, mix: NegativeMix, seed: int, out: Path) -> None:
    """Build a training order (`citeqa train-reader`'s examples, negatives and seed) into one carried file."""
    built = shuffled_examples(data, mix, seed)
    save_examples(built, out, {"mix": vars(mix), "seed": seed})
    log.info("%d examples written to %s", len(built), out)
