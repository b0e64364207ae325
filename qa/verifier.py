"""The answer verifier: is the reader's best span a right answer, judged from more than its margin.

The reader's margin says how much better the span is than "no answer" within one window; it does not
see that a question names a person, number or negation the cited sentence lacks, which is how most
unanswerable questions differ from answerable ones (Rajpurkar et al., 2018), nor whether retrieval
found a close passage or other passages agree. A logistic model over such features (Kamath, Jia &
Liang, 2020) turns them into the probability that the answer is right; the no-answer threshold
applies to that probability.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.base import StoredChunk
from index.chunk import PARAGRAPH_BREAK, is_heading, paragraph_spans
from index.retrieval import SearchHit
from qa.logistic import odds, sigmoid
from qa.reader import AnswerSpan

VERIFIER_FILE = "verifier.json"
# The verifier looks at the best spans only: agreement further down the ranking adds nothing measurable.
SPANS_SEEN = 5

FEATURES = (
    "margin", "margin_gap", "vote_share", "passage_rank", "answer_words", "answer_in_question",
    "question_in_sentence", "question_in_sentences_around", "question_in_passage", "question_missing_everywhere",
    "names_missing", "numbers_missing", "negation_mismatch", "type_mismatch", "dense_top", "dense_answer",
    "lexical_answer",
)

# Which way each feature can move the chance of a right answer, by what it means (+1 up, -1 down; absent:
# either, e.g. passage overlap, which matters as a contrast with the sentence's). The fit keeps these signs,
# so a correlation in one data set (SQuAD 2.0's unanswerable questions reuse their paragraph's names) cannot
# teach it that a question naming what the documents never mention is likelier answered.
DIRECTION = {
    "margin": 1, "margin_gap": 1, "vote_share": 1, "answer_in_question": -1, "question_in_sentence": 1,
    "question_in_sentences_around": 1, "question_missing_everywhere": -1, "names_missing": -1,
    "numbers_missing": -1, "negation_mismatch": -1, "type_mismatch": -1, "dense_top": 1, "dense_answer": 1,
    "lexical_answer": 1,
}

_WORD = re.compile(r"\w+")
_NEGATIONS = frozenset({"not", "never", "no", "nor", "without", "none", "cannot", "nt", "n't"})
# Question words whose answer is a number or date, and the words that say so ("how many", "what year").
_NUMERIC = re.compile(r"\b(how (many|much|long|old|far|large|big|tall|high|often)|what (year|percentage|"
                      r"percent|number|date|century|decade|day|month|time)|when|which year|in what year)\b")
_PERSON = re.compile(r"^\s*(who|whom|whose)\b")


@functools.cache
def stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, imported on first use: scikit-learn takes over a second to
    import, which commands that never answer should not pay (`Verifier.load` asks for them)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def _stem(word: str) -> str:
    """A crude singular: 'troops' and 'troop' match; enough for overlap, not for linguistics."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str) -> set[str]:
    stops = stop_words()
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in stops}


def _names(question: str) -> set[str]:
    """Capitalised question words after the first: names, places, titles."""
    words, stops = _WORD.findall(question), stop_words()
    return {_stem(w.lower()) for w in words[1:] if w[0].isupper() and w.lower() not in stops}


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:[.,]\d+)*", text))


# A cited sentence that refers back ("he", "its", "the ministry") names its subject in an earlier sentence; so
# does one in the first person or opening a quote ("'But we'd lose a lot of people,'" after "..., Zelensky said"):
# news gives a speaker's next words a paragraph of their own.
_REFERS_BACK = re.compile(r"\b(he|she|it|they|him|her|them|his|its|their|hers|theirs|this|these|those|we|us|"
                          r"our)\b|(^|[.;:]\s+)the\s+[a-z]|(?-i:\bI\b)|^['\"‘“]", re.IGNORECASE)
# A span that labels its line ("Natural release: ...") rests on up to this many sentences after it.
LABEL_SENTENCES = 6
_LIST_MARK = re.compile(r"[ \t]*(?:[-*•–]|\(?(?:\d{1,2}|[a-z]|[ivx]{1,4})[.)])?[ \t]*")
_LABEL_END = re.compile(r"[ \t]*(?:\([^()\n]{1,16}\))?[ \t]*(?::|[–—]|-[ \t])")
# Sentences before the cited one that always count as its context (news names a subject once, then "he").
PRECEDING_SENTENCES = 2


