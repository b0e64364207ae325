"""Rewrite a chat follow-up ("what did he say?", "and Melitopol?") into a standalone question.

Everything here is linear in its input and looks at a bounded history, because the text comes from
clients: only the last `MAX_TURNS` turns are consulted, each cut to `MAX_TURN_CHARS` characters, and
no pattern can backtrack over a run of spaces more than once.

Over 300 lines on purpose: one rule set, read top to bottom; a third of it is the word lists the rules use,
and each rule reads the ones before it.

A pronoun is replaced only by an entity the history names, of the kind the pronoun stands for; when
there is none, the pronoun is kept. An extractive answer is any span of the article: an adjective
("unacceptable"), a count ("14"), a measure ("2 kilometres"), a clause ("Ukraine retook it"). Put in
for "he" and "it", such a span invents a subject ("When did unacceptable say unacceptable was too
early...?") and sends the retriever after the wrong words, while a kept pronoun costs nothing: the
rest of the question still finds the passage. So:

* he/she/him/her/his/hers and they/them/their (people) take a person: the subject X of a "Who is X?"
  question, else the answer to a "who" question (or "which minister ...") when it is a name or a noun
  phrase ("Hanna Malyar", "Russian military bloggers", "the exiled mayor of Melitopol"), else an
  answer that is a person's name (two or more capitalised words, none of them an organisation's or
  place's, like "Sasha Kots"), else a person named in that question: a multi-word name, or a single
  capitalised word in subject position ("What did Zelensky say?"). The most recent turn wins.
* they/them/their beside he/him/his/she/her in one question ("What would they lose, according to him?")
  are other people than the one named for "him", and stay.
* it/this/that as the subject of "happen", "occur" or "take place", or the object of "cause", is an
  event: the noun phrase the last question ended in ("Who reported a large explosion in Melitopol?" ->
  "When did the large explosion in Melitopol happen?", "What caused the large explosion in Melitopol?"),
  else the pronoun stays; a place or a name never happened.
* it/its/this/that take a thing: an answer that is a name ("Bakhmut", "Telegram") or a noun phrase
  starting with a determiner ("The video"), else a name in the question after a preposition or a
  determiner ("in Bakhmut", "the UK"). "there" takes a place: one named after a preposition in a
  question or as where something went ("reach Lunden"), else such an answer.
* Never a referent: an answer to "when", "why" or any "how" question (a time, reason, manner or
  quantity); an answer with a digit or a number word (dates, counts, measures: "14" is not what "it"
  launched); an answer of more than a few words, or holding a pronoun (a clause, not a name); a lone
  adjective, as far as case can tell (lowercase words, demonyms like "Ukrainian", days and months).
* Each referent is written once: a second pronoun for it ("When did he say he ...", "Where did she
  make her claim?") stays a pronoun and refers back within the question, and a pronoun whose referent
  the question already names is kept. "it"/"that" right after a verb of saying ("say it was too
  early", "why did he say that?") is what was said, which no name can stand for, and is kept.
* "and X?" is an ellipsis ("and Melitopol?"), but "And what else did it claim?" is a whole question:
  the "and" goes and its pronouns are resolved as any other question's. An ellipsis starting with a
  preposition stands for the last question's last such phrase ("And for a day trip?" after "What is
  the allowance per full day?"), one sharing a word with it for that word ("And trips outside the
  country?" after "Who must approve all trips?"), else for its last name.
* A follow-up of only a wh-phrase ("When?", "In how long?", "And why?") asks the last question again with it
  in place of that question's own ("How far did Kyiv say its forces advanced?" -> "In how long did Kyiv say
  its forces advanced?"); the old phrase's noun stays as the object, named by the answer where it can be
  ("Which city did Ukraine claim to have retaken?" + "When?" -> "When did Ukraine claim to have retaken
  Bakhmut?"), and a phrase that asked for the subject gives way to its answer ("Who must approve trips?" +
  "When?" -> "When must the finance director approve trips?"). A question without an auxiliary after its
  wh-phrase ("Who said ...?"), or whose subject has no short answer, is left as it is.
* "he" never means a person "she" was written for, nor "she" one "he" was; with no other person, "he"
  takes a lone name the last question spoke about ("What did she say about Kessler?").
* A name the chat knows as a person's stays one after a preposition ("pay for Jonas Kessler"); the answer
  to "Which travel agency ...?" is a thing, however it is spelt ("Meridian Travel").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# The possessive suffix each pronoun becomes after a name ("his group" -> "Yevgeny Prigozhin's group").
PERSON_PRONOUNS = {"he": "", "him": "", "she": "", "her": "'s", "his": "'s", "hers": "'s",
                   "they": "", "them": "", "their": "'s"}
SINGULAR_PERSON_PRONOUNS = {"he", "him", "his", "she", "her", "hers"}
GENDERS = {"he": "he", "him": "he", "his": "he", "she": "she", "her": "she", "hers": "she"}
PLURAL_PERSON_PRONOUNS = {"they", "them", "their"}
THING_PRONOUNS = {"it": "", "its": "'s", "this": "", "that": ""}
# What an event does: "When did it happen?" asks about an event, not about a thing or a place.
EVENT_VERBS = {"happen", "happened", "happens", "occur", "occurred", "occurs"}
# What causes one: "What caused it?" asks about an event too.
CAUSE_VERBS = {"cause", "caused", "causes", "causing", "trigger", "triggered", "triggers", "spark", "sparked"}
PLACE_WORDS = {"there"}
PREPOSITIONS = {"in", "at", "from", "to", "near", "into", "over"}
# A fragment starting with one of these ("and for a day trip?") stands for the question's last such phrase.
PHRASE_PREPOSITIONS = {"in", "at", "from", "to", "near", "into", "over", "on", "for", "per", "during", "with",
                       "without", "by", "after", "before", "under", "within", "outside", "inside", "across"}
# Before a wh-word: "In how long?", "By whom?", "Since when?".
WH_PREPOSITIONS = PHRASE_PREPOSITIONS | {"since", "until"}
# "about Kessler", "with Zelensky": after these a lone name may be a person's, where "he" finds no other.
OBJECT_PREPOSITIONS = {"about", "with", "against", "for", "by"}
QUANTIFIERS = {"all", "any", "both", "each", "every", "some", "most", "many", "much", "no"}
# The subject after a question's auxiliary: "How much does [the bike] weigh?".
SUBJECT = re.compile(r"\b(?:does|do|did|is|are|was|were|has|have|can|could|will|would|should|must)\s+"
                     r"((?:the|a|an|this|that|these|those|its|his|her|their|your|my|our)\s+[\w'-]+)", re.IGNORECASE)
# Words a fragment shares with any question; only another word ties it to the one it stands in for.
ELLIPSIS_STOP_WORDS = {"the", "a", "an", "of", "and", "or", "to", "in", "on", "for", "what", "about", "with"}
# Before a name, these make it a place or an object ("near Bakhmut", "the Wagner group"), not a subject.
LOCATIVE_WORDS = PREPOSITIONS | {"on", "of", "around", "across", "towards", "toward", "through", "inside",
                                 "outside", "about", "for", "with", "by", "against", "past", "beyond"}
# Prepositions a person's name follows more often than a place's (in SQuAD's questions, "by Genghis Khan",
# "about Doctor Who"; after "for" and "with", places and titles as often: "for New France", "with Lake Constance").
PERSON_PREPOSITIONS = {"about", "by", "against"}
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "its", "his", "her", "their", "our",
               "your", "my", "some", "several", "many", "each", "every", "another"}
# After these, a single capitalised word is the subject of the question ("What did Zelensky say?").
AUXILIARIES = {"did", "does", "do", "has", "have", "had", "is", "was", "are", "were", "will", "would",
               "could", "can", "should", "might", "must"}
# A following "it"/"that" is what was said, not a thing the history names.
SPEECH_VERBS = {"say", "says", "said", "claim", "claims", "claimed", "mean", "means", "meant", "report",
                "reports", "reported", "announce", "announces", "announced", "state", "states", "stated",
                "think", "thinks", "thought", "believe", "believes", "believed", "deny", "denies", "denied",
                "confirm", "confirms", "confirmed", "tell", "tells", "told", "write", "writes", "wrote",
                "post", "posts", "posted", "add", "adds", "added", "admit", "admits", "admitted",
                "explain", "explains", "explained", "predict", "predicts", "predicted", "call", "called"}
# Words in a capitalised name that make it an organisation or a place rather than a person.
ORGANISATION_WORDS = {"ministry", "group", "institute", "college", "university", "forces", "force", "army",
                      "navy", "council", "government", "kingdom", "states", "republic", "union", "federation",
                      "oblast", "region", "province", "river", "street", "road", "square", "city", "airport",
                      "station", "party", "agency", "office", "command", "committee", "court", "parliament",
                      "news", "times", "post", "reservoir", "area", "company", "bank", "industrial",
                      "international", "national", "nations", "centre", "center", "department", "service",
                      "services", "press", "media", "radio", "television", "tv"}
# Capitalised words that are not names: days, months, and the like.
COMMON_CAPITALISED = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                      "january", "february", "march", "april", "may", "june", "july", "august", "september",
                      "october", "november", "december", "western", "eastern", "northern", "southern", "i"}
# Capitalised adjectives of nationality end so ("Ukrainian", "Crimean", "British", "Chinese").
DEMONYM_ENDINGS = ("ian", "ean", "ish", "ese")
NUMBER_WORDS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "hundreds", "thousand",
                "thousands", "million", "millions", "dozen", "dozens", "half", "first", "second", "third"}
# "Which minister ...?" asks for a person as "who" does.
PERSON_NOUNS = {"person", "people", "man", "woman", "minister", "official", "officials", "president",
                "leader", "commander", "correspondent", "analyst", "mayor", "journalist", "blogger",
                "bloggers", "spokesman", "spokeswoman", "spokesperson", "general", "soldier", "soldiers"}
# A follow-up of only a wh-phrase ("When?", "In how long?") asks the last question again that way.
SLUICE_WORDS = {"when", "where", "why", "how", "who", "whom", "which", "what"}
COPULAS = {"is", "are", "was", "were"}
# Words that make an answer a clause rather than a noun phrase.
CLAUSE_WORDS = {"that", "which", "who", "because", "if", "when", "while", "not", "been", "being", "be", "i", "you",
                "he", "she", "it", "we", "they", "did", "does", "do", "has", "have", "had", "is", "was", "are", "were",
                "will", "would", "could", "can", "should", "might", "must", "may", "shall"}
SUBJECT_PRONOUNS = {"i", "you", "he", "she", "it", "we", "they"}
HOW_DEGREES = {"long", "much", "many", "far", "often", "old", "soon", "big", "large", "high"}
VALUE_NOUNS = {"time", "year", "date", "day", "month", "number", "percentage", "distance", "age"}
# Longer answers are clauses or descriptions, which read badly in place of a pronoun.
MAX_REFERENT_WORDS = 8
# A follow-up refers to what was just said; older turns only cost time and invite wrong referents.
MAX_TURNS = 6
MAX_TURN_CHARS = 1_000
# Only the lead-in is matched by a pattern; the fragment after it is cut with string methods, since
# `(.+?)\s*\??\s*$` backtracks cubically over a run of spaces.
ELLIPSIS_LEAD = re.compile(r"\s*(?:and what about|what about|how about|and)\s+", re.IGNORECASE)
AND_LEAD = re.compile(r"\s*and\s+", re.IGNORECASE)
# After "and", these start a whole question, not an ellipsis ("and what else did it claim?").
QUESTION_LEADS = {"who", "whom", "whose", "what", "when", "where", "why", "how", "which"} | AUXILIARIES
NAME = re.compile(r"\b(?:[A-Z][\w'’-]*)(?:\s+(?:of\s+|the\s+|for\s+(?:the\s+)?)?[A-Z][\w'’-]*)*")
# A place: named after a preposition, or as where something went ("When did Storm Edda reach Lunden?").
PLACE = re.compile(r"\b(?:in|at|from|near|to|reach|reached|reaches|hit|hits|struck|strike|strikes|enter|entered|"
                   r"enters|visit|visited|visits)\s+((?:the\s+)?[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*)")
WORD = re.compile(r"\b[\w']+\b")
ASCII_WORD = re.compile(r"\b[A-Za-z]+\b")
SPACES = re.compile(r"\s*")
# "Who is X?" asks what X is: its answer describes X (a role, a title), and "she" later means X.
# A noun phrase starting with an article, in a question's last words ("a large explosion in Melitopol").
DETERMINED = re.compile(r"\b(?:a|an|the)\s+", re.IGNORECASE)
IDENTITY_LEAD = re.compile(r"\s*(?:who|what)\s+(?:is|was|are|were)\s+", re.IGNORECASE)
BARE_DEMONSTRATIVE = re.compile(r"\b(?:that|this)\s*(?:[?.!]|$)", re.IGNORECASE)
FOLLOW_UP_WORDS = set(PERSON_PRONOUNS) | PLACE_WORDS | {"it", "its"}
QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "which", "whom", "whose", "did", "does",
                  "do", "is", "are", "was", "were", "can", "could", "will", "would", "should", "has",
                  "have", "had", "and", "the", "a", "an", "in", "on", "i", "according"}
NAME_CONNECTORS = {"of", "the", "for", "and", "de", "al", "von", "van", "bin"}


@dataclass(frozen=True)
class Turn:
    """A previous exchange: the standalone question asked and the answer given (None if none)."""

    question: str
    answer: str | None


def _recent(history: Sequence[Turn]) -> list[Turn]:
    """The turns a follow-up may refer to, each cut to a bounded length."""
    return [Turn(turn.question[:MAX_TURN_CHARS], turn.answer[:MAX_TURN_CHARS] if turn.answer else turn.answer)
            for turn in history[-MAX_TURNS:]]


def _names(text: str) -> list[str]:
    """Capitalised multi-word names, skipping a capitalised question word at the start."""
    names = []
    for match in NAME.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in QUESTION_WORDS:
            words = words[1:]
        if words:
            names.append(" ".join(words))
    return names


def _looks_like_person(name: str) -> bool:
    return len(name.split()) >= 2 and all(word[:1].isupper() for word in name.split())


def _adjective_like(word: str) -> bool:
    """A capitalised word that is not a name: a demonym ("Ukrainian", "Russian-occupied"), a day, a month."""
    lower = word.lower()
    return (lower in COMMON_CAPITALISED or lower in QUESTION_WORDS or lower.endswith(DEMONYM_ENDINGS)
            or ("-" in word and not word.rsplit("-", 1)[1][:1].isupper()))


def _is_name(words: Sequence[str]) -> bool:
    """Capitalised throughout but for connectors ("Institute for the Study of War"); one word must be a name."""
    if not words or not words[0][:1].isupper():
        return False
    if len(words) == 1:
        return not _adjective_like(words[0])
    return all(word[:1].isupper() or word.lower() in NAME_CONNECTORS for word in words)


def _is_person_name(words: Sequence[str]) -> bool:
    """Two or more capitalised words naming no organisation or place, like "Hanna Malyar"."""
    return (len(words) >= 2 and all(word[:1].isupper() for word in words)
            and words[0].lower() not in DETERMINERS
            and not any(word.lower() in ORGANISATION_WORDS for word in words))


def _identity_subject(question: str) -> str | None:
    """The X of "Who is X?" when X is a person's name, else None."""
    lead = IDENTITY_LEAD.match(question)
    if not lead:
        return None
    subject = question[lead.end():].strip().rstrip("?").strip()
    return subject if _names(subject) == [subject] and _looks_like_person(subject) else None


