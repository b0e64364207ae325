"""Check the real-text development set (bench/data/real-text/questions.jsonl).

Run from the repository root with the project's Python:

    .venv/bin/python bench/data/real-text/check.py

Checks the schema, unique ids and questions, that every answer occurs verbatim in its source's text as
citeqa stores it (`index.extract.load_path`: the file's text for .txt, the extracted text for PDFs), the
answer length, the written texts (title line, 300-600 words, each one used), that no question repeats one
of the seed questions or of the PDF fixture questions, and the counts the set promises. Prints notes
(answers not at word boundaries, questions that copy a long run of words from their source), then the
counts, and exits 1 on any error.
"""

from __future__ import annotations

import json
import re
import string
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from index.extract import ParseLimits, load_path  # noqa: E402

QUESTIONS = HERE / "questions.jsonl"
TEXTS = HERE / "texts"
ARTICLE = "index/data/ukraine-retakes-bakhmut-2023-05-13.txt"
PDFS = ("tests/fixtures/pdf/FIPS200.pdf", "tests/fixtures/pdf/NIST.CSWP.04162018.pdf")
OTHER_QUESTION_SETS = (ROOT / "bench" / "data" / "seed-dev.jsonl",
                       ROOT / "tests" / "fixtures" / "pdf" / "questions.jsonl")

KINDS = {"who", "what", "when", "where", "how-many", "why", "which"}
FAMILIES = {"news", "report", "manual"}
REQUIRED = {"id", "source", "family", "question", "answers", "kind"}
OPTIONAL = {"needs_context"}
MAX_ANSWER_WORDS = 8
MAX_ANSWERS = 3
TEXT_WORDS = (300, 600)
COPIED_RUN = 8  # a question sharing this many consecutive words with its source is noted

MINIMUMS = {
    "questions": 160,
    "unanswerable": 55,
    "default article": 40,
    "default article unanswerable": 12,
    "PDFs": 30,
    "needs_context": 30,
    "news texts": 6,
    "manual texts": 4,
}


