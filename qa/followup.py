"""Rewrite a chat follow-up ("what did he say?", "and Melitopol?") into a standalone question."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PERSON_PRONOUNS = {"he": "", "him": "", "she": "", "her": "'s", "his": "'s", "hers": "'s"}
THING_PRONOUNS = {"it": "", "its": "'s", "they": "", "them": "", "their": "'s", "this": "", "that": ""}
PLACE_WORDS = {"there"}
ELLIPSIS = re.compile(r"^\s*(?:and|what about|how about|and what about)\s+(.+?)\s*\??\s*$", re.IGNORECASE)
NAME = re.compile(r"\b(?:[A-Z][\w'’-]*)(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’-]*)*")
WORD = re.compile(r"\b[\w']+\b")
QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "which", "whom", "whose", "did", "does",
                  "do", "is", "are", "was", "were", "can", "could", "will", "would", "should", "has",
                  "have", "had", "and", "the", "a", "an", "in", "on", "i", "according"}


@dataclass(frozen=True)
class Turn:
    """A previous exchange: the standalone question asked and the answer given (None if none)."""

    question: str
    answer: str | None


def _names(text: str) -> list[str]:
    """Capitalised multi-word names, skipping a capitalised question word at the start."""
    names = []
    for match in NAME.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in QUESTION_WORDS:
            words = words[1:]
        if words:
            names.append(" ".join(words))
    return names


def _looks_like_person(name: str) -> bool:
    return len(name.split()) >= 2 and all(word[:1].isupper() for word in name.split())


def _referent(history: Sequence[Turn], person: bool) -> str | None:
    """The most recent entity: answers first (they are what the user just read), then questions."""
    for turn in reversed(history):
        candidates = []
        if turn.answer:
            candidates.append(turn.answer.strip())
        candidates.extend(reversed(_names(turn.question)))
        for candidate in candidates:
            if not person or _looks_like_person(candidate) or candidate == (turn.answer or "").strip():
                return candidate
    return None


def _place(history: Sequence[Turn]) -> str | None:
    for turn in reversed(history):
        match = re.search(r"\b(?:in|at|from|near|to)\s+((?:the\s+)?[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*)",
                          turn.question)
        if match:
            return match.group(1)
        if turn.answer and turn.answer[:1].isupper():
            return turn.answer
    return None


def _replace_pronouns(question: str, history: Sequence[Turn]) -> str:
    def substitute(match: re.Match[str]) -> str:
        word = match.group(0)
        lower = word.lower()
        if lower in PERSON_PRONOUNS:
            referent = _referent(history, person=True)
            suffix = PERSON_PRONOUNS[lower]
        elif lower in PLACE_WORDS:
            place = _place(history)
            if place is None:
                return word
            after_preposition = re.search(r"\b(?:in|at|from|to|near|into|over)\s*$", question[: match.start()],
                                          re.IGNORECASE)
            return place if after_preposition else f"in {place}"
        elif lower in THING_PRONOUNS and _is_pronoun_use(question, match):
            referent = _referent(history, person=False)
            suffix = THING_PRONOUNS[lower]
        else:
            return word
        return f"{referent}{suffix}" if referent else word

    return re.sub(r"\b[A-Za-z]+\b", substitute, question)


def _is_pronoun_use(question: str, match: re.Match[str]) -> bool:
    """'that' and 'this' are pronouns only when no noun follows ("that city" is a determiner)."""
    if match.group(0).lower() not in {"that", "this"}:
        return True
    rest = question[match.end():].strip()
    following = WORD.match(rest)
    return following is None or following.group(0).lower() in {"is", "was", "mean", "means", "happen",
                                                                "happened", "about"}


def _resolve_ellipsis(fragment: str, history: Sequence[Turn]) -> str | None:
    previous = history[-1].question
    names = _names(previous)
    if names:
        target = names[-1]
        index = previous.rfind(target)
        return previous[:index] + fragment + previous[index + len(target):]
    return None


def is_follow_up(question: str) -> bool:
    words = {w.lower() for w in WORD.findall(question)}
    return bool(ELLIPSIS.match(question)) or bool(words & (set(PERSON_PRONOUNS) | PLACE_WORDS | {
        "it", "its", "they", "them", "their"})) or bool(
        re.search(r"\b(?:that|this)\s*(?:[?.!]|$)", question, re.IGNORECASE))


def standalone_question(question: str, history: Sequence[Turn]) -> str:
    """The follow-up rewritten with earlier questions and answers; self-contained questions unchanged."""
    question = question.strip()
    if not history or not is_follow_up(question):
        return question
    ellipsis = ELLIPSIS.match(question)
    if ellipsis:
        resolved = _resolve_ellipsis(ellipsis.group(1).strip(), history)
        if resolved:
            return resolved
    return _replace_pronouns(question, history)