def _asked_for(question: str) -> str:
    """What a question asks for: "person" (who, which minister, which war correspondent), "place" (where),
    "value" (when, why, how, what year), "thing" (which agency, which club: a noun that names no person),
    else "other"."""
    words = [word.lower() for word in WORD.findall(question[:96])[:5]]
    if words and words[0] in WH_PREPOSITIONS:
        words = words[1:]  # "In how long ...?" asks for a value, "By whom ...?" for a person
    first = words[0] if words else ""
    second = words[1] if len(words) > 1 else ""
    # The noun "which" asks about: the words after it, up to the verb ("which war correspondent said").
    noun = []
    for word in words[1:]:
        if word in AUXILIARIES or word in QUESTION_WORDS:
            break
        noun.append(word)
    if first in {"who", "whom", "whose"} or (first in {"which", "what"} and set(noun) & PERSON_NOUNS):
        return "person"
    if first == "where":
        return "place"
    if first in {"when", "why", "how"} or (first in {"which", "what"} and second in VALUE_NOUNS):
        return "value"
    return "thing" if first == "which" and noun else "other"


def _answer_referent(turn: Turn) -> tuple[str, str] | None:
    """The answer as ("person" | "thing", text) when it can stand for a pronoun, else None (see above)."""
    if not turn.answer:
        return None
    asked = _asked_for(turn.question)
    if asked == "value":
        return None
    text = turn.answer.strip().strip(".,;:!?\"'‘’“”").strip()
    words = text.split()
    if asked == "place" and len(words) > 1 and words[0].lower() in LOCATIVE_WORDS:
        words = words[1:]  # "In a Telegram post": "there" is the post
        text = " ".join(words)
    lowered = {word.lower().strip(".,;:'’") for word in words}
    if (not words or len(words) > MAX_REFERENT_WORDS or any(char.isdigit() for char in text)
            or lowered & (FOLLOW_UP_WORDS | NUMBER_WORDS) or not _noun_phrase(text)):
        return None  # a number, a pronoun, or a clause ("the counter-offensive had begun") stands for nothing
    determined = words[0].lower() in DETERMINERS
    if asked == "person":
        # "Russian military bloggers", "the exiled mayor of Melitopol": whoever did it, named or described.
        if _is_name(words) or determined or (len(words) > 1 and words[0][:1].isupper()):
            return "person", text
        return None
    if _is_person_name(words) and asked not in {"place", "thing"}:  # "Meridian Travel" is an agency's name
        return "person", text
    if _is_name(words) or determined:
        return "thing", text
    return None


