"""Answer normalisation as the official SQuAD scripts do it."""

from __future__ import annotations

import pytest

from qa.text import normalize_answer


@pytest.mark.parametrize(("text", "normalised"), [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  an  apple,  a pear ", "apple pear"),
    ("Theatre", "theatre"),  # "the" is removed only as a whole word
])
def test_normalisation_drops_case_punctuation_articles_and_extra_spaces(text: str, normalised: str) -> None:
    assert normalize_answer(text) == normalised
