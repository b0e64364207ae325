"""The kinds of quantity a question asks for and an answer gives (pure functions: no model needed)."""

from __future__ import annotations

import pytest

from qa.units import answer_kinds, asked_kinds, contradicts


@pytest.mark.parametrize(("question", "answer"), [
    ("How deep is Lake Varna?", "64 square kilometres"),  # an area for a depth
    ("What is the maximum working pressure of the cooker?", "4 hours"),
    ("How much does the E-City 2 weigh with its battery?", "between 50 and 110 km"),
    ("What is the average length of an adult perch today?", "11 per cent"),
    ("How much did the club pay for him?", "five years"),
    ("How many miles long is the trail?", "3 hours"),
    ("How fast can the train go?", "400 metres"),
])
def test_a_quantity_of_another_kind_contradicts_the_question(question: str, answer: str) -> None:
    assert contradicts(question, answer)


@pytest.mark.parametrize(("question", "answer"), [
    ("How deep is Lake Varna?", "about 40 metres"),
    ("How long is the Rhine?", "1,230 km (760 mi)"),
    ("How long did the siege last?", "nine months"),  # "how long": a length or a time
    ("How fast was the shell fired from the railgun?", "5,600 miles (9,000 km) per hour"),  # a rate
    ("How far does a glacier move to cause an earthquake?", "one km per year"),
    ("How fast was the processor?", "40 MHz"),
    ("How much does the E-City 2 weigh with its battery?", "23.5 kg"),
    ("How much is the water industry worth?", "$2 billion a year"),
    ("How much did Israel spend on foreign aid?", "less than 0.1%"),  # a share of money
    ("By how much did the average length fall?", "11 per cent"),  # a share answers a change
    ("How far was the party in debt?", "£12 million"),  # not a distance
    ("What is the land mass of Myanmar?", "676,578 square kilometres"),
    ("How many kilometers does the region cover?", "12,012 km²"),
    ("How much time do people spend watching videos?", "15 minutes"),
    # No kind certain on either side: nothing is decided.
    ("How high was the temperature?", "40 degrees"),
    ("How big is the park?", "5 hectares"),
    ("How tall is Miles Davis's statue?", "Miles Davis"),  # a unit word with no number measures nothing
    ("How old was she?", "21"),
    ("Who paid for it?", "4 hours"),
])
def test_a_quantity_of_the_asked_kind_or_of_no_certain_kind_does_not(question: str, answer: str) -> None:
    assert not contradicts(question, answer)


def test_kinds_come_from_units_after_numbers() -> None:
    assert answer_kinds("142 kilometres per hour") == {"length", "speed"}
    assert answer_kinds("64 sq km") == {"area"}
    assert answer_kinds("€ 3.2 million") == {"money"}
    assert answer_kinds("two pounds") == {"mass", "money"}
    assert answer_kinds("the Bar Council") == frozenset()
    assert asked_kinds("What weekly wage will Kessler earn?") == {"money"}
    assert asked_kinds("How many hours does a charge take?") == {"time"}
    assert asked_kinds("What did the agency say?") == frozenset()