def _question_referents(question: str, people: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The names in a question, in order, as ("person" | "thing", name); names of neither kind left out.

    A multi-word name is a person unless a determiner or preposition comes before it or it names an
    organisation or place; a single capitalised word is a person only as a subject ("What did Zelensky
    say?") and a thing only after a determiner or preposition ("the UK", "near Bakhmut"). A name the
    conversation already knows as a person's (`people`: "Jonas Kessler", and "Kessler" for short) is a
    person wherever it stands ("How much did they pay for Jonas Kessler?", "What did she say about Kessler?").
    """
    found = []
    for match in NAME.finditer(question):
        words = match.group(0).split()
        skipped = 0
        while words and words[0].lower() in QUESTION_WORDS:
            words, skipped = words[1:], skipped + 1
        if not words:
            continue
        last = words[-1]
        for mark in ("'s", "’s"):
            if last.endswith(mark):
                words[-1] = last[:-len(mark)]
        if not words[-1]:
            continue
        before = question[max(0, match.start() - 40):match.start()].split()
        # The word before the name: a question word the name pattern took in ("Did Zelensky"), or the text's.
        lead = match.group(0).split()[skipped - 1] if skipped else (before[-1] if before else "")
        previous = lead.lower()
        initial = not skipped and not before
        name = " ".join(words)
        located = previous in LOCATIVE_WORDS or previous in DETERMINERS
        thing = f"{lead} {name}" if previous == "the" else name  # "the UK" keeps its article in for "it"
        if name in people:
            found.append(("person", name))
        elif len(words) > 1:
            if not _is_name(words):
                continue
            # After "about", "by", "against" a person's name is still a person's ("What did Zelensky say about
            # Hanna Malyar?"); after a determiner or another preposition it is a place or a thing's name.
            placed = previous in DETERMINERS or (located and previous not in PERSON_PREPOSITIONS)
            person = _is_person_name(words) and not placed
            found.append(("person", name) if person else ("thing", thing))
        elif not _adjective_like(words[0]) and not initial:
            if located:
                found.append(("thing", thing))
            elif previous in AUXILIARIES:
                found.append(("person", name))
    return found


def _people(history: Sequence[Turn]) -> frozenset[str]:
    """The people a conversation has named, as whole names and by first or last name alone: subjects of "Who
    is X?", answers that are people, and people named as subjects in questions."""
    names: set[str] = set()
    for turn in history:
        subject = _identity_subject(turn.question)
        answer = _answer_referent(turn)
        found = [name for kind, name in _question_referents(turn.question) if kind == "person"]
        for name in [subject, answer[1] if answer and answer[0] == "person" else None, *found]:
            if name and _is_person_name(name.split()):
                names.update((name, name.split()[0], name.split()[-1]))
    return frozenset(names)


def _referent(history: Sequence[Turn], kind: str, people: frozenset[str],
              excluded: frozenset[str] = frozenset()) -> str | None:
    """The most recent entity of a kind: answers first (they are what the user just read), then questions.

    A person is the answer of a "who did ..." question, but the subject of a "who is X" one: its answer
    ("Deputy Defence Minister") says what X is, and is not whom "she" means. `people`: the history's
    (`_people`). Names in `excluded` (people the pronoun cannot mean) are passed over.
    """
    for turn in reversed(history):
        if kind == "person":
            subject = _identity_subject(turn.question)
            if subject and subject not in excluded:
                return subject
        answer = _answer_referent(turn)
        if answer and answer[0] == kind and answer[1] not in excluded:
            return answer[1]
        for found, name in reversed(_question_referents(turn.question, people)):
            if found == kind and name not in excluded:
                return name
    return None


def _place(history: Sequence[Turn]) -> str | None:
    """A place named after a preposition in a question, else an answer that names a thing (or place)."""
    for turn in reversed(history):
        match = PLACE.search(turn.question)
        if match:
            return match.group(1)
        answer = _answer_referent(turn)
        if answer and answer[0] == "thing":
            return answer[1]
    return None


def _event(history: Sequence[Turn]) -> str | None:
    """What the last question asked about, as a definite noun phrase at its end: "Who reported a large
    explosion in Melitopol?" -> "the large explosion in Melitopol"; None when it ends in none."""
    if not history:
        return None
    question = history[-1].question.strip().rstrip("?").strip()
    for match in DETERMINED.finditer(question):
        words = question[match.end():].split()
        lowered = {word.lower() for word in words}
        clause = "," in question[match.end():] or lowered & (QUESTION_LEADS | FOLLOW_UP_WORDS)
        if words and len(words) < MAX_REFERENT_WORDS and not clause:
            return "the " + " ".join(words)
    return None


class _Referents:
    """The person, thing, place and event of a history, each found once and only if a pronoun needs it."""

    def __init__(self, history: Sequence[Turn], genders: dict[str, str], question: str = "") -> None:
        self.history = history
        self.genders = genders
        # A question naming someone or something of its own ("What did Russia say about its troops?") may mean
        # that by "it": no guess from the history's subjects then.
        self.own_names = bool(_question_referents(question))
        self.found: dict[tuple[str, str | None], str | None] = {}
        self.people: frozenset[str] | None = None  # the history's people, found once when a pronoun needs them

    def get(self, kind: str, gender: str | None = None) -> str | None:
        """The referent of a kind; a person of `gender` ("she" or "he"), or of none the chat has shown."""
        key = (kind, gender)
        if key not in self.found:
            if kind == "place":
                self.found[key] = _place(self.history)
            elif kind == "event":
                self.found[key] = _event(self.history)
            else:
                other = frozenset(name for name, known in self.genders.items() if gender and known != gender)
                if self.people is None:
                    self.people = _people(self.history)
                self.found[key] = _referent(self.history, kind, self.people, other)
                if self.found[key] is None and kind == "person" and gender:
                    self.found[key] = _named_object(self.history, other)
                if self.found[key] is None and kind == "thing" and not self.own_names:
                    self.found[key] = _subject_word(self.history, self.people | frozenset(self.genders))
        return self.found[key]


def _subject_word(history: Sequence[Turn], people: frozenset[str]) -> str | None:
    """For "it" with no thing named: a single capitalised word the last question had as its subject, taken for
    a person by its place alone ("How many drones did Ukraine say it had destroyed?" -> "What else did it
    claim?" is about Ukraine). Not one the chat has named as a person, or called "he" or "she"."""
    if not history:
        return None
    for kind, name in reversed(_question_referents(history[-1].question, people)):
        if kind == "person" and " " not in name and name not in people:
            return name
    return None


def _named_object(history: Sequence[Turn], excluded: frozenset[str]) -> str | None:
    """For "he" or "she" with no person named: a capitalised word the last question spoke of or with ("What did
    she say about Kessler?" -> "When could he start?" is about Kessler)."""
    if not history:
        return None
    words = history[-1].question.split()
    for before, word in reversed(list(zip(words, words[1:], strict=False))):
        name = word.strip(".,;:!?\"'’”").removesuffix("'s").removesuffix("’s")
        if (before.lower() in OBJECT_PREPOSITIONS and name[:1].isupper() and name.isalpha()
                and not _adjective_like(name) and name not in excluded):
            return name
    return None


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _replace_pronouns(question: str, history: Sequence[Turn], genders: dict[str, str]) -> str:
    """Each pronoun replaced by what it refers to, each referent written once: later pronouns for it
    ("Where did she make her claim?") then refer to that name within the question."""
    referents = _Referents(history, genders, question)
    pieces: list[str] = []
    written = 0
    previous: re.Match[str] | None = None
    # Referents already in the question, or written in for an earlier pronoun, are not written again.
    named: dict[str, bool] = {}

    def fresh(referent: str | None) -> str | None:
        if referent is None:
            return None
        if referent not in named:
            named[referent] = referent in question
        return None if named[referent] else referent

    words = {word.lower() for word in ASCII_WORD.findall(question)}
    # "What would they lose, according to him?": beside "he" or "him", "they" are other people.
    others = bool(words & SINGULAR_PERSON_PRONOUNS)
    for match in ASCII_WORD.finditer(question):
        word = match.group(0)
        lower = word.lower()
        replacement: str | None = None
        referent: str | None = None
        if lower in PLURAL_PERSON_PRONOUNS and others:
            pass  # other people than the one "he" or "him" stands for: kept
        elif lower in PERSON_PRONOUNS:
            referent = fresh(referents.get("person", GENDERS.get(lower)))
            if lower == "them" and referent is not None and _is_person_name(referent.split()):
                referent = None  # "How many of them?": a group, never one person's name
            if referent is not None:
                possessive = bool(PERSON_PRONOUNS[lower]) and (lower != "her" or _noun_follows(question, match))
                replacement = _possessive(referent) if possessive else referent
        elif lower in PLACE_WORDS:
            referent = fresh(referents.get("place"))
            if referent is not None:
                after_preposition = (previous is not None and previous.group(0).lower() in PREPOSITIONS
                                     and not question[previous.end():match.start()].strip())
                replacement = referent if after_preposition else f"in {referent}"
        elif (lower in THING_PRONOUNS and _is_pronoun_use(question, match)
              and not (previous is not None and previous.group(0).lower() in SPEECH_VERBS)):
            # "When did it happen?": an event, which the last question named ("a large explosion in Melitopol"),
            # not a place or a name.
            referent = fresh(referents.get("event" if _event_follows(question, match) else "thing"))
            if referent is not None:
                replacement = _possessive(referent) if THING_PRONOUNS[lower] else referent
        if replacement is not None and referent is not None:
            named[referent] = True
            pieces.append(question[written:match.start()])
            pieces.append(replacement)
            written = match.end()
        previous = match
    pieces.append(question[written:])
    return "".join(pieces)


# Words after "her" that show it is an object ("asked her about"), not a possessive ("her claim").
NOT_A_NOUN = PREPOSITIONS | {"about", "and", "or", "for", "with", "on", "by", "of", "that", "if", "when", "to"}


def _noun_follows(question: str, match: re.Match[str]) -> bool:
    spaces = SPACES.match(question, match.end())
    start = spaces.end() if spaces else match.end()
    following = WORD.match(question[start:start + 32])
    return following is not None and following.group(0).lower() not in NOT_A_NOUN


def _event_follows(question: str, match: re.Match[str]) -> bool:
    """The pronoun is the subject of "happen", "occur" or "take place", or the object of "cause" ("What caused
    it?"): an event."""
    following = WORD.findall(question[match.end():match.end() + 32])[:2]
    preceding = WORD.findall(question[max(0, match.start() - 24):match.start()])[-1:]
    return (bool(following) and (following[0].lower() in EVENT_VERBS or following[:2] == ["take", "place"]
                                 or following[:2] == ["took", "place"])) or (
        bool(preceding) and preceding[0].lower() in CAUSE_VERBS)


def _is_pronoun_use(question: str, match: re.Match[str]) -> bool:
    """'that' and 'this' are pronouns only when no noun follows ("that city" is a determiner)."""
    if match.group(0).lower() not in {"that", "this"}:
        return True
    spaces = SPACES.match(question, match.end())
    start = spaces.end() if spaces else match.end()
    # A window is enough: only short words are compared, and a cut long word still differs from them.
    following = WORD.match(question[start:start + 32])
    return following is None or following.group(0).lower() in {"is", "was", "mean", "means", "happen",
                                                                "happened", "about"}


def _ellipsis_fragment(question: str) -> str | None:
    """The X of "and X?" / "what about X?", or None when the question is not such an ellipsis ("And what
    else did it claim?" is a whole question after "and")."""
    lead = ELLIPSIS_LEAD.match(question)
    if not lead or _and_question(question):
        return None
    fragment = question[lead.end():].rstrip()
    if fragment.endswith("?"):
        fragment = fragment[:-1].rstrip()
    return fragment if fragment and "\n" not in fragment else None


def _and_question(question: str) -> str | None:
    """The question after a leading "and" when it is a whole question ("And what else did it claim?" ->
    "What else did it claim?"), else None."""
    lead = AND_LEAD.match(question)
    if not lead:
        return None
    rest = question[lead.end():]
    first = WORD.findall(rest[:32])[:2]
    if not first or first[0].lower() not in QUESTION_LEADS or (len(first) > 1 and first[1].lower() == "about"):
        return None  # "and what about X?" is an ellipsis
    return rest[:1].upper() + rest[1:]


def _resolve_ellipsis(fragment: str, history: Sequence[Turn]) -> str | None:
    """The last question with the fragment in place of what it stands for, in this order:

    * a fragment that starts with a preposition replaces the last phrase that does ("And for a day trip?"
      after "What is the meal allowance per full day?" -> "What is the meal allowance for a day trip?");
      or, when it has none, is added to it ("And in Eco mode?" after "What is the top speed?");
    * a fragment sharing a word with the question replaces that word and its determiners ("And trips
      outside the country?" after "Who must approve all trips?");
    * else it replaces the question's last name ("and Melitopol?" after "What happened in Bakhmut?");
    * else a fragment with a determiner replaces the subject after the question's auxiliary ("And the
      battery alone?" after "How much does the bike weigh?" -> "How much does the battery alone weigh?").
    """
    previous = history[-1].question
    body = previous.rstrip().rstrip("?").rstrip()
    words = WORD.findall(fragment)
    if words and words[0].lower() in PHRASE_PREPOSITIONS:
        phrases = [match for match in WORD.finditer(body) if match.start() and match.group(0).lower()
                   in PHRASE_PREPOSITIONS]
        # With no such phrase to stand for, it adds one ("What is the top speed?" -> "... speed in Eco mode?").
        return f"{body[:phrases[-1].start()] if phrases else body + ' '}{fragment}?"
    shared = {word.lower() for word in words} - ELLIPSIS_STOP_WORDS
    for match in reversed(list(WORD.finditer(body))):
        if match.group(0).lower() in shared:
            start = match.start()
            for word in reversed(WORD.findall(body[:start])):  # "all trips", "the new rules"
                if word.lower() not in DETERMINERS | QUANTIFIERS:
                    break
                start = body.rfind(word, 0, start)
            return f"{body[:start]}{fragment}{body[match.end():]}?"
    names = _names(previous)
    if names:
        target = names[-1]
        index = previous.rfind(target)
        return previous[:index] + fragment + previous[index + len(target):]
    subject = SUBJECT.search(body)
    if subject and words and words[0].lower() in DETERMINERS:  # "And the battery alone?": another subject
        return f"{body[:subject.start(1)]}{fragment}{body[subject.end(1):]}?"
    return None


def _sluice(question: str) -> str | None:
    """The wh-phrase of a follow-up that is nothing else ("When?", "In how long?", "And why?"), else None."""
    words = WORD.findall(question)
    if not words or len(words) > 4 or "\n" in question or len(question) > 40:
        return None
    lowered = [word.lower() for word in words]
    if lowered[0] == "and":
        words, lowered = words[1:], lowered[1:]
    if lowered and lowered[0] in WH_PREPOSITIONS:
        if len(lowered) < 2 or lowered[1] not in SLUICE_WORDS:
            return None
    elif not lowered or lowered[0] not in SLUICE_WORDS:
        return None
    wh = next(i for i, word in enumerate(lowered) if word in SLUICE_WORDS)
    rest = lowered[wh + 1:]
    if rest and not (lowered[wh] == "how" and len(rest) == 1 and rest[0] in HOW_DEGREES):
        return None  # "When did it end?" is a whole question; only "how long", "how much"... take a word
    return " ".join(words)


def _noun_phrase(answer: str) -> bool:
    """A short answer that names things ("nine Russian drones"), not a clause ("we would lose a lot of people",
    "troops had changed positions"), so it can stand as the object of the question it answered."""
    words = answer.split()
    return (0 < len(words) <= 6 and not re.search(r"\w'(?!s\b)\w", answer)
            and not any(word.lower().strip(",.;:") in CLAUSE_WORDS for word in words))


def _resolve_sluice(phrase: str, history: Sequence[Turn]) -> str | None:
    """The last question asked again with the new wh-phrase in place of its own: "How far did Kyiv say its
    forces advanced?" + "In how long?" -> "In how long did Kyiv say its forces advanced?". The old phrase's
    noun stays as the object ("How many strikes did the air force launch?" + "When?" -> "When did the air
    force launch the 14 strikes?", with the answer's number), or as the subject when it was one ("How many
    people were killed?" -> "Where were the 3 people killed?"). A question without an auxiliary after its
    wh-phrase ("Who said it was too early?") cannot be turned so, and gives None."""
    previous, answer = history[-1].question, history[-1].answer
    body = previous.rstrip().rstrip("?").rstrip()
    matches = list(WORD.finditer(body))
    lowered = [match.group(0).lower() for match in matches]
    wh = next((i for i, word in enumerate(lowered) if word in SLUICE_WORDS), None)
    if wh is None:
        return None
    # The auxiliary follows the wh-phrase at once ("When did"), after a degree ("How far did") or a noun
    # ("Which city did", "How many strikes did"); further on, it belongs to a clause ("Who said it was").
    reach = {"how": 3, "which": 3, "what": 3}.get(lowered[wh], 1)
    aux = next((i for i in range(wh + 1, min(wh + 1 + reach, len(lowered))) if lowered[i] in AUXILIARIES), None)
    if aux is None or (lowered[wh] == "how" and aux == wh + 3 and lowered[wh + 1] not in HOW_DEGREES):
        return None
    first = wh - 1 if wh and lowered[wh - 1] in PHRASE_PREPOSITIONS else wh
    noun = [word for word in lowered[wh + 1:aux] if word not in HOW_DEGREES and word not in {"of", "the", "else"}]
    given = (answer or "").strip()
    # The wh-phrase asked for the subject when a verb follows the auxiliary ("Who must approve trips?",
    # "How many people were killed?"); else for an object ("Who did the UK supply?").
    after = matches[aux + 1].group(0) if aux + 1 < len(matches) else ""
    subject = bool(after) and after.islower() and after not in DETERMINERS | SUBJECT_PRONOUNS
    named = ""  # what the old wh-phrase asked about, named by its answer where it can be
    if noun and not set(noun) & VALUE_NOUNS and lowered[wh] in {"which", "what", "how"}:
        said = " ".join(matches[i].group(0) for i in range(wh + 1, aux) if lowered[i] not in HOW_DEGREES)
        if lowered[wh] == "how" and re.fullmatch(r"[\d.,]+", given):
            named = f"the {given} {said}"  # "the 14 strikes"
        elif lowered[wh] != "how" and given[:1].isupper() and len(given.split()) <= 4 and _is_name(given.split()):
            named = given  # "Which city ...?" -> "Bakhmut"
        else:
            named = f"the {said}"
    elif lowered[wh] in {"who", "whom", "what", "which"} and given and len(given.split()) <= 4 and (
            _is_name(given.split()) or (subject and not re.search(r"\d", given))):
        named = given  # "Who did the UK supply?" -> "When did the UK supply Ukraine?"
    elif lowered[wh] == "what" and not subject and _noun_phrase(given):
        named = given  # "What did the UK supply?" -> "When did the UK supply long-range cruise missiles?"
    if subject and not named:
        return None
    start = matches[first].start()
    lead = phrase[:1].upper() + phrase[1:].lower() if start == 0 else phrase.lower()
    if subject:  # "Who must approve trips?" + "When?" -> "When must the finance director approve trips?"
        return f"{body[:start]}{lead} {matches[aux].group(0)} {named} {body[matches[aux].end():].lstrip()}?"
    if named and lowered[aux] in COPULAS and not noun:
        named = ""  # "Who is Sasha Kots?" + "Where?" -> "Where is Sasha Kots?"
    return f"{body[:start]}{lead} {body[matches[aux].start():]}{' ' + named if named else ''}?"


def is_follow_up(question: str) -> bool:
    words = {w.lower() for w in WORD.findall(question)}
    return (_ellipsis_fragment(question) is not None or bool(words & FOLLOW_UP_WORDS)
            or bool(BARE_DEMONSTRATIVE.search(question)))


def standalone_question(question: str, history: Sequence[Turn], genders: dict[str, str] | None = None) -> str:
    """The follow-up rewritten with earlier questions and answers; self-contained questions unchanged."""
    question = question.strip()
    if not history:
        return question
    phrase = _sluice(question)  # "In how long?": the last question, asked so
    if phrase:
        return _resolve_sluice(phrase, _recent(history)) or question
    question = _and_question(question) or question  # "And what happened to the road?": the "and" goes
    if not is_follow_up(question):
        return question
    recent = _recent(history)
    fragment = _ellipsis_fragment(question)
    if fragment:
        resolved = _resolve_ellipsis(fragment, recent)
        if resolved:
            return resolved
    return _replace_pronouns(question, recent, genders or {})


def resolve_conversation(question: str, turns: Sequence[Turn]) -> str:
    """The last question made standalone, each earlier question first resolved against its own past.

    Only the turns the last question can see matter, and each of those only needs the ones before it
    within the same window, so the work is bounded whatever the length of the conversation.
    """
    window = turns[-2 * MAX_TURNS:]
    resolved: list[Turn] = []
    genders: dict[str, str] = {}
    for turn in window:
        asked = turn.question[:MAX_TURN_CHARS]
        standalone = standalone_question(asked, resolved, genders)
        _learn_genders(asked, standalone, genders)
        resolved.append(Turn(standalone, turn.answer))
    return standalone_question(question, resolved, genders)


def _learn_genders(asked: str, standalone: str, genders: dict[str, str]) -> None:
    """Who "she" or "he" turned out to be: a name written in for only "she"/"her" is a woman's, for only
    "he"/"him"/"his" a man's; "he" then never means a woman the chat named ("When could he start?" after
    "What did she say about Kessler?" is not about her)."""
    words = {word.lower() for word in WORD.findall(asked)}
    kinds = {GENDERS[word] for word in words if word in GENDERS}
    if len(kinds) != 1:
        return
    for name in _names(standalone):
        if name not in asked and (_is_person_name(name.split()) or " " not in name):
            for part in {name, name.split()[0], name.split()[-1]}:
                genders[part] = next(iter(kinds))
