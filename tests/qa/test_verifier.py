"""The verifier's features and its fitted model, on hand-made spans (no model needed: features are plain text rules)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.base import StoredChunk
from index.chunk import Span
from index.layout import Layout, Section
from index.retrieval import SearchHit
from qa.pipeline import vote_by_answer
from qa.reader import AnswerSpan, ReaderOutput
from qa.verifier import FEATURES, VERIFIER_FILE, Verifier, answer_features

TEXT = "Mount Kelra is a volcano on the island of Osk. It last erupted in 1821, burying the village of Tarn."


def read_hit(start: int, text: str, sentences: list[Span], dense: float | None, lexical: float | None) -> SearchHit:
    """A hit whose chunk is read as it is (context = chunk)."""
    chunk = StoredChunk(1, "doc", start, start + len(text), text, start, text, tuple(sentences))
    return SearchHit(chunk, dense, lexical, 0.0)


def passage(dense: float | None = 0.6, lexical: float | None = 4.0) -> SearchHit:
    return read_hit(100, TEXT, [Span(100, 146), Span(147, 100 + len(TEXT))], dense, lexical)


def span(text: str, margin: float = 3.0, index: int = 0) -> AnswerSpan:
    start = 100 + TEXT.index(text)
    return AnswerSpan("doc", start, start + len(text), text, 0.7, margin, index)


def features(question: str, *spans: AnswerSpan, passages: list[SearchHit] | None = None) -> dict[str, float]:
    """The features of the spans as the pipeline passes them: voted, one span per answer."""
    voted = vote_by_answer(ReaderOutput(list(spans), 1.0)).spans
    values = answer_features(question, voted, passages or [passage()])
    return dict(zip(FEATURES, values.tolist(), strict=True))


def test_a_name_or_number_the_cited_sentences_lack_is_counted() -> None:
    assert features("When did Mount Kelra last erupt?", span("1821"))["names_missing"] == 0.0
    assert features("When did Mount Fuji last erupt?", span("1821"))["names_missing"] == 1.0
    assert features("What erupted in 1821?", span("Mount Kelra"))["numbers_missing"] == 0.0
    assert features("What erupted in 1822?", span("Mount Kelra"))["numbers_missing"] == 1.0


def test_negation_and_answer_type_mismatches() -> None:
    assert features("When did Mount Kelra not erupt?", span("1821"))["negation_mismatch"] == 1.0
    assert features("When did Mount Kelra erupt?", span("1821"))["negation_mismatch"] == 0.0
    assert features("How many villages were buried?", span("Tarn"))["type_mismatch"] == 1.0
    assert features("In what year did it erupt?", span("1821"))["type_mismatch"] == 0.0
    assert features("Who lived in the village?", span("volcano"))["type_mismatch"] == 1.0


def test_agreement_overlap_and_retrieval_features() -> None:
    agreeing = features("When did it erupt?", span("1821", 3.0), span("1821", 2.0, index=1), span("Tarn", 1.0),
                        passages=[passage(), passage(0.3, None)])
    alone = features("When did it erupt?", span("1821", 3.0), span("Tarn", 2.9))
    # The vote pooled the two "1821" spans into one answer: its share is of the answers' best spans' odds.
    assert agreeing["vote_share"] == pytest.approx(math.exp(3.0) / (math.exp(3.0) + math.exp(1.0)))
    assert agreeing["vote_share"] > alone["vote_share"]
    assert agreeing["margin_gap"] == pytest.approx(2.0) and alone["margin_gap"] == pytest.approx(0.1)
    assert agreeing["dense_top"] == pytest.approx(0.6)
    matching = features("Which village did the eruption of Mount Kelra bury?", span("Tarn"))
    assert matching["question_in_passage"] > features("Which town did the flood reach?", span("Tarn"))[
        "question_in_passage"]
    assert features("Which village was Tarn?", span("Tarn"))["answer_in_question"] == 1.0
    assert features("Which unknown zorblax glimmered?", span("Tarn"))["question_missing_everywhere"] == 3.0


def test_probability_follows_the_fitted_weights(tmp_path: Path) -> None:
    size = len(FEATURES)
    coef = np.zeros(size)
    coef[FEATURES.index("margin")] = 1.0
    verifier = Verifier(np.zeros(size), np.ones(size), coef, -1.0)
    low, high = np.zeros(size), np.zeros(size)
    high[FEATURES.index("margin")] = 4.0
    assert verifier.probability(low) == pytest.approx(1 / (1 + np.exp(1.0)))
    assert verifier.probability(high) > verifier.probability(low)
    (tmp_path / VERIFIER_FILE).write_text(verifier.to_json("hand-made"))
    loaded = Verifier.load(tmp_path)
    assert loaded is not None and loaded.probability(high) == pytest.approx(verifier.probability(high))


def test_no_file_means_no_verifier_and_a_stale_file_is_refused(tmp_path: Path) -> None:
    assert Verifier.load(tmp_path) is None
    size = len(FEATURES)
    record = json.loads(Verifier(np.zeros(size), np.ones(size), np.zeros(size), 0.0).to_json("x"))
    record["features"] = record["features"][:-1]
    (tmp_path / VERIFIER_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match="other features"):
        Verifier.load(tmp_path)


NEWS = ("Deputy Defence Minister Hanna Malyar spoke on Friday. She said troops had advanced 2 km. "
        "In a Telegram post, she claimed the attack had worked.\n\nA separate report named General Ivan Petrov. "
        "He said the line held.")


def news_passage() -> SearchHit:
    bounds = [(0, 53), (54, 88), (89, 143), (145, 189), (190, 212)]
    return read_hit(0, NEWS, [Span(s, e) for s, e in bounds], 0.6, 4.0)


def news_span(text: str) -> AnswerSpan:
    start = NEWS.index(text)
    return AnswerSpan("doc", start, start + len(text), text, 0.7, 3.0, 0)


def test_a_name_stated_earlier_in_the_paragraph_is_not_missing() -> None:
    """News names its subject once, then says "she": a name up to two sentences before the cited one counts
    as present (across a blank line only when the cited sentence refers back); further back it is missing."""
    passages = [news_passage()]
    where = features("Where did Hanna Malyar make her claim?", news_span("Telegram"), passages=passages)
    assert where["names_missing"] == 0.0
    far = features("Where did Hanna Malyar say the line held?", news_span("the line held"), passages=passages)
    assert far["names_missing"] == 2.0  # her name is three sentences before "He said the line held"
    swapped = features("Where did Olena Kuts make her claim?", news_span("Telegram"), passages=passages)
    assert swapped["names_missing"] == 2.0


def test_the_document_title_counts_as_context() -> None:
    """A manual names its product once, in its title; the cited sentence says "it"."""
    text = "Charge it for four hours before the first ride. It reaches 25 km/h with the motor's help."
    chunk = StoredChunk(1, "doc", 0, len(text), text, 0, text, (Span(0, 47), Span(48, len(text))))
    question = "Up to what speed does the Ridgeway E-City 2 help its rider?"
    start = text.index("25 km/h")
    best = AnswerSpan("doc", start, start + 7, "25 km/h", 0.7, 3.0, 0)

    def seen(title: str) -> dict[str, float]:
        return features(question, best, passages=[SearchHit(replace(chunk, document_title=title), 0.6, 4.0, 0.0)])

    untitled, titled = seen(""), seen("Ridgeway E-City 2: questions and answers")
    assert (untitled["names_missing"], untitled["numbers_missing"]) == (3.0, 1.0)  # Ridgeway, E, City; 2
    assert (titled["names_missing"], titled["numbers_missing"]) == (0.0, 0.0)
    assert titled["question_in_sentence"] > untitled["question_in_sentence"]
    assert seen("Lakeside bus timetable")["names_missing"] == 3.0  # another title names nothing asked


def test_the_headings_above_a_span_count_as_context() -> None:
    """A manual names the command in its section's heading; the cited line gives only the option."""
    text = "Usage: FILE. -c, --check checks the syntax only."
    chunk = StoredChunk(1, "doc", 0, len(text), text, 0, text, (Span(0, 12), Span(13, len(text))))
    question = "What does the -c option of asn1Parser do?"
    start = text.index("checks the syntax only")
    best = AnswerSpan("doc", start, start + 22, "checks the syntax only", 0.7, 3.0, 0)

    def seen(*path: str) -> dict[str, float]:
        sections = (Section(0, len(text), path),) if path else ()
        return features(question, best, passages=[SearchHit(replace(chunk, layout=Layout(sections=sections)), 0.6,
                                                            4.0, 0.0)])

    plain, under = seen(), seen("3 Utilities", "3.1 Invoking asn1Parser")
    assert under["question_in_sentence"] > plain["question_in_sentence"]
    assert under["names_missing"] <= plain["names_missing"]
    assert seen("4 Function reference")["question_in_sentence"] == plain["question_in_sentence"]