def _sentences(chunk: StoredChunk, start: int, end: int) -> tuple[str, str]:
    """The sentence(s) covering [start, end) with what they rest on, and that with the sentence after.

    What they rest on: up to PRECEDING_SENTENCES sentences before them in the same paragraph; when they
    refer back with a pronoun or a definite subject ("He told NV that ..." after "Musivenko said ..."), also
    across blank lines, since news gives most sentences a paragraph of their own. A question's words stated
    there are present, as a reader of the text would take them. A label opening its line ("- Natural release:
    leave the valve ...") rests on the rest of that line, a lead-in ending with a colon on the lines under it,
    and a heading line that is the whole span on the paragraph under it (`_label`; at most LABEL_SENTENCES
    sentences): manuals, standards and glossaries state there what the label is.
    """
    spans, context, offset = list(chunk.sentences), chunk.context_text, chunk.context_start
    inside = [i for i, s in enumerate(spans) if s.start < end and s.end > start]
    if not inside:
        return context, context

    def text(a: int, b: int) -> str:
        return context[spans[a].start - offset : spans[b].end - offset]

    def joined(a: int, b: int) -> bool:  # the two neighbouring sentences share a paragraph
        return not PARAGRAPH_BREAK.search(context, spans[a].end - offset, spans[b].start - offset)

    refers_back = bool(_REFERS_BACK.search(text(inside[0], inside[-1])))
    first = inside[0]
    while first > 0 and inside[0] - first < PRECEDING_SENTENCES and (refers_back or joined(first - 1, first)):
        first -= 1
    covered = inside[-1]
    label = _label(context, start - offset, end - offset)
    if label:
        # A label's line is what it means ("- Natural release: leave the valve ... Use this method for foamy
        # foods."), and a lead-in ending in a colon goes on in the lines under it ("System and Information
        # Integrity (SI): Organizations must:" then "(ii) provide protection from malicious code ..."); a
        # heading that is the whole span (a glossary's term) is what the paragraph under it defines.
        line_end = context.find("\n", end - offset)
        lead_in = label == "heading"
        while covered + 1 < len(spans) and covered - inside[-1] < LABEL_SENTENCES and (
                joined(covered, covered + 1) or (label == "heading" and covered == inside[-1])):
            on_line = line_end < 0 or spans[covered + 1].start - offset < line_end
            lead_in = lead_in or (not on_line and text(inside[-1], covered).rstrip().endswith(":"))
            if not (on_line or lead_in):
                break
            covered += 1
    last = covered + 1 if covered + 1 < len(spans) and joined(covered, covered + 1) else covered
    return text(first, covered), text(first, last)


def _label(context: str, start: int, end: int) -> str | None:
    """"line" when the span opens its line, after a list mark at most, and a colon or dash follows it ("- Natural
    release: leave the valve...", "System and Information Integrity (SI): Organizations must:"); "heading" when
    it is a whole heading line ("Cybersecurity Incident" above its definition); else None."""
    line_start = context.rfind("\n", 0, start) + 1
    if not _LIST_MARK.fullmatch(context, line_start, start):
        return None
    if _LABEL_END.match(context, end):
        return "line"
    line_end = context.find("\n", end)  # a heading has a paragraph under it, after a blank line
    if line_end < 0 or context[end:line_end].strip(" \t:.") or not PARAGRAPH_BREAK.match(context, line_end):
        return None
    return "heading" if is_heading(context[line_start:line_end]) else None


def heading_above(chunk: StoredChunk, position: int) -> str:
    """The nearest heading line (`index.chunk.is_heading`) above `position` in the chunk's context, or ""."""
    context, end = chunk.context_text, position - chunk.context_start
    above = (span.text_of(context) for span in reversed(paragraph_spans(context)) if span.end <= end)
    return next((paragraph for paragraph in above if is_heading(paragraph)), "")


def _share(words: set[str], found_in: set[str]) -> float:
    return len(words & found_in) / len(words) if words else 1.0


