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
    ([Turn("When did Storm Edda reach Lunden?", "Sunday night")], "How strong was the wind there?",
     "How strong was the wind in Lunden?"),
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


# A pronoun is replaced only by a person or thing the history names; an answer that names nothing
# ("unacceptable", "14", "2 kilometres") is never written in for "he" or "it", and one name is written once.
ZELENSKY_UNACCEPTABLE = [Turn("What did Zelensky call losing a lot of people?", "unacceptable")]
TOO_EARLY = "When did he say it was too early to launch the attack?"


def test_an_adjective_answer_is_not_made_the_subject() -> None:
    rewritten = resolve_conversation(TOO_EARLY, ZELENSKY_UNACCEPTABLE)
    assert "unacceptable" not in rewritten
    # "he" is the person the question named; "it" (what he said) stays.
    assert rewritten == "When did Zelensky say it was too early to launch the attack?"


def test_a_pronoun_with_no_named_person_in_the_history_is_kept() -> None:
    history = [Turn("How did the president describe losing a lot of people?", "unacceptable")]
    assert resolve_conversation(TOO_EARLY, history) == TOO_EARLY


@pytest.mark.parametrize(("history", "question"), [
    ([Turn("How far did Ukrainian forces advance in a week?", "2 kilometres")], "What did he say?"),
    ([Turn("How many strikes did the air force launch on Thursday?", "14")], "When did he announce it?"),
    ([Turn("What did the soldiers' markings show?", "Ukrainian")], "What did he say about it?"),
    ([Turn("Who called the losses unacceptable?", "unacceptable")], "What did he say?"),
])
def test_a_number_or_adjective_answer_never_replaces_a_pronoun(history: list[Turn], question: str) -> None:
    assert resolve_conversation(question, history) == question


def test_she_becomes_the_person_who_answered_a_who_question_once() -> None:
    history = [Turn("Who claimed Ukrainian forces had advanced 2 km near Bakhmut?", "Hanna Malyar")]
    assert resolve_conversation("Where did she make her claim?", history) == "Where did Hanna Malyar make her claim?"
    assert resolve_conversation("What is her role?", history) == "What is Hanna Malyar's role?"


def test_a_person_is_named_once_and_later_pronouns_refer_back() -> None:
    history = [Turn("Who said the troops were fleeing?", "Yevgeny Prigozhin")]
    assert (resolve_conversation("Why did he say he was leaving?", history)
            == "Why did Yevgeny Prigozhin say he was leaving?")


@pytest.mark.parametrize(("history", "question", "expected"), [
    ([Turn("Who reported Ukrainian advances in a number of locations?", "Russian military bloggers")],
     "What did they report about their sources?", "What did Russian military bloggers report about their sources?"),
    ([Turn("Who announced that the counter-offensive had begun?", "Sasha Kots")],
     "Where did they say the tanks were?", "Where did Sasha Kots say the tanks were?"),
    # "Ukrainian advances" is what was reported, not who: "they" stays.
    ([Turn("What did Russian military bloggers report?", "Ukrainian advances")],
     "Where did they report them?", "Where did they report them?"),
])
def test_they_becomes_only_the_people_named(history: list[Turn], question: str, expected: str) -> None:
    assert resolve_conversation(question, history) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("What has it become a symbol of?", "What has Bakhmut become a symbol of?"),
    ("What is its tactical value?", "What is Bakhmut's tactical value?"),
])
def test_it_becomes_a_thing_the_answer_names(question: str, expected: str) -> None:
    history = [Turn("Which city did Ukraine claim to have retaken?", "Bakhmut")]
    assert resolve_conversation(question, history) == expected


def test_it_after_a_verb_of_saying_is_what_was_said_and_stays() -> None:
    history = [Turn("Which city did Ukraine claim to have retaken?", "Bakhmut")]
    question = "When did Zelensky say it was too early to launch the attack?"
    assert resolve_conversation(question, history) == question


def test_a_clause_answer_is_not_written_in_for_it() -> None:
    history = [Turn("What happened in Bakhmut?", "Ukraine retook it")]
    assert "retook" not in resolve_conversation("When was it announced?", history)
    history = [Turn("What did Kots claim?", "the counter-offensive had begun")]
    assert "begun" not in resolve_conversation("What did it show?", history)


@pytest.mark.parametrize(("history", "question", "expected"), [
    ([Turn("How many drones did Ukraine claim to have destroyed?", "nine")],
     "And what else did it claim to have attacked?", "What else did Ukraine claim to have attacked?"),
    ([Turn("What collapsed in Lunden?", "a 30-metre section of the sea wall")],
     "And what happened to the coastal road?", "What happened to the coastal road?"),  # no pronoun: the "and" goes
])
def test_and_before_a_whole_question_is_not_an_ellipsis(history: list[Turn], question: str, expected: str) -> None:
    assert resolve_conversation(question, history) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("What would they lose, according to him?", "What would they lose, according to Zelensky?"),
    ("What does he think they need?", "What does Zelensky think they need?"),
])
def test_they_beside_he_are_other_people(question: str, expected: str) -> None:
    history = [Turn("What did Zelensky say about launching the counter-offensive?", "too early")]
    assert resolve_conversation(question, history) == expected


