"""Rewrite a chat follow-up ("what did he say?", "and Melitopol?") into a standalone question.

Everything here is linear in its input and looks at a bounded history, because the text comes from
clients: only the last `MAX_TURNS` turns are consulted, each cut to `MAX_TURN_CHARS` characters, and
no pattern can backtrack over a run of spaces more than once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PERSON_PRONOUNS = {"he": "", "him": "", "she": "", "her": "'s", "his": "'s", "hers": "'s"}
THING_PRONOUNS = {"it": "", "its": "'s", "they": "", "them": "", "their": "'s", "this": "", "that": ""}
PLACE_WORDS = {"there"}
PREPOSITIONS = {"in", "at", "from", "to", "near", "into", "over"}
# A follow-up refers to what was just said; older turns only cost time and invite wrong referents.
MAX_TURNS = 6
MAX_TURN_CHARS = 1_000
# Only the lead-in is matched by a pattern; the fragment after it is cut with string methods, since
# `(.+?)\s*\??\s*$` backtracks cubically over a run of spaces.
ELLIPSIS_LEAD = re.compile(r"\s*(?:and what about|what about|how about|and)\s+", re.IGNORECASE)
NAME = re.compile(r"\b(?:[A-Z][\w'’-]*)(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’-]*)*")
PLACE = re.compile(r"\b(?:in|at|from|near|to)\s+((?:the\s+)?[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*)")
WORD = re.compile(r"\b[\w']+\b")
ASCII_WORD = re.compile(r"\b[A-Za-z]+\b")
SPACES = re.compile(r"\s*")
# "Who is X?" asks what X is: its answer describes X (a role, a title), and "she" later means X.
IDENTITY_LEAD = re.compile(r"\s*(?:who|what)\s+(?:is|was|are|were)\s+", re.IGNORECASE)
BARE_DEMONSTRATIVE = re.compile(r"\b(?:that|this)\s*(?:[?.!]|$)", re.IGNORECASE)
FOLLOW_UP_WORDS = set(PERSON_PRONOUNS) | PLACE_WORDS | {"it", "its", "they", "them", "their"}
QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "which", "whom", "whose", "did", "does",
                  "do", "is", "are", "was", "were", "can", "could", "will", "would", "should", "has",
                  "have", "had", "and", "the", "a", "an", "in", "on", "i", "according"}


@dataclass(frozen=True)
class Turn:
    """A previous exchange: the standalone question asked and the answer given (None if none)."""

    question: str
    answer: str | None


def _recent(history: Sequence[Turn]) -> list[Turn]:
    """The turns a follow-up may refer to, each cut to a bounded length."""
    return [Turn(turn.question[:MAX_TURN_CHARS], turn.answer[:MAX_TURN_CHARS] if turn.answer else turn.answer)
            for turn in history[-MAX_TURNS:]]


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


def _identity_subject(question: str) -> str | None:
    """The X of "Who is X?" when X is a person's name, else None."""
    lead = IDENTITY_LEAD.match(question)
    if not lead:
        return None
    subject = question[lead.end():].strip().rstrip("?").strip()
    return subject if _names(subject) == [subject] and _looks_like_person(subject) else None


def _referent(history: Sequence[Turn], person: bool) -> str | None:
    """The most recent entity: answers first (they are what the user just read), then questions.

    A person is the answer of a "who did ..." question, but the subject of a "who is X" one: its answer
    ("Deputy Defence Minister") says what X is, and is not whom "she" means.
    """
    for turn in reversed(history):
        candidates = []
        subject = _identity_subject(turn.question) if person else None
        if subject:
            candidates.append(subject)
        elif turn.answer:
            candidates.append(turn.answer.strip())
        candidates.extend(reversed(_names(turn.question)))
        for candidate in candidates:
            if not person or _looks_like_person(candidate) or candidate == (turn.answer or "").strip():
                return candidate
    return None


def _place(history: Sequence[Turn]) -> str | None:
    for turn in reversed(history):
        match = PLACE.search(turn.question)
        if match:
            return match.group(1)
        if turn.answer and turn.answer[:1].isupper():
            return turn.answer
    return None


class _Referents:
    """The person, thing and place of a history, each found once and only if a pronoun needs it."""

    def __init__(self, history: Sequence[Turn]) -> None:
        self.history = history
        self.found: dict[str, str | None] = {}

    def get(self, kind: str) -> str | None:
        if kind not in self.found:
            self.found[kind] = (_place(self.history) if kind == "place"
                                else _referent(self.history, person=kind == "person"))
        return self.found[kind]


