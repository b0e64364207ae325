"""Sentence splitting and chunking keep exact code-point offsets, whatever the text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.chunk import MIN_CHUNK_TOKENS, Chunker, chunk_sentences, is_heading, split_sentences

PIECES = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(["😀", "👩‍👩‍👧", "中文。", "é", "ñ", " ", "\n", "\n\n", ".", "? ", "! ",
                     "Dr. ", "U.S. ", '"', "'", "…", "​", "\t", "Hello world. ", "It works! "]),
)
EXOTIC = st.lists(PIECES, max_size=120).map("".join)


def word_counter(texts):  # a simple counter keeps the property test fast; the real one is tested below
    return [max(1, len(text.split())) for text in texts]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXOTIC)
def test_sentences_are_exact_slices_in_order(text: str) -> None:
    sentences = split_sentences(text)
    previous_end = 0
    for sentence in sentences:
        assert 0 <= sentence.start < sentence.end <= len(text)
        assert sentence.start >= previous_end
        assert sentence.text_of(text) == text[sentence.start : sentence.end]
        assert sentence.text_of(text) == sentence.text_of(text).strip()
        previous_end = sentence.end
    covered = "".join(s.text_of(text) for s in sentences)
    assert "".join(covered.split()) == "".join(text.split())


@settings(max_examples=200, deadline=None)
@given(EXOTIC, st.integers(min_value=MIN_CHUNK_TOKENS, max_value=60))
def test_chunks_are_exact_and_cover_every_sentence(text: str, budget: int) -> None:
    _, chunks = Chunker(word_counter, budget).run(text)
    sentences = split_sentences(text)
    seen = set()
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.start == sentences[chunk.first_sentence].start
        assert chunk.end == sentences[chunk.last_sentence].end
        seen.update(range(chunk.first_sentence, chunk.last_sentence + 1))
    assert seen == set(range(len(sentences)))


def test_chunks_respect_budget_and_overlap_by_one_sentence() -> None:
    text = " ".join(f"Sentence number {i} says something short." for i in range(40))
    sentences = split_sentences(text)
    assert len(sentences) == 40
    chunks = chunk_sentences(text, sentences, [6] * 40, max_tokens=30)
    assert all(c.last_sentence - c.first_sentence + 1 <= 5 for c in chunks)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.first_sentence == before.last_sentence
    assert chunks[-1].last_sentence == 39


def test_chunks_never_join_part_of_one_paragraph_to_another() -> None:
    long_paragraph = " ".join(f"Long paragraph sentence {i} is here." for i in range(12))
    text = "Short one. Still short.\n\nAnother short one.\n\n" + long_paragraph + "\n\nTail paragraph."
    sentences = split_sentences(text)
    counts = [len(text[s.start:s.end].split()) for s in sentences]
    chunks = chunk_sentences(text, sentences, counts, max_tokens=20)
    paragraphs = [(0, 1), (2, 2), (3, 14), (15, 15)]
    for chunk in chunks:
        inside = [p for p in paragraphs if p[0] <= chunk.last_sentence and chunk.first_sentence <= p[1]]
        whole = all(chunk.first_sentence <= p[0] and p[1] <= chunk.last_sentence for p in inside)
        assert len(inside) == 1 or whole, f"chunk {chunk.index} cuts a paragraph and joins it to another"
    assert (chunks[0].first_sentence, chunks[0].last_sentence) == (0, 2)  # two short paragraphs packed
    assert (chunks[-1].first_sentence, chunks[-1].last_sentence) == (15, 15)


@pytest.mark.parametrize(("paragraph", "heading"), [
    ("How much does the bike weigh?", True),
    ("2.1 Charging the battery", True),
    ("Error codes:", True),
    ("The bike weighs 23.5 kg.", False),  # a sentence
    ("Choosing a location\nPlace the router high up", False),  # two lines: a paragraph
    ("Why " + "very " * 12 + "long?", False),  # too long for a heading
])
def test_a_heading_is_one_short_line_without_a_full_stop(paragraph: str, heading: bool) -> None:
    assert is_heading(paragraph) is heading


def chunks_of(text: str, max_tokens: int) -> list[str]:
    sentences = split_sentences(text)
    counts = [len(text[s.start:s.end].split()) for s in sentences]
    return [chunk.text for chunk in chunk_sentences(text, sentences, counts, max_tokens=max_tokens)]


def test_a_heading_goes_with_the_paragraph_under_it() -> None:
    text = ("How far can I ride?\n\nBetween 50 and 110 km on one charge.\n\nHow long does it take to charge?"
            "\n\nA full charge takes about 4.5 hours with the charger.")
    chunks = chunks_of(text, 20)
    # Packed by budget alone, the first chunk would end with the second question.
    assert chunks == ["How far can I ride?\n\nBetween 50 and 110 km on one charge.",
                      "How long does it take to charge?\n\nA full charge takes about 4.5 hours with the charger."]


def test_a_heading_leads_the_first_run_of_a_long_paragraph() -> None:
    body = " ".join(f"Sentence {i} of the section says a thing." for i in range(8))
    chunks = chunks_of("Intro paragraph here.\n\nSafety information\n\n" + body, 20)
    assert chunks[0] == "Intro paragraph here."
    assert chunks[1].startswith("Safety information\n\nSentence 0 of")
    assert not any(chunk.endswith("Safety information") for chunk in chunks)


def test_overlong_sentence_is_its_own_chunk() -> None:
    text = "Short one. " + "word " * 300 + "end. Another short one."
    sentences = split_sentences(text)
    counts = [len(text[s.start:s.end].split()) for s in sentences]
    chunks = chunk_sentences(text, sentences, counts, max_tokens=50)
    assert any(c.first_sentence == c.last_sentence and counts[c.first_sentence] > 50 for c in chunks)


def test_real_tokenizer_budget(embedder, article_text: str) -> None:
    from index.chunk import tokenizer_counter

    counter = tokenizer_counter(embedder.tokenizer)
    _, chunks = Chunker(counter, 100).run(article_text)
    assert len(chunks) > 3
    for chunk in chunks:
        if chunk.first_sentence != chunk.last_sentence:
            assert counter([chunk.text])[0] <= 100 + 5  # joining sentences may add a token or so at seams
        assert chunk.text == article_text[chunk.start : chunk.end]
