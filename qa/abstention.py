"""Whether the documents answer: a small logistic model over the reader's and the retrieval's evidence.

The reader's own margin (best span against "no answer" in one passage) cannot see that the question
names something its sentence does not, or that several passages disagree; a calibrator over features
of the question, the span, its sentence and the other candidates can (Kamath, Jia & Liang, 2020).
Its weights are fitted by `citeqa calibrate-answerability` and live beside the reader's weights,
since they describe that reader's margins.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from qa.reader import AnswerSpan
from qa.squad_metrics import normalize_answer

ANSWERABILITY_FILE = "answerability.json"
FEATURES = (
    "margin",  # the best span's margin over "no answer", prior included
    "first_margin",  # the best margin found in the best-ranked passage alone
    "vote_share",  # share of all candidates' odds that say the winning answer
    "log_rank",  # ln(1 + retrieval rank) of the winner's passage
    "words_in_sentence",  # share of the question's content words found in the answer's sentence(s)
    "words_in_document",  # ... and anywhere in the document
    "names_missing_sentence",  # the question's names and numbers missing from the answer's sentence(s)
    "names_missing_document",  # ... and from the whole document
    "answer_in_question",  # share of the answer's words the question already uses
)
MARGIN_CLIP = 20.0
_STOPWORDS = frozenset(STOPWORDS_EN)
_WORD = re.compile(r"\w+")
_NAME_OR_NUMBER = re.compile(r"\b(?:[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*|\d[\d,.]*\d|\d)\b")


def _stem(word: str) -> str:
    # a five-letter prefix matches "founded"/"founder"/"founding" without a stemmer dependency
    return word[:5]


def content_words(text: str) -> set[str]:
    """Lower-cased, stemmed words of `text` that are not stop words."""
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def _share_found(words: set[str], text_words: set[str]) -> float:
    return sum(w in text_words for w in words) / len(words) if words else 1.0


def _names(question: str) -> list[str]:
    # a capitalised first word is only the start of a sentence
    return [m.group() for m in _NAME_OR_NUMBER.finditer(question) if m.start() > 0]


def features(question: str, best: AnswerSpan, spans: Sequence[AnswerSpan], first_margin: float,
             sentence: str, document_words: set[str], document_text: str) -> np.ndarray:
    """The feature vector of FEATURES for the winning span `best` among all candidate `spans`."""
    key = normalize_answer(best.text) or best.text
    odds = [math.exp(min(span.margin, 50.0)) for span in spans]
    agreeing = sum(o for span, o in zip(spans, odds, strict=True) if (normalize_answer(span.text) or span.text) == key)
    question_words = content_words(question)
    answer_words = content_words(best.text)
    names = _names(question)
    values = (
        max(-MARGIN_CLIP, min(MARGIN_CLIP, best.margin)),
        max(-MARGIN_CLIP, min(MARGIN_CLIP, first_margin)),
        agreeing / sum(odds) if odds else 0.0,
        math.log1p(best.passage_index),
        _share_found(question_words, content_words(sentence)),
        _share_found(question_words, document_words),
        float(min(3, sum(name not in sentence for name in names))),
        float(min(3, sum(name not in document_text for name in names))),
        _share_found(answer_words, question_words) if answer_words else 0.0,
    )
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class AnswerabilityModel:
    """p(answer correct) = sigmoid(weights . (x - mean) / scale + bias)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def __post_init__(self) -> None:
        if not len(self.mean) == len(self.scale) == len(self.weights) == len(FEATURES):
            raise ValueError(f"an answerability model needs {len(FEATURES)} weights, means and scales")

    def probability(self, x: np.ndarray) -> float:
        z = float(np.dot(self.weights, (x - np.array(self.mean)) / np.array(self.scale))) + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    @classmethod
    def load(cls, folder: Path) -> AnswerabilityModel | None:
        """The model fitted for the reader in `folder`, or None when it has none."""
        path = folder / ANSWERABILITY_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path} was fitted on other features; refit it with `citeqa calibrate-answerability`")
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]), float(data["bias"]))

    def to_json(self, fitted_on: str) -> str:
        return json.dumps({"features": FEATURES, "mean": self.mean, "scale": self.scale, "weights": self.weights,
                           "bias": self.bias, "fitted_on": fitted_on}, indent=2)


def fit_answerability(x: np.ndarray, correct: np.ndarray, regularisation: float = 1.0) -> AnswerabilityModel:
    """L2-regularised logistic regression of "the best span is right" on standardised features."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    model = LogisticRegression(C=regularisation, max_iter=1000).fit((x - mean) / scale, correct)
    return AnswerabilityModel(tuple(mean.tolist()), tuple(scale.tolist()), tuple(model.coef_[0].tolist()),
                              float(model.intercept_[0]))