@pytest.mark.parametrize(("history", "question", "expected"), [
    ([Turn("Who reported a large explosion in Melitopol?", "the exiled mayor of Melitopol")],
     "When did it happen?", "When did the large explosion in Melitopol happen?"),
    ([Turn("Who reported an explosion?", "the exiled mayor")], "Where did it take place?",
     "Where did the explosion take place?"),
    ([Turn("Who reported a large explosion in Melitopol?", "the exiled mayor of Melitopol")],
     "What caused it?", "What caused the large explosion in Melitopol?"),
    # No event named: "it" stays rather than becoming a place ("Luhansk") or a name.
    ([Turn("What was reported in Luhansk?", "two explosions")], "When did it happen?", "When did it happen?"),
    ([Turn("What was reported in Luhansk?", "two explosions")], "What caused it?", "What caused it?"),
])
def test_it_that_happened_is_the_event_asked_about(history: list[Turn], question: str, expected: str) -> None:
    assert resolve_conversation(question, history) == expected


@pytest.mark.parametrize(("previous", "fragment", "expected"), [
    # A phrase for a phrase: the last one starting with a preposition.
    ("What is the meal allowance per full day?", "And for a day trip?", "What is the meal allowance for a day trip?"),
    ("How many goals did Kessler score for Valden last season?", "And in all competitions?",
     "How many goals did Kessler score in all competitions?"),
    # A word the question has, with its determiners.
    ("Who must approve all trips?", "And trips outside the country?", "Who must approve trips outside the country?"),
    # With no phrase to stand for, a phrase is added.
    ("What is the top assisted speed?", "And in Eco mode?", "What is the top assisted speed in Eco mode?"),
    # Else the last name, as before.
    ("What happened in Bakhmut?", "and Melitopol?", "What happened in Melitopol?"),
    # Else another subject for the one after the auxiliary.
    ("How much does the bike weigh?", "And the battery alone?", "How much does the battery alone weigh?"),
])
def test_an_ellipsis_stands_for_the_phrase_it_matches(previous: str, fragment: str, expected: str) -> None:
    assert resolve_conversation(fragment, [Turn(previous, "an answer")]) == expected


def test_the_answer_to_which_agency_is_a_thing_even_when_named_like_a_person() -> None:
    history = [Turn("Which travel agency must be used?", "Meridian Travel")]
    assert resolve_conversation("How is it booked?", history) == "How is Meridian Travel booked?"
    assert resolve_conversation("What does he approve?", history) == "What does he approve?"


def test_a_person_named_after_a_preposition_stays_a_person() -> None:
    turns = [Turn("Who did Port Amara sign?", "Jonas Kessler"), Turn("How much did they pay for him?", "14 million")]
    # "for Jonas Kessler" is still the striker, not a thing "it" could mean.
    assert resolve_conversation("Who wore it before?", turns) == "Who wore it before?"
    assert resolve_conversation("Which shirt will he wear?", turns) == "Which shirt will Jonas Kessler wear?"


def test_he_never_means_the_woman_she_meant() -> None:
    turns = [Turn("Who is the coach of Port Amara?", "Ilse Brandt"), Turn("What did she say about Kessler?", "x")]
    assert resolve_conversation("What did she want?", turns) == "What did Ilse Brandt want?"
    # "he" is not Ilse Brandt: the one she spoke about, named alone after "about".
    assert resolve_conversation("When could he start?", turns) == "When could Kessler start?"


def test_them_is_a_group_never_one_persons_name() -> None:
    history = [Turn("Who is the mayor of Skarvik?", "Ingrid Solheim"),
               Turn("Where did she say people spent the night?", "a sports hall")]
    assert resolve_conversation("How many of them?", history) == "How many of them?"
    assert resolve_conversation("What did she say about them?", history) == "What did Ingrid Solheim say about them?"


