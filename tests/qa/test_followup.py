"""Follow-up questions become standalone; self-contained questions stay as they are."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from qa.followup import Turn, resolve_conversation, standalone_question

WAGNER = [Turn("Who is the head of the Wagner group?", "Yevgeny Prigozhin")]


@pytest.mark.parametrize(("history", "question", "expected"), [
    (WAGNER, "What did he say the Ministry of Defence was discussing?",
     "What did Yevgeny Prigozhin say the Ministry of Defence was discussing?"),
    (WAGNER, "What is his group accused of?", "What is Yevgeny Prigozhin's group accused of?"),
    ([Turn("What happened in Bakhmut?", "Ukraine retook it")], "and Melitopol?", "What happened in Melitopol?"),
    ([Turn("Where were two explosions reported?", "Luhansk")], "What rose from there?", "What rose from Luhansk?"),
    ([Turn("Where were two explosions reported?", "Luhansk")], "What happened there?", "What happened in Luhansk?"),
    ([Turn("What was traced to an area near Bakhmut?", "The video")], "When was it released?",
     "When was The video released?"),
    # "Who is X?" is answered with what X is; "she" is X, and X is named once.
    ([Turn("Who is Hanna Malyar?", "Deputy Defence Minister")], "Where did she make her claim?",
     "Where did Hanna Malyar make her claim?"),
    ([Turn("Who was Yevgeny Prigozhin?", "head of the Wagner group")], "What did he say about his troops?",
     "What did Yevgeny Prigozhin say about his troops?"),
    ([Turn("Who said the troops were fleeing?", "Yevgeny Prigozhin")], "Which group does he lead?",
     "Which group does Yevgeny Prigozhin lead?"),
    ([Turn("Who is Hanna Malyar?", "Deputy Defence Minister")], "Who quoted her?", "Who quoted Hanna Malyar?"),
])
def test_follow_ups_are_rewritten(history: list[Turn], question: str, expected: str) -> None:
    assert standalone_question(question, history) == expected


@pytest.mark.parametrize("question", [
    "Who is the Deputy Defence Minister?",
    "What did Zelensky say on Thursday?",
    "Which city is that article about?",
])
def test_self_contained_questions_are_unchanged(question: str) -> None:
    assert standalone_question(question, WAGNER) == question


def test_no_history_means_no_rewrite() -> None:
    assert standalone_question("What did he say?", []) == "What did he say?"


def test_and_what_about_takes_the_whole_lead_in() -> None:
    history = [Turn("What happened in Bakhmut?", "Ukraine retook it")]
    assert standalone_question("and what about Melitopol?", history) == "What happened in Melitopol?"


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def test_an_ellipsis_padded_with_spaces_is_resolved_at_once() -> None:
    # "and X?" used to be matched by a pattern that backtracks cubically over a run of spaces.
    question = "and a" + " " * 1000 + "b"
    history = [Turn("What happened in Bakhmut?", None)]
    assert _seconds(lambda: standalone_question(question, history)) < 0.5
    assert standalone_question(question, history) == "What happened in " + question[4:] + "?"


def test_only_recent_turns_are_searched_for_a_referent() -> None:
    # Thousands of turns without a name, then a question full of pronouns: each pronoun used to scan
    # every turn, and an answer from long ago is not what "he" means anyway.
    history = [Turn("Who is the head of the Wagner group?", "Yevgeny Prigozhin")]
    history += [Turn("what did " + "x " * 150 + "say?", None)] * 3000
    question = "what did he say to him about his and her plans? " * 20
    assert _seconds(lambda: standalone_question(question, history)) < 0.5
    assert "Prigozhin" not in standalone_question(question, history)


def test_a_long_conversation_is_resolved_in_bounded_time() -> None:
    turns = [Turn("and a" + " " * 990 + "b", None), Turn("what did he say about it there?", None)] * 250
    assert _seconds(lambda: resolve_conversation("What did he say?", turns)) < 0.5


def test_each_earlier_question_is_resolved_before_the_next_follow_up() -> None:
    turns = [Turn("Who is the head of the Wagner group?", "Yevgeny Prigozhin"),
             Turn("What did he say about the Ministry of Defence?", None)]
    assert resolve_conversation("What did he say?", turns) == "What did Yevgeny Prigozhin say?"
