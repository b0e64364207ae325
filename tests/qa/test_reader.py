"""The shipped reader: exact offsets (emoji, accents), stride over long passages, no-answer scores."""

from __future__ import annotations

import pytest

from qa.reader import (
    AnswerSpan,
    Calibration,
    Passage,
    Reader,
    completed,
    merge_spans,
    whole_words,
    without_stray_marks,
)
from runtime.models import reader_forward
from runtime.policy import cpu_supports_fast_bf16, resolve_precision

STORY = "The lighthouse keeper on the island is named Ambrose Quill. He has lived there since 1987."


def test_spans_round_trip_to_document_text_with_emoji_and_accents(reader: Reader) -> None:
    prefix = "Préface 😀😀 — café, naïve, Zoë 🇫🇷 𝒳. "
    document = "Intro line.\n\n" + prefix + STORY
    start = document.index(prefix)
    passage = Passage("doc", start, document[start:])
    output = reader.run("Who is the lighthouse keeper?", [passage])
    best = output.spans[0]
    assert document[best.start : best.end] == best.text
    assert "Ambrose Quill" in best.text
    for span in output.spans:
        assert document[span.start : span.end] == span.text


def test_long_passage_is_read_with_a_stride(reader: Reader) -> None:
    filler = " ".join(f"Sentence {i} is about weather in town {i}." for i in range(150))
    document = filler + " " + STORY
    assert len(reader.tokenizer(document)["input_ids"]) > 3 * reader.max_length
    output = reader.run("Who is the lighthouse keeper?", [Passage("long", 0, document)])
    best = output.spans[0]
    assert best.text == "Ambrose Quill"
    assert document[best.start : best.end] == "Ambrose Quill"


def test_duplicate_spans_from_overlapping_passages_merge(reader: Reader) -> None:
    document = "Opening words here. " + STORY + " Closing words."
    first = Passage("doc", 0, document[: document.index(" He has")])
    second = Passage("doc", document.index("The lighthouse"), document[document.index("The lighthouse"):])
    output = reader.run("Who is the lighthouse keeper?", [first, second], top_k=10)
    keys = [(s.document_id, s.start, s.end) for s in output.spans]
    assert len(keys) == len(set(keys))
    assert output.spans[0].text == "Ambrose Quill"


def test_scores_are_probabilities_and_unrelated_text_scores_low(reader: Reader) -> None:
    good = reader.run("Who is the lighthouse keeper?", [Passage("d", 0, STORY)])
    bad = reader.run("Who won the 2022 World Cup?", [Passage("d", 0, STORY)])
    assert 0.0 <= bad.spans[0].score <= 1.0 and 0.0 <= good.spans[0].score <= 1.0
    assert good.spans[0].score > bad.spans[0].score
    assert bad.no_answer_score > good.no_answer_score


def test_answer_length_is_limited(reader: Reader) -> None:
    short = Reader(reader.model_path, max_answer_tokens=2)
    output = short.run("What has he done since 1987?", [Passage("d", 0, STORY)], top_k=20)
    assert all(len(short.tokenizer(s.text, add_special_tokens=False)["input_ids"]) <= 2 for s in output.spans)


def test_bf16_and_fp32_agree_on_the_top_span(reader: Reader) -> None:
    fp32 = Reader(reader.model_path, reader_forward(reader.model_path, precision="fp32"))
    bf16 = Reader(reader.model_path, reader_forward(reader.model_path, precision="bf16"))
    question = "Who is the lighthouse keeper?"
    assert fp32.run(question, [Passage("d", 0, STORY)]).spans[0].text == \
        bf16.run(question, [Passage("d", 0, STORY)]).spans[0].text


def test_validation_and_calibration() -> None:
    with pytest.raises(FileNotFoundError):
        Reader("/nonexistent")  # type: ignore[arg-type]
    assert Calibration(1.0, 0.0).probability(0.0) == 0.5
    assert Calibration(1.0, 0.0).probability(1000.0) == pytest.approx(1.0)
    assert resolve_precision("torch", "fp32") == "fp32"