def _replace_pronouns(question: str, history: Sequence[Turn]) -> str:
    """Each pronoun replaced by what it refers to; a person is named once, at the first pronoun, and the
    later ones ("Where did she make her claim?") then refer to that name within the question."""
    referents = _Referents(history)
    pieces: list[str] = []
    written = 0
    previous: re.Match[str] | None = None
    person_named = False
    for match in ASCII_WORD.finditer(question):
        word = match.group(0)
        lower = word.lower()
        replacement: str | None = None
        if lower in PERSON_PRONOUNS and not person_named:
            referent = referents.get("person")
            suffix = "" if lower == "her" and not _noun_follows(question, match) else PERSON_PRONOUNS[lower]
            replacement = f"{referent}{suffix}" if referent else None
            person_named = replacement is not None
        elif lower in PLACE_WORDS:
            place = referents.get("place")
            if place is not None:
                after_preposition = (previous is not None and previous.group(0).lower() in PREPOSITIONS
                                     and not question[previous.end():match.start()].strip())
                replacement = place if after_preposition else f"in {place}"
        elif lower in THING_PRONOUNS and _is_pronoun_use(question, match):
            referent = referents.get("thing")
            replacement = f"{referent}{THING_PRONOUNS[lower]}" if referent else None
        if replacement is not None:
            pieces.append(question[written:match.start()])
            pieces.append(replacement)
            written = match.end()
        previous = match
    pieces.append(question[written:])
    return "".join(pieces)


# Words after "her" that show it is an object ("asked her about"), not a possessive ("her claim").
NOT_A_NOUN = PREPOSITIONS | {"about", "and", "or", "for", "with", "on", "by", "of", "that", "if", "when", "to"}


def _noun_follows(question: str, match: re.Match[str]) -> bool:
    spaces = SPACES.match(question, match.end())
    start = spaces.end() if spaces else match.end()
    following = WORD.match(question[start:start + 32])
    return following is not None and following.group(0).lower() not in NOT_A_NOUN


def _is_pronoun_use(question: str, match: re.Match[str]) -> bool:
    """'that' and 'this' are pronouns only when no noun follows ("that city" is a determiner)."""
    if match.group(0).lower() not in {"that", "this"}:
        return True
    spaces = SPACES.match(question, match.end())
    start = spaces.end() if spaces else match.end()
    # A window is enough: only short words are compared, and a cut long word still differs from them.
    following = WORD.match(question[start:start + 32])
    return following is None or following.group(0).lower() in {"is", "was", "mean", "means", "happen",
                                                                "happened", "about"}


def _ellipsis_fragment(question: str) -> str | None:
    """The X of "and X?" / "what about X?", or None when the question is not such an ellipsis."""
    lead = ELLIPSIS_LEAD.match(question)
    if not lead:
        return None
    fragment = question[lead.end():].rstrip()
    if fragment.endswith("?"):
        fragment = fragment[:-1].rstrip()
    return fragment if fragment and "\n" not in fragment else None


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
    return (_ellipsis_fragment(question) is not None or bool(words & FOLLOW_UP_WORDS)
            or bool(BARE_DEMONSTRATIVE.search(question)))


def standalone_question(question: str, history: Sequence[Turn]) -> str:
    """The follow-up rewritten with earlier questions and answers; self-contained questions unchanged."""
    question = question.strip()
    if not history or not is_follow_up(question):
        return question
    recent = _recent(history)
    fragment = _ellipsis_fragment(question)
    if fragment:
        resolved = _resolve_ellipsis(fragment, recent)
        if resolved:
            return resolved
    return _replace_pronouns(question, recent)


def resolve_conversation(question: str, turns: Sequence[Turn]) -> str:
    """The last question made standalone, each earlier question first resolved against its own past.

    Only the turns the last question can see matter, and each of those only needs the ones before it
    within the same window, so the work is bounded whatever the length of the conversation.
    """
    window = turns[-2 * MAX_TURNS:]
    resolved: list[Turn] = []
    for turn in window:
        resolved.append(Turn(standalone_question(turn.question[:MAX_TURN_CHARS], resolved), turn.answer))
    return standalone_question(question, resolved)
