"""Synthetic "no answer" examples for reader training: wrong paragraphs and questions made unanswerable."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.chunk import Span
    from lab.squad import SquadAnswer


@dataclass(frozen=True)
class NegativeMix:
    """How often each kind of "no answer" example is added, per question that has an answer.

    sibling: a random other paragraph of the same article (easy: usually off-topic).
    retrieved: the other paragraph of the article that BM25 ranks first for the question, the kind
        of wrong passage the pipeline's retrieval hands the reader.
    answer_removed: the question's own paragraph without the sentences that hold the answer.
    entity_swapped: the question with one of its names or numbers replaced by another from the
        same article that its paragraph never mentions, over that paragraph (SQuAD 2.0's most
        common kind of unanswerable question).
    negated: the question with its auxiliary verb negated ("was" -> "was not"), over its paragraph
        (SQuAD 2.0's negation kind).
    antonym: the question with one word swapped for its antonym ("largest" -> "smallest") that the
        paragraph never uses, over its paragraph (SQuAD 2.0's antonym kind).
    Kinds at 0 draw nothing from the random generator, so an order made before a kind existed is
    made again unchanged (the calibration hold-out depends on that).
    """

    sibling: float = 0.1
    retrieved: float = 0.0
    answer_removed: float = 0.0
    entity_swapped: float = 0.0
    negated: float = 0.0
    antonym: float = 0.0

    def __post_init__(self) -> None:
        for name, ratio in vars(self).items():
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"{name} negatives ratio must be within [0, 1], got {ratio}")

    def describe(self) -> str:
        return ", ".join(f"{name} {ratio}" for name, ratio in vars(self).items() if ratio)


class ArticleNegatives:
    """Makes the "no answer" examples for the questions of one article."""

    def __init__(self, contexts: list[str], mix: NegativeMix) -> None:
        self.contexts = contexts
        self.mix = mix
        self._lexical: Any = None
        self._names: list[str] | None = None
        self._sentences: dict[str, list[Span]] = {}

    def for_question(self, question: str, own: str, answer: SquadAnswer,
                     rng: random.Random) -> Iterator[tuple[str, str]]:
        """(question, context) pairs that `own`'s answer does not answer, drawn by the mix's odds."""
        # the sibling draw comes first and is made exactly as before the other kinds existed
        if len(self.contexts) > 1 and rng.random() < self.mix.sibling:
            negative = _sibling_without_answer(self.contexts, own, answer.text, rng)
            if negative is not None:
                yield question, negative
        if self.mix.retrieved and rng.random() < self.mix.retrieved:
            negative = self._retrieved_without_answer(question, own, answer.text)
            if negative is not None:
                yield question, negative
        if self.mix.answer_removed and rng.random() < self.mix.answer_removed:
            negative = _without_answer_sentences(own, answer, self.sentences(own))
            if negative is not None:
                yield question, negative
        if self.mix.entity_swapped and rng.random() < self.mix.entity_swapped:
            swapped = _swap_entity(question, own, self.names(), rng)
            if swapped is not None:
                yield swapped, own
        if self.mix.negated and rng.random() < self.mix.negated:
            negated = negate(question)
            if negated is not None:
                yield negated, own
        if self.mix.antonym and rng.random() < self.mix.antonym:
            flipped = swap_antonym(question, own)
            if flipped is not None:
                yield flipped, own

    def _retrieved_without_answer(self, question: str, own: str, answer: str) -> str | None:
        if self._lexical is None:
            import numpy as np

            from index.lexical import LexicalIndex

            self._lexical = LexicalIndex.build(np.arange(len(self.contexts)), self.contexts)
        needle = answer.lower()
        for position, _ in self._lexical.search(question, k=4):
            candidate = self.contexts[position]
            if candidate != own and needle not in candidate.lower():
                return candidate
        return None

    def sentences(self, context: str) -> list[Span]:
        """The paragraph's sentences, split once however many of its questions need them."""
        if context not in self._sentences:
            from index.chunk import split_sentences

            self._sentences[context] = split_sentences(context)
        return self._sentences[context]

    def names(self) -> list[str]:
        if self._names is None:
            found = {match.group() for context in self.contexts for match in _NAME_OR_NUMBER.finditer(context)}
            self._names = sorted(found)
        return self._names


def _sibling_without_answer(
    contexts: list[str], own: str, answer_text: str, rng: random.Random
) -> str | None:
    needle = answer_text.lower()
    for _ in range(5):
        candidate = rng.choice(contexts)
        if candidate != own and needle not in candidate.lower():
            return candidate
    return None


def _without_answer_sentences(context: str, answer: SquadAnswer, sentences: list[Span]) -> str | None:
    """The paragraph without the sentences that overlap the answer, unless the answer is still in it."""
    answer_end = answer.start + len(answer.text)
    kept = [span.text_of(context) for span in sentences if span.end <= answer.start or span.start >= answer_end]
    remainder = " ".join(kept)
    if not kept or answer.text.lower() in remainder.lower():
        return None
    return remainder


_NAME_OR_NUMBER = re.compile(r"\b(?:[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*|\d[\d,.]*\d|\d)\b")


def _swap_entity(question: str, context: str, names: list[str], rng: random.Random) -> str | None:
    """Replace a name or number the question shares with its paragraph by one the paragraph lacks."""
    shared = [m for m in _NAME_OR_NUMBER.finditer(question) if m.start() > 0 and m.group() in context]
    if not shared:
        return None
    target = rng.choice(shared)
    numeric = target.group()[0].isdigit()
    replacements = [name for name in names
                    if name[0].isdigit() == numeric and name not in context and name not in question]
    if not replacements:
        return None
    return question[: target.start()] + rng.choice(replacements) + question[target.end() :]


_AUXILIARY = re.compile(
    r"\b(is|are|was|were|did|does|do|can|could|will|would|has|have|had|should|must|may|might)\b(?!\s+not\b)",
    re.IGNORECASE,
)


_WH_BEFORE = re.compile(r"\b(?:what|who|whom|whose|when|where|which|why|how)\b(?:\s+\S+){0,2}\s+$", re.IGNORECASE)


def negate(question: str) -> str | None:
    """Negate the question's first auxiliary verb after its first word; None when it has none.

    "Who was the first mayor?" -> "Who was not the first mayor?"; "What did the port handle?" ->
    "What did the port not handle?". The paragraph then states the opposite of what is asked, the cue
    SQuAD 2.0's negation questions carry.
    """
    if re.search(r"\b(not|never|n't)\b", question, re.IGNORECASE):
        return None
    match = next((m for m in _AUXILIARY.finditer(question) if _WH_BEFORE.search(question, 0, m.start())), None)
    if match is None:
        return None
    # do-support puts the negation before the main verb, which ends a question; other auxiliaries take it directly
    rest = question[match.end():]
    words = list(re.finditer(r"\S+", rest))
    if match.group().lower() in {"did", "does", "do"}:
        if not 2 <= len(words) <= 3:  # "did the port handle?": a longer clause may not end with its verb
            return None
        last = words[-1]
        return question[: match.end()] + rest[: last.start()] + "not " + rest[last.start():]
    return question[: match.end()] + " not" + rest


_ANTONYM_PAIRS = (
    ("largest", "smallest"), ("biggest", "smallest"), ("highest", "lowest"), ("longest", "shortest"),
    ("earliest", "latest"), ("oldest", "newest"), ("most", "least"), ("more", "less"),
    ("before", "after"), ("increase", "decrease"), ("increased", "decreased"), ("north", "south"),
    ("east", "west"), ("northern", "southern"), ("eastern", "western"), ("maximum", "minimum"),
    ("major", "minor"), ("above", "below"), ("win", "lose"), ("won", "lost"),
    ("began", "ended"), ("best", "worst"), ("higher", "lower"), ("larger", "smaller"), ("early", "late"),
    ("rich", "poor"), ("positive", "negative"), ("inside", "outside"), ("public", "private"),
    ("ancient", "modern"), ("strong", "weak"), ("legal", "illegal"), ("successful", "unsuccessful"),
    ("allowed", "forbidden"), ("accepted", "rejected"), ("supported", "opposed"), ("common", "rare"),
)
ANTONYMS = {a: b for pair in _ANTONYM_PAIRS for a, b in (pair, pair[::-1])}
_WORD = re.compile(r"[A-Za-z]+")


def swap_antonym(question: str, context: str) -> str | None:
    """Swap the question's first word that has an antonym the paragraph never uses; None when none has."""
    used = {word.lower() for word in _WORD.findall(context)}
    for match in _WORD.finditer(question):
        word = match.group()
        opposite = ANTONYMS.get(word.lower())
        if opposite is None or opposite in used:
            continue
        if word[0].isupper():
            opposite = opposite.capitalize()
        return question[: match.start()] + opposite + question[match.end():]
    return None