def answer_features(question: str, spans: Sequence[AnswerSpan], hits: Sequence[SearchHit]) -> np.ndarray:
    """The FEATURES of the best (first) span, from the question, the voted spans and the hits read (in the
    reader's passage order: a span's `passage_index` is its hit's; each was read as its chunk's context).

    `spans` are the answers as `qa.pipeline.vote_by_answer` ranks them, one span per answer, so every span
    after the first is another answer: `margin_gap` is the lead over the runner-up, `vote_share` the best
    span's odds among the top SPANS_SEEN answers' (each answer's best span; copies pooled by the vote are
    not counted again).
    """
    spans = spans[:SPANS_SEEN]
    best = spans[0]
    hit = hits[best.passage_index]
    span_odds = [odds(span.margin) for span in spans]
    covering, sentence = _sentences(hit.chunk, best.start, best.end)  # with what it rests on; and the next one
    # The document's title, and the headings of the section the span sits in (a PDF's outline, a Word file's
    # headings), are context every sentence under them rests on: a manual names its product and a command once,
    # there, and its sentences say "it" or give only the option.
    headings = " \n".join((hit.chunk.document_title, *(hit.chunk.layout.section_at(best.start) or ()),
                           heading_above(hit.chunk, best.start)))
    heading_words = content_words(headings)
    covering_words, sentence_words = content_words(covering) | heading_words, content_words(sentence) | heading_words
    passage_words = content_words(hit.chunk.context_text)
    everywhere = set().union(*(content_words(h.chunk.context_text) for h in hits))
    asked, answer_words = content_words(question), content_words(best.text)
    names, numbers = _names(question), _numbers(question)
    lowered = question.lower()
    negated = bool(_NEGATIONS & set(_WORD.findall(lowered.replace("n't", " nt"))))
    sentence_negated = bool(_NEGATIONS & set(_WORD.findall(sentence.lower().replace("n't", " nt"))))
    type_mismatch = (bool(_NUMERIC.search(lowered)) and not re.search(r"\d", best.text)) or (
        bool(_PERSON.search(lowered)) and not any(c.isupper() for c in best.text))
    lexical = hit.lexical_score or 0.0
    values = {
        "margin": best.margin,
        "margin_gap": min(best.margin - spans[1].margin, 10.0) if len(spans) > 1 else 10.0,
        "vote_share": span_odds[0] / sum(span_odds),
        "passage_rank": math.log1p(best.passage_index),
        "answer_words": math.log1p(len(_WORD.findall(best.text))),
        "answer_in_question": _share(answer_words, asked) if answer_words else 0.0,
        "question_in_sentence": _share(asked, covering_words),
        "question_in_sentences_around": _share(asked, sentence_words),
        "question_in_passage": _share(asked, passage_words),
        "question_missing_everywhere": float(len(asked - everywhere)),
        "names_missing": float(len(names - sentence_words)),
        "numbers_missing": float(len(numbers - _numbers(sentence) - _numbers(headings))),
        "negation_mismatch": float(negated and not sentence_negated),
        "type_mismatch": float(type_mismatch),
        "dense_top": max((h.dense_score for h in hits if h.dense_score is not None), default=0.0),
        "dense_answer": hit.dense_score if hit.dense_score is not None else 0.0,
        "lexical_answer": lexical / max(len(asked), 1),
    }
    return np.array([values[name] for name in FEATURES], dtype=np.float64)


@dataclass(frozen=True)
class Verifier:
    """A fitted logistic model: p(right) = sigmoid(coef . (x - mean) / scale + intercept)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probability(self, features: np.ndarray) -> float:
        return sigmoid(float(self.coef @ ((features - self.mean) / self.scale)) + self.intercept)

    def to_json(self, fitted_on: str) -> str:
        return json.dumps({"features": list(FEATURES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                           "coef": self.coef.tolist(), "intercept": self.intercept, "fitted_on": fitted_on},
                          indent=1)

    @classmethod
    def load(cls, folder: Path) -> Verifier | None:
        """The verifier fitted for the reader in `folder`, or None when it has none (margin scores apply)."""
        path = folder / VERIFIER_FILE
        if not path.exists():
            return None
        stop_words()  # loaded with the verifier, so the first question does not wait for the import
        data = json.loads(path.read_text())
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path} was fitted on other features; refit it with `citeqa calibrate-verifier`")
        return cls(np.array(data["mean"]), np.array(data["scale"]), np.array(data["coef"]), float(data["intercept"]))
