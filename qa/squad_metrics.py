"""Exact match and F1 exactly as the official SQuAD v1.1/v2.0 evaluation scripts compute them."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse white space."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str) -> float:
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(truth).split()
    if not predicted or not gold:  # SQuAD v2: both empty counts as a match
        return float(predicted == gold)
    common = Counter(predicted) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def best_over(metric: object, prediction: str, truths: Sequence[str]) -> float:
    """The best score of prediction against any gold answer ("" when there is none)."""
    golds = [t for t in truths if normalize_answer(t)] or [""]
    return max(metric(prediction, truth) for truth in golds)  # type: ignore[operator]
