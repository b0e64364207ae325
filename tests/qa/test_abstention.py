"""Answerability features and the logistic model over them (hand-made spans: the rule, not the reader)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.abstention import FEATURES, AnswerabilityModel, content_words, features, fit_answerability
from qa.reader import AnswerSpan

DOCUMENT = "Rotterdam is the largest port in Europe. It handled 470 million tonnes of cargo in 2019."
SENTENCE = "It handled 470 million tonnes of cargo in 2019."


def span(text: str, margin: float, passage_index: int = 0) -> AnswerSpan:
    start = DOCUMENT.index(text)
    return AnswerSpan("d", start, start + len(text), text, 0.5, margin, passage_index)


def vector(question: str, best: AnswerSpan, spans: list[AnswerSpan]) -> dict[str, float]:
    x = features(question, best, spans, best.margin, SENTENCE, content_words(DOCUMENT), DOCUMENT)
    return dict(zip(FEATURES, x.tolist(), strict=True))


def test_a_name_the_document_lacks_is_counted_missing() -> None:
    best = span("470 million tonnes", 3.0)
    asked = vector("How much cargo did Rotterdam handle in 2019?", best, [best])
    swapped = vector("How much cargo did Antwerp handle in 2019?", best, [best])
    assert asked["names_missing_document"] == 0 and swapped["names_missing_document"] == 1
    assert asked["names_missing_sentence"] == 1  # "Rotterdam" is in the document, not in the answer's sentence
    assert asked["words_in_document"] > swapped["words_in_document"]


def test_vote_share_is_the_winning_answers_share_of_all_odds() -> None:
    best, same, other = span("470 million tonnes", 2.0), span("470 million", 2.0), span("2019", 2.0)
    assert vector("How much?", best, [best, other])["vote_share"] == pytest.approx(0.5)
    assert vector("How much?", best, [best])["vote_share"] == pytest.approx(1.0)
    assert same.text != best.text  # different spans with different answers do not pool
    assert vector("How much?", best, [best, same, other])["vote_share"] == pytest.approx(1 / 3)


def test_a_fitted_model_ranks_by_its_features_and_survives_a_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES)))
    correct = x[:, 0] + 0.2 * rng.normal(size=400) > 0  # only the margin decides
    model = fit_answerability(x, correct)
    high, low = np.zeros(len(FEATURES)), np.zeros(len(FEATURES))
    high[0], low[0] = 2.0, -2.0
    assert model.probability(high) > 0.9 > 0.1 > model.probability(low)
    (tmp_path / "answerability.json").write_text(model.to_json("test"))
    loaded = AnswerabilityModel.load(tmp_path)
    assert loaded is not None and loaded.probability(high) == pytest.approx(model.probability(high))
    assert AnswerabilityModel.load(tmp_path / "missing") is None


def test_a_model_fitted_on_other_features_is_refused(tmp_path) -> None:
    model = fit_answerability(np.eye(len(FEATURES)).repeat(4, axis=0), np.arange(4 * len(FEATURES)) % 2 == 0)
    (tmp_path / "answerability.json").write_text(model.to_json("test").replace('"margin"', '"old"'))
    with pytest.raises(ValueError, match="other features"):
        AnswerabilityModel.load(tmp_path)