@pytest.mark.parametrize(("heading", "counted"), [
    ("How much does the Ridgeway bike weigh?", True),  # an FAQ's question, heading its answer
    ("Weight of the Ridgeway bike", True),
    ("The Ridgeway bike is sold in two sizes.", False),  # a sentence, not a heading
])
def test_a_heading_line_above_the_paragraph_counts_as_context(heading: str, counted: bool) -> None:
    """Plain text marks no sections: a short line above the paragraph, without a full stop, heads it."""
    body = "A complete bike weighs 23.5 kg including the battery."  # refers back to nothing
    text = f"{heading}\n\n{body}"
    start = text.index("23.5 kg")
    sentences = (Span(0, len(heading)), Span(text.index(body), len(text)))
    chunk = StoredChunk(1, "doc", 0, len(text), text, 0, text, sentences)
    best = AnswerSpan("doc", start, start + 7, "23.5 kg", 0.7, 3.0, 0)
    question = "How much does the Ridgeway bike weigh?"
    alone = StoredChunk(1, "doc", 0, len(body), body, 0, body, (Span(0, len(body)),))
    plain = features(question, replace(best, start=body.index("23.5 kg"), end=body.index("23.5 kg") + 7),
                     passages=[SearchHit(alone, 0.6, 4.0, 0.0)])
    headed = features(question, best, passages=[SearchHit(chunk, 0.6, 4.0, 0.0)])
    assert (headed["question_in_sentence"] > plain["question_in_sentence"]) is counted
    assert (headed["names_missing"] < plain["names_missing"]) is counted