@pytest.mark.parametrize(("previous", "answer", "follow_up", "expected"), [
    ("How far did Kyiv say its forces advanced?", "2 kilometres", "In how long?",
     "In how long did Kyiv say its forces advanced?"),
    ("When did the explosion in Melitopol happen?", "Friday morning", "And where?",
     "Where did the explosion in Melitopol happen?"),
    # The old wh-phrase's noun stays as the object, with the count or the name that answered it.
    ("How many strikes did the air force launch?", "14", "When?", "When did the air force launch the 14 strikes?"),
    ("Which city did Ukraine claim to have retaken?", "Bakhmut", "When?",
     "When did Ukraine claim to have retaken Bakhmut?"),
    ("Who did the UK supply?", "Ukraine", "When?", "When did the UK supply Ukraine?"),
    ("According to Musivenko, how long could the war last?", "until next year", "Why?",
     "According to Musivenko, why could the war last?"),
    # What the old wh-word asked for, named by a short answer, stays as the object.
    ("What else did Ukraine claim?", "attacks on dozens of targets", "When?",
     "When did Ukraine claim attacks on dozens of targets?"),
    ("What did the UK supply to Ukraine?", "long-range Storm Shadow cruise missiles", "Why?",
     "Why did the UK supply to Ukraine long-range Storm Shadow cruise missiles?"),
    # A clause answer is not an object: the question stays without one.
    ("What did Zelensky say?", "we'd lose a lot of people", "When?", "When did Zelensky say?"),
    ("What did the ministry say?", "Russian troops had changed positions", "When?", "When did the ministry say?"),
    # A wh-phrase that asked for the subject: its answer becomes the subject.
    ("Who must approve trips outside the country?", "the finance director", "When?",
     "When must the finance director approve trips outside the country?"),
    ("How many people were killed?", "3", "Where?", "Where were the 3 people killed?"),
    ("Who is Sasha Kots?", "a war correspondent", "Where?", "Where is Sasha Kots?"),
    # A question with no auxiliary after its wh-phrase cannot be asked another way: the follow-up stays.
    ("Who said it was too early to launch the attack?", "Ukraine's president", "Why?", "Why?"),
    # More than a wh-phrase is a whole question.
    ("Who is Sasha Kots?", "a war correspondent", "When did the counter-offensive begin?",
     "When did the counter-offensive begin?"),
])
def test_a_lone_wh_phrase_asks_the_last_question_again(previous: str, answer: str, follow_up: str,
                                                       expected: str) -> None:
    assert resolve_conversation(follow_up, [Turn(previous, answer)]) == expected


@pytest.mark.parametrize(("previous", "follow_up", "expected"), [
    ("Which missiles did the UK supply?", "When did it announce the supply?", "When did the UK announce the supply?"),
    ("What did the Institute for the Study of War report?", "What else did it say?",
     "What else did the Institute for the Study of War say?"),
])
def test_a_thing_keeps_its_article_and_whole_name(previous: str, follow_up: str, expected: str) -> None:
    assert resolve_conversation(follow_up, [Turn(previous, "something")]) == expected


def test_the_answer_to_a_wh_phrase_after_a_preposition_is_a_value_not_a_thing() -> None:
    """"In how long ...?" asks for a time, as "How long ...?" does: "a week" never stands for "its"."""
    turns = [Turn("How far did Kyiv say its forces advanced?", "2 kilometres"),
             Turn("In how long?", "a week")]
    assert resolve_conversation("What did Russia say about its troops?", turns) == \
        "What did Russia say about its troops?"


@pytest.mark.parametrize(("previous", "follow_up", "expected"), [
    ("What did Zelensky say about Hanna Malyar?", "What post does she hold?", "What post does Hanna Malyar hold?"),
    ("Which symphony was written by Olivier Messiaen?", "When was he born?", "When was Olivier Messiaen born?"),
    ("Who protested against Rui Mendes?", "Why did he retire?", "Why did Rui Mendes retire?"),
    # After other prepositions a name of two capitalised words is as often a place's: it stays a thing.
    ("What is the forecast for New Harwick?", "Who is its mayor?", "Who is New Harwick's mayor?"),
])
def test_a_name_after_about_by_or_against_is_a_person(previous: str, follow_up: str, expected: str) -> None:
    assert resolve_conversation(follow_up, [Turn(previous, "x")]) == expected


@pytest.mark.parametrize(("previous", "follow_up", "expected"), [
    ("How many Russian drones did Ukraine say it had destroyed?", "What else did it claim?",
     "What else did Ukraine claim?"),
    ("What did Ukraine claim on Friday?", "What did it say about Bakhmut?", "What did it say about Bakhmut?"),
])
def test_it_with_no_thing_named_is_the_last_questions_one_word_subject(previous: str, follow_up: str,
                                                                       expected: str) -> None:
    """A single capitalised subject is taken for a person by its place; "it" shows it was not one. A follow-up
    naming something of its own may mean that, and is left."""
    assert resolve_conversation(follow_up, [Turn(previous, "nine")]) == expected
    assert resolve_conversation(follow_up, [Turn(previous.replace("Ukraine", "Zelensky"), "x"),
                                            Turn("What did he say next?", "y")]) == follow_up