def test_a_onednn_cap_below_bf16_means_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    # A CPU check alone would pick bf16 on this machine under an AVX2 cap, where oneDNN then emulates it.
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    uncapped = cpu_supports_fast_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_supports_fast_bf16() is False
    assert resolve_precision("torch", "auto") == "fp32"
    for cap in ("ALL", "avx512_core_bf16", "AVX512_CORE_AMX"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert cpu_supports_fast_bf16() is uncapped


def test_a_passage_prior_shifts_every_margin_by_exactly_that_much(reader: Reader) -> None:
    plain = reader.run("Who is the lighthouse keeper?", [Passage("d", 0, STORY)], top_k=3)
    penalised = reader.run("Who is the lighthouse keeper?", [Passage("d", 0, STORY, prior=-2.0)], top_k=3)
    assert [s.text for s in penalised.spans] == [s.text for s in plain.spans]
    for before, after in zip(plain.spans, penalised.spans, strict=True):
        assert after.margin == pytest.approx(before.margin - 2.0, abs=1e-4)
        assert after.score < before.score


def test_merge_spans_keeps_the_best_copy_and_ranks_by_margin() -> None:
    # Plain data, no model: merge_spans is pure bookkeeping over spans from separate reads.
    low = AnswerSpan("d", 0, 5, "Alpha", 0.4, 1.0, 0)
    same_higher = AnswerSpan("d", 0, 5, "Alpha", 0.6, 2.0, 1)
    other = AnswerSpan("d", 6, 10, "beta", 0.5, 1.5, 1)
    merged = merge_spans([low, other, same_higher], top_k=5)
    assert merged.spans == [same_higher, other]
    assert merged.no_answer_score == pytest.approx(0.4)
    assert merge_spans([], top_k=5).spans == []


def test_no_span_runs_across_a_blank_line(reader: Reader) -> None:
    """The headline question: read alone, the first chunk once gave "Luhansk on Friday.\\n\\n...retaken Bakhmut"."""
    text = ("Two explosions were reported in Russian-occupied Luhansk on Friday.\n\nUkrainian forces make gains in "
            "multiple locations, but full victory uncertain.\n\nUkraine claims to have retaken Bakhmut, a rare advance "
            "after months of grinding Russian gains in the eastern city.")
    output = reader.run("Which city did Ukraine claim to have retaken?", [Passage("d", 0, text)], top_k=10)
    assert output.spans and all("\n\n" not in span.text for span in output.spans)
    assert output.spans[0].text == "Bakhmut"


@pytest.mark.parametrize(("text", "picked", "widened"), [
    ("check the pkix.asn file", "pkix", "pkix.asn"),
    ("from the user.mime_type attribute", "mime_type", "user.mime_type"),
    ("Since: 1.6 asn1", "6", "1.6"),
    ("the ASN1_MAX_NAME_SIZE value", "MAX", "ASN1_MAX_NAME_SIZE"),
    ("write to help-libtasn1@gnu.org now.", "help-libtasn1", "help-libtasn1@gnu.org"),
    ("in the 1990s", "1990", "1990s"),
    ("mail help-libtasn1@gnu.org.", "help", "help-libtasn1@gnu.org"),
    ("see <https://www.gnu.org/software/libtasn1/> for more", "gnu", "https://www.gnu.org/software/libtasn1/"),
    ("Subcategory ID.RA-2: threat intelligence", "RA-2", "ID.RA-2"),  # a code with a dot between capitals
    ("see ISO 31000:2009 for terms", "31000", "31000:2009"),  # and a number with a colon
    ("at 10:30 on Friday", "30", "10:30"),
    # Boundaries that stay: a sentence missing its space, a slash or hyphen between words, a sentence's end.
    ("stories.Political geographers", "Political", "Political"),
    ("the Thai/Japanese alliance", "Thai", "Thai"),
    ("an anti-war march.", "war", "war"),
    ("it ended.", "ended", "ended"),
    ("updated in February 2013³ by NIST", "February 2013", "February 2013"),  # a footnote mark is not the year's
    ("an area of 120 km² in all", "120 km", "120 km²"),  # but a unit's power is the unit's
])
def test_an_answer_never_cuts_a_name_in_two(text: str, picked: str, widened: str) -> None:
    start = text.index(picked)
    wide_start, wide_end = whole_words(text, start, start + len(picked))
    assert text[wide_start:wide_end] == widened


@pytest.mark.parametrize(("span", "kept"), [
    ("inode’", "inode"),  # DocBook quotes with ’ on both sides; the reader took the closing one
    ("’inode’", "inode"),
    ('"?1', "?1"),
    ("(1990", "1990"),
    ("February 2013³", "February 2013"),  # a footnote mark the reader read as part of the number
    ("XDG Base Directory Specification[BaseDir]", "XDG Base Directory Specification"),  # a reference mark
    # Pairs the span holds whole, and apostrophes inside words, stay.
    ('"Koori"', '"Koori"'),
    ("(NFL)", "(NFL)"),
    ("Russia’s", "Russia’s"),
    ("rock ’n’ roll", "rock ’n’ roll"),
    ("[BaseDir]", "[BaseDir]"),
    ("120 km²", "120 km²"),  # a unit's power, not a footnote mark
    ("the U.S. Army", "the U.S. Army"),
])
def test_an_answer_drops_a_quote_or_bracket_it_does_not_open_and_close(span: str, kept: str) -> None:
    text = f"see {span} here"
    start, end = without_stray_marks(text, 4, 4 + len(span))
    assert text[start:end] == kept


@pytest.mark.parametrize(("text", "span", "shown"), [
    ("pushed forward 2 kilometres (1.2 miles) in a week", "2 kilometres (1.2 miles", "2 kilometres (1.2 miles)"),
    ("the “Bakhmut meat” grinder", "the “Bakhmut meat", "the “Bakhmut meat”"),
    ("a taxi between 10 p.m. and 6 a.m.", "10 p.m", "10 p.m."),  # an abbreviation keeps its last dot
    ("sold in the U.S. since 2001", "the U.S", "the U.S."),
    # Closed only right after the span; a dot after a number or a word ends the sentence.
    ("2 kilometres (1.2 miles in all) in a week", "2 kilometres (1.2 miles", "2 kilometres (1.2 miles"),
    ("the final score was 3.", "3", "3"),
    ("it ended.", "ended", "ended"),
])
def test_the_chosen_answer_is_completed_as_shown(text: str, span: str, shown: str) -> None:
    start = text.index(span)
    start, end = completed(text, start, start + len(span))
    assert text[start:end] == shown
