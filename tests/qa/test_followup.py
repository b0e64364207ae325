"""Follow-up questions become standalone; self-contained questions stay as they are."""

from __future__ import annotations

import pytest

from qa.followup import Turn, standalone_question

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
