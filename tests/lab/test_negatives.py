"""Training examples and their "no answer" negatives: each kind, the seeded order, real unanswerable questions."""

import random
from pathlib import Path

import pytest

from lab.examples import SquadExample, build_examples, mixed_with_real_unanswerable
from lab.negatives import NegativeMix, negate, swap_antonym
from lab.squad import parse_articles

ARTICLE = {"title": "Ports", "paragraphs": [
    {"context": "Rotterdam is the largest port in Europe. It handled 470 million tonnes of cargo in 2019. "
                "The port is run by the Port of Rotterdam Authority.",
     "qas": [{"question": "How much cargo did Rotterdam handle in 2019?", "id": "q1",
              "answers": [{"text": "470 million tonnes", "answer_start": 52}]}]},
    {"context": "Antwerp is the second largest port in Europe. Cargo at Antwerp reached 238 million tonnes in 2019.",
     "qas": []},
    {"context": "Hamburg lies on the Elbe. Its harbour is known for its warehouses.", "qas": []},
]}


def examples_with(mix: NegativeMix) -> list[SquadExample]:
    return build_examples(parse_articles([ARTICLE]), mix, random.Random(0))


def test_retrieved_negative_is_the_sibling_bm25_ranks_first_without_the_answer() -> None:
    examples = examples_with(NegativeMix(sibling=0.0, retrieved=1.0))
    assert [e.answer_start for e in examples] == [52, -1]
    assert examples[1].context == ARTICLE["paragraphs"][1]["context"]  # shares "cargo", "2019"
    assert examples[1].question == examples[0].question


def test_answer_removed_negative_drops_exactly_the_sentences_holding_the_answer() -> None:
    negative = examples_with(NegativeMix(sibling=0.0, answer_removed=1.0))[1]
    assert negative.answer_start == -1
    assert negative.context == ("Rotterdam is the largest port in Europe. "
                                "The port is run by the Port of Rotterdam Authority.")
    assert "470" not in negative.context


def test_entity_swapped_question_names_something_its_paragraph_never_mentions() -> None:
    negative = examples_with(NegativeMix(sibling=0.0, entity_swapped=1.0))[1]
    own = ARTICLE["paragraphs"][0]["context"]
    assert negative.context == own and negative.answer_start == -1
    original = "How much cargo did Rotterdam handle in 2019?"
    assert negative.question != original
    removed = [w for w in original.rstrip("?").split() if w not in negative.question]
    assert removed and all(w in own for w in removed)  # a shared name or number went ...
    added = [w for w in negative.question.rstrip("?").split() if w not in original]
    assert added and not any(w in own for w in added)  # ... and one the paragraph lacks came in


def test_kinds_at_zero_draw_nothing_so_old_orders_are_made_again() -> None:
    rng = random.Random(7)
    build_examples(parse_articles([ARTICLE] * 3), NegativeMix(sibling=0.0), rng)
    reference = random.Random(7)
    for _ in range(3):  # one sibling draw per answered question, as before the other kinds existed
        reference.random()
    assert rng.getstate() == reference.getstate()


def test_ratios_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValueError, match="retrieved"):
        NegativeMix(retrieved=1.5)


def test_negation_negates_the_auxiliary_of_the_question_clause() -> None:
    assert negate("How many people were confirmed dead?") == "How many people were not confirmed dead?"
    assert negate("What did the port handle?") == "What did the port not handle?"
    assert negate("Why was it not built?") is None  # already negative
    assert negate("Congress has the power to do what?") is None  # no question word before "has"


def test_antonym_swap_needs_an_antonym_the_paragraph_never_uses() -> None:
    context = ARTICLE["paragraphs"][0]["context"]
    assert swap_antonym("Which is the largest port in Europe?", context) == "Which is the smallest port in Europe?"
    assert swap_antonym("Which is the largest port?", context + " The smallest one is Oslo.") is None
    assert swap_antonym("Largest port?", context) == "Smallest port?"


def test_negated_and_antonym_negatives_are_unanswerable_over_the_own_paragraph() -> None:
    article = {"title": "Ports", "paragraphs": [{**ARTICLE["paragraphs"][0], "qas": [
        {"question": "What did Rotterdam handle?", "id": "q1",
         "answers": [{"text": "470 million tonnes of cargo", "answer_start": 52}]}]}]}
    examples = build_examples(parse_articles([article]), NegativeMix(sibling=0.0, negated=1.0),
                              random.Random(0))
    assert [(e.question, e.answer_start) for e in examples] == [
        ("What did Rotterdam handle?", 52), ("What did Rotterdam not handle?", -1)]
    assert examples[1].context == examples[0].context
    assert negate("How much cargo did Rotterdam handle in 2019?") is None  # its verb is not last


def test_real_unanswerable_questions_are_added_repeated_and_held_out_articles_stay_out(tmp_path) -> None:
    tiny = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-squad-v2.json"
    mix = NegativeMix(sibling=0.0)
    mixed = mixed_with_real_unanswerable([], tiny, mix, seed=13, repeat=3)
    assert len(mixed) == 3 * 4 and sum(e.answer_start < 0 for e in mixed) == 3 * 1
    assert mixed_with_real_unanswerable([], tiny, mix, seed=13, repeat=3, hold_out=("Mount_Kelra",)) == []