@pytest.mark.parametrize(("next_paragraph", "missing"), [
    ("'But we would lose a lot of people.'", 0.0),  # the speaker's next words: a quote, in the first person
    ("Analysts expect the army to lose a lot of people.", 1.0),  # another subject: the name is missing
])
def test_a_quote_in_the_first_person_rests_on_the_speaker_named_before(next_paragraph: str, missing: float) -> None:
    first = "'We can go forward,' President Volodymyr Zelensky said."
    text = f"{first}\n\n{next_paragraph}"
    chunk = StoredChunk(1, "doc", 0, len(text), text, 0, text,
                        (Span(0, len(first)), Span(text.index(next_paragraph), len(text))))
    start = text.index("a lot of people")
    best = AnswerSpan("doc", start, start + len("a lot of people"), "a lot of people", 0.7, 3.0, 0)
    seen = features("What would they lose, according to Zelensky?", best, passages=[SearchHit(chunk, 0.6, 4.0, 0.0)])
    assert seen["names_missing"] == missing


def _sentence_spans(text: str) -> tuple[Span, ...]:
    """Each line a sentence, and each '. ' inside a line ends one (enough for these texts)."""
    spans, start = [], 0
    for line in text.split("\n"):
        position = start
        for piece in line.split(". "):
            if piece:
                spans.append(Span(position, position + len(piece) + (1 if piece != line.split(". ")[-1] else 0)))
            position += len(piece) + 2
        start += len(line) + 1
    return tuple(spans)


@pytest.mark.parametrize(("text", "answer", "counted"), [
    # A label at the start of its line: the line after it says what it is.
    ("Two ways:\n- Natural release: leave the valve. It falls in 10 minutes. Use this for foamy foods.\n"
     "- Quick release: turn the valve.", "Natural release", True),
    # A lead-in ending with a colon: the lines under it go on.
    ("Integrity (SI): Organizations must:\n(i) correct flaws;\n(ii) stop malware in foamy foods; and\n(iii) log.",
     "Integrity", True),
    # A glossary's term on a line of its own: the paragraph under it defines it.
    ("Cybersecurity Event\n\nA change.\n\nFoamy Incident\n\nAn event. It calls for foamy foods.",
     "Foamy Incident", True),
    # Not a label (no colon after it, or words before it on its line): one sentence after, as before.
    ("Natural release is slow. It falls in 10 minutes. Use this for foamy foods.", "Natural release", False),
    ("We use natural release: leave the valve. It falls in 10 minutes. Use this for foamy foods.",
     "natural release", False),
])
def test_a_label_rests_on_the_line_it_labels(text: str, answer: str, counted: bool) -> None:
    chunk = StoredChunk(1, "doc", 0, len(text), text, 0, text, _sentence_spans(text))
    start = text.index(answer)
    best = AnswerSpan("doc", start, start + len(answer), answer, 0.7, 3.0, 0)
    seen = features("Which method suits foamy foods?", best, passages=[SearchHit(chunk, 0.6, 4.0, 0.0)])
    assert (seen["question_in_sentence"] >= 0.5) is counted