def normalize(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def expected_family(source: str) -> str | None:
    if source == ARTICLE:
        return "news"
    if source in PDFS:
        return "report"
    name = Path(source).name
    if source.startswith("bench/data/real-text/texts/") and name.endswith(".txt"):
        if name.startswith("news-"):
            return "news"
        if name.startswith("manual-"):
            return "manual"
    return None


def word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def at_word_boundaries(text: str, answer: str) -> bool:
    before = r"(?<!\w)" if answer[0].isalnum() else ""
    after = r"(?!\w)" if answer[-1].isalnum() else ""
    pattern = before + re.escape(answer) + after
    return re.search(pattern, text) is not None


def main() -> int:
    errors: list[str] = []
    notes: list[str] = []
    limits = ParseLimits()
    stored: dict[str, str] = {}

    def source_text(source: str) -> str | None:
        if source not in stored:
            path = ROOT / source
            if not path.is_file():
                return None
            stored[source] = load_path(path, limits).text
            if path.suffix == ".txt" and stored[source] != path.read_text(encoding="utf-8-sig"):
                errors.append(f"{source}: the stored text differs from the file's text")
        return stored[source]

    # The written texts: a title line, 300-600 words, named news-*/manual-*.
    text_files = sorted(TEXTS.glob("*.txt"))
    text_kinds: Counter[str] = Counter()
    for path in text_files:
        rel = path.relative_to(ROOT).as_posix()
        family = expected_family(rel)
        if family is None:
            errors.append(f"{rel}: a written text must be named news-*.txt or manual-*.txt")
            continue
        text_kinds[family] += 1
        content = path.read_text(encoding="utf-8")
        lines = content.split("\n")
        if not lines[0].strip() or len(lines) < 3 or lines[1].strip():
            errors.append(f"{rel}: the first line must be a title followed by a blank line")
        words = len(content.split())
        if not TEXT_WORDS[0] <= words <= TEXT_WORDS[1]:
            errors.append(f"{rel}: {words} words, not {TEXT_WORDS[0]}-{TEXT_WORDS[1]}")

    others: set[str] = set()
    for other in OTHER_QUESTION_SETS:
        if other.is_file():
            for line in other.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    others.add(normalize(json.loads(line)["question"]))
        else:
            notes.append(f"{other.relative_to(ROOT)} not found: not compared")

    rows = []
    for number, line in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            errors.append(f"line {number}: empty line")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            errors.append(f"line {number}: not JSON ({error})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {number}: not a JSON object")
            continue
        rows.append((number, row))

    ids: Counter[str] = Counter()
    questions: dict[str, str] = {}
    valid = []
    for number, row in rows:
        where = f"line {number} ({row.get('id', '?')})"
        keys = set(row)
        if REQUIRED - keys:
            errors.append(f"{where}: missing {sorted(REQUIRED - keys)}")
            continue
        if keys - REQUIRED - OPTIONAL:
            errors.append(f"{where}: unknown keys {sorted(keys - REQUIRED - OPTIONAL)}")
        qid, source, family, question, answers, kind = (row[k] for k in ("id", "source", "family", "question",
                                                                          "answers", "kind"))
        ids[qid] += 1
        if not isinstance(qid, str) or not re.fullmatch(r"rt-\d{3}", qid):
            errors.append(f"{where}: id must look like rt-001")
        if not isinstance(question, str) or not question.strip() or not question.rstrip().endswith("?"):
            errors.append(f"{where}: question must be a non-empty string ending in '?'")
            continue
        if kind not in KINDS:
            errors.append(f"{where}: kind {kind!r} not one of {sorted(KINDS)}")
        if family not in FAMILIES:
            errors.append(f"{where}: family {family!r} not one of {sorted(FAMILIES)}")
        if not isinstance(source, str) or expected_family(source) is None:
            errors.append(f"{where}: source {source!r} is not the default article, a NIST PDF or a written text")
            continue
        if family != expected_family(source):
            errors.append(f"{where}: family {family!r}, but {source} is {expected_family(source)!r}")
        if not isinstance(answers, list) or len(answers) > MAX_ANSWERS or \
                not all(isinstance(a, str) and a.strip() == a and a for a in answers):
            errors.append(f"{where}: answers must be a list of 0-{MAX_ANSWERS} non-empty trimmed strings")
            continue
        if len(set(answers)) != len(answers):
            errors.append(f"{where}: repeated answer")
        if "needs_context" in row:
            if row["needs_context"] is not True:
                errors.append(f"{where}: needs_context, when given, must be true")
            if not answers:
                errors.append(f"{where}: needs_context on an unanswerable question")
        key = normalize(question)
        if key in questions:
            errors.append(f"{where}: same question as {questions[key]}")
        questions[key] = qid
        if key in others:
            errors.append(f"{where}: repeats a seed or PDF-fixture question")
        text = source_text(source)
        if text is None:
            errors.append(f"{where}: source {source} not found")
            continue
        for answer in answers:
            if len(answer.split()) > MAX_ANSWER_WORDS:
                errors.append(f"{where}: answer {answer!r} is longer than {MAX_ANSWER_WORDS} words")
            if answer not in text:
                errors.append(f"{where}: answer {answer!r} not in the stored text of {source}")
            elif not at_word_boundaries(text, answer):
                notes.append(f"{where}: answer {answer!r} occurs only inside a longer word")
        copied = word_runs(question, COPIED_RUN) & word_runs(text, COPIED_RUN)
        if copied:
            notes.append(f"{where}: question copies {COPIED_RUN}+ words from the source: {' '.join(min(copied))!r}")
        valid.append(row)

    for qid, count in ids.items():
        if count > 1:
            errors.append(f"id {qid} used {count} times")
    used = {row["source"] for row in valid}
    for path in text_files:
        if path.relative_to(ROOT).as_posix() not in used:
            errors.append(f"{path.relative_to(ROOT)}: no question uses it")
    for pdf in PDFS:
        if pdf not in used:
            errors.append(f"{pdf}: no question uses it")

    # Counts.
    total = len(valid)
    unanswerable = [row for row in valid if not row["answers"]]
    article = [row for row in valid if row["source"] == ARTICLE]
    pdf_rows = [row for row in valid if row["source"] in PDFS]
    context = [row for row in valid if row.get("needs_context")]
    got = {
        "questions": total,
        "unanswerable": len(unanswerable),
        "default article": len(article),
        "default article unanswerable": sum(1 for row in article if not row["answers"]),
        "PDFs": len(pdf_rows),
        "needs_context": len(context),
        "news texts": text_kinds["news"],
        "manual texts": text_kinds["manual"],
    }
    for name, minimum in MINIMUMS.items():
        if got[name] < minimum:
            errors.append(f"{name}: {got[name]}, fewer than {minimum}")
    if total and 3 * len(unanswerable) < total:
        errors.append(f"unanswerable: {len(unanswerable)} of {total}, less than a third")

    for note in notes:
        print(f"note: {note}")
    print()
    print(f"{total} questions: {total - len(unanswerable)} answerable, {len(unanswerable)} unanswerable "
          f"({100 * len(unanswerable) / max(total, 1):.1f}%), {len(context)} marked needs_context")

    def table(title: str, key) -> None:
        print(f"\nby {title}:")
        groups: dict[str, list[dict]] = {}
        for row in valid:
            groups.setdefault(key(row), []).append(row)
        width = max(len(name) for name in groups)
        print(f"  {'':<{width}}  total  answerable  unanswerable  needs_context")
        for name in sorted(groups):
            rows_ = groups[name]
            no = sum(1 for row in rows_ if not row["answers"])
            ctx = sum(1 for row in rows_ if row.get("needs_context"))
            print(f"  {name:<{width}}  {len(rows_):>5}  {len(rows_) - no:>10}  {no:>12}  {ctx:>13}")

    table("family", lambda row: row["family"])
    table("source", lambda row: row["source"])
    table("kind", lambda row: row["kind"])

    print()
    if errors:
        for message in errors:
            print(f"ERROR: {message}")
        print(f"{len(errors)} error(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
