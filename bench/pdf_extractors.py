"""PDF text extractors compared on the two real PDFs in tests/fixtures/pdf: speed, and how readable the text is.

Over 300 lines on purpose: one benchmark script; most of it is the readability checks written out per document.

Extractors: raw pypdfium2 (PDFium's own text, `get_textpage().get_text_bounded()` per page), raw pdfplumber
(`page.extract_text()`, pdfminer.six underneath; skipped with a note when it is not installed: it is not a
citeqa dependency) and citeqa's reader (`index.pdf.read_pdf`, built on PDFium, run in this process, not in
the parsing worker). Pages of the raw extractors are joined with a newline.

- pages/s: the pages of the whole document over the median of `--runs` timed readings (wall clock, opening the
  file included); per CPU s: over the median CPU time of the process instead, steadier on a busy machine.
- characters: the length of the text (raw PDFium writes "\\r\\n" line ends); non-space: without whitespace.
- Words are maximal runs of letters, compared case-folded. The vocabulary is the words that at least two of
  the extractors produce (all of them when only two ran), plus /usr/share/dict/words when the machine has it.
- split words: two words separated only by whitespace, one of them not in the vocabulary, whose concatenation
  is ("Docume nt", "infor mation").
- glued words: a word not in the vocabulary that is two vocabulary words of at least two letters (or "a")
  written together ("costeffectiveness", "assessmentAdded").
- hyphen-broken words: a letter, then a hyphen, soft hyphen or PDFium's line-end hyphen mark U+0002, then
  whitespace, then a lowercase letter ("secu- rity"); or U+0002 or a soft hyphen left between two letters. A
  suspended hyphen counts too: the Framework's one ("private- and public-sector") counts for every extractor.
- order checks: hand-picked phrases, each the end of one line or cell of a page and the start of the next
  (across line ends, table cells, footnote marks and page breaks), that must be found as one contiguous phrase once
  whitespace runs are made single spaces. In a check "^" stands for an optional footnote mark (one or two
  digits, plain or superscript, spaces either side). A check that fails for every extractor is a place where
  the PDF puts something between the two halves (footnotes, a repeated table header). "in one paragraph": of
  the passed checks, those whose match holds no blank line, i.e. no paragraph break inside the sentence (the
  chunker and the sentence splitter see one); title-page and table-row checks are exempt, as their parts may
  be paragraphs of their own.
- furniture left: occurrences of the documents' running header and footer lines in the text, against the
  number of pages that print them.

    .venv/bin/python bench/pdf_extractors.py [--runs 3] [--show-failures]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from index.extract import ParseLimits  # noqa: E402
from index.pdf import read_pdf  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pdf"
DICTIONARY = Path("/usr/share/dict/words")
WORD = re.compile(r"[^\W\d_]+")
HYPHEN_BROKEN = re.compile(r"[^\W\d_](?:[-\u00ad\x02]\s+|[\u00ad\x02])([^\W\d_])")
LAYOUT_CHECKS = {"title page", "table row"}  # may cross a paragraph break: each part can be one of its own
PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
MARK = r"(?:\s*[0-9\u00b9\u00b2\u00b3\u2070-\u2079]{1,2}\s*)?"
EXAMPLES = 8

# Running headers and footers as printed (what must not be left in the text), and how many times the PDF prints
# them: FIPS 200 on pages 2-17, the Framework both lines on pages 2-55.
FURNITURE = {
    "FIPS200.pdf": (["FIPS Publication 200 Minimum Security Requirements for Federal Information and Information "
                     "Systems"], 16),
    "NIST.CSWP.04162018.pdf": (["April 16, 2018 Cybersecurity Framework Version 1.1",
                                "This publication is available free of charge from"], 2 * 54),
}

# (what the phrase crosses, phrase): each reads across a line end, a table cell's edge, a footnote mark or a page
# break of the PDF; checked by hand against the pages.
ORDER_CHECKS = {
    "FIPS200.pdf": [
        ("title page", "FEDERAL INFORMATION PROCESSING STANDARDS PUBLICATION Minimum Security Requirements for "
                       "Federal Information and Information Systems"),
        ("title page", "Computer Security Division Information Technology Laboratory National Institute of "
                       "Standards and Technology Gaithersburg, MD 20899-8930"),
        ("line end", "the official series of publications relating to standards and guidelines adopted and "
                     "promulgated"),
        ("line end", "by the National Institute of Standards and Technology after approval by the Secretary of "
                     "Commerce pursuant to Section 5131"),
        ("line end", "passed by the one hundred and seventh Congress and signed into law by the President in "
                     "December 2002"),
        ("line end", "as amended by Executive Order 13292, or any predecessor order"),
        ("line end", "will go through a rigorous, public review process to obtain government and private sector "
                     "feedback"),
        ("line end", "available from the NIST Computer Security Division web site by accessing "
                     "http://csrc.nist.gov/publications."),
        ("footnote mark", "Standards for categorizing information and information systems^ collected or maintained "
                          "by or on behalf of each federal agency"),
        ("footnote mark", "required by the FISMA legislation.^ FIPS Publication 200, the second of the mandatory "
                          "security standards"),
        ("footnote mark", "the highest values (i.e., high water mark^) from among the security categories"),
        ("footnote mark", "resident on those information systems.^ The generalized format for expressing the "
                          "security category"),
        ("footnote mark", "Recommended Security Controls for Federal Information Systems.^ The process of selecting "
                          "the appropriate security controls"),
        ("footnote mark", "to achieve adequate security^ is a multifaceted, risk-based activity"),
        ("footnote mark", "must include one of three, appropriately tailored^ security control baselines from NIST "
                          "Special Publication 800-53"),
        ("footnote", "In most cases, a compromise in one security objective ultimately affects the other security "
                     "objectives as well."),
        ("footnote", "with the involvement of senior-level organizational officials including, but not limited "
                     "to, chief information officers, senior agency information security officers"),
        ("list", "(vii) identification and authentication; (viii) incident response"),
        ("list", "- For low-impact information systems, organizations must, as a minimum, employ appropriately "
                 "tailored security controls from the low baseline"),
        ("definition", "AGENCY: Any executive department, military department, government corporation, government "
                       "controlled corporation, or other establishment"),
        ("definition", "promoting the effective and efficient design and operation of all major information "
                       "resources management processes for the agency"),
        ("reference", "[6] National Institute of Standards and Technology Special Publication 800-18, Revision 1, "
                      "Guide for Developing Security Plans"),
    ],
    "NIST.CSWP.04162018.pdf": [
        ("title page", "Framework for Improving Critical Infrastructure Cybersecurity Version 1.1"),
        ("line end", "Version 1.1 is intended to be implemented by first-time and current Framework users. Current "
                     "users should be able to implement Version 1.1"),
        ("line end", "Cybersecurity threats exploit the increased complexity and connectivity of critical "
                     "infrastructure systems, placing the Nation’s security"),
        ("list", "3) Identify and prioritize opportunities for improvement within the context of a continuous and "
                 "repeatable process;"),
        ("table cell", "Clarified that terms like “compliance” can be confusing and mean something very different "
                       "to various Framework stakeholders"),
        ("table cell", "Added clarity that the Framework has utility as a structure and language for organizing and "
                       "expressing compliance"),
        ("table cell", "A new section on self-assessment"),
        ("table cell", "Greatly expanded explanation of using Framework for Cyber Supply Chain Risk Management "
                       "purposes"),
        ("table cell", "Business Environment (ID.BE): The organization’s mission, objectives, stakeholders, and "
                       "activities are understood and prioritized"),
        ("table cell", "ID.BE-2: The organization’s place in critical infrastructure and its industry sector is "
                       "identified and communicated"),
        ("table cell", "established for all operating states (e.g. under duress/attack, during recovery, normal "
                       "operations)"),
        ("table cell", "incorporating security principles (e.g. concept of least functionality)"),
        ("table row", "PR Protect PR.AC Identity Management and Access Control"),
        ("table row", "Informative Reference A specific section of standards, guidelines, and practices common "
                       "among critical infrastructure sectors"),
        ("table row", "Respond (function) Develop and implement the appropriate activities to take action regarding "
                       "a detected cybersecurity event"),
        ("footnote mark", "the Cybersecurity Enhancement Act of 2014^ (CEA) updated the role of the National "
                          "Institute of Standards and Technology"),
        ("footnote", "became public law 113-274 on December 18, 2014"),
        ("hyphen at line end", "a prioritized, flexible, repeatable, performance-based, and cost-effective approach"),
        ("hyphen at line end", "other business needs including cost-effectiveness and innovation"),
        ("hyphen at line end", "are authenticated (e.g., single-factor, multi-factor) commensurate with the risk"),
        ("hyphen at line end", "for both technology-based and non-technology-based products and services"),
        ("hyphen at line end", "trusted) to perform security-relevant functions that ordinary users are not "
                               "authorized to perform"),
        ("hyphen at line end", "https://www.congress.gov/bill/113th-congress/senate-bill/1353/text"),
        ("page break", "cybersecurity risk management practices exhibit the characteristics defined in the "
                       "Framework"),
        ("page break", "Organizations also may develop their own additional Categories and Subcategories to account "
                       "for unique organizational risks"),
        ("page break", "globally distributed, and interconnected sets of resources and processes between multiple "
                       "levels of organizations"),
        ("page break", "This type of lagging measure is more absolute."),
        ("page break, footnotes", "the potential impacts of a cybersecurity incident on an organization, the health "
                                  "and safety of individuals"),
        ("page break, footnotes", "references globally recognized standards for cybersecurity, the Framework can "
                                  "serve as a model for international cooperation"),
        ("page break, table header", "responsibilities for the entire workforce and third-party stakeholders (e.g., "
                                     "suppliers, customers, partners) are established"),
    ],
}


# ------------------------------------------------------------------ extractors
def pdfium_raw(content: bytes) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(content)
    try:
        texts = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return "\n".join(texts)


def pdfplumber_raw(content: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(content)) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def citeqa(content: bytes) -> str:
    limits = ParseLimits()
    return read_pdf(content, max_pages=limits.max_pages, max_chars=limits.max_chars).text


def extractors() -> tuple[dict[str, Callable[[bytes], str]], list[str]]:
    chosen: dict[str, Callable[[bytes], str]] = {"pypdfium2 (raw)": pdfium_raw}
    notes = []
    try:
        import pdfplumber  # noqa: F401
    except ImportError:
        notes.append("pdfplumber is not installed (not a citeqa dependency): `.venv/bin/pip install pdfplumber` "
                     "to include it")
    else:
        chosen["pdfplumber (raw)"] = pdfplumber_raw
    chosen["citeqa read_pdf"] = citeqa
    return chosen, notes


# ------------------------------------------------------------------ quality
def words(text: str) -> list[str]:
    return [w.casefold() for w in WORD.findall(text)]


def vocabulary(texts: list[str]) -> tuple[set[str], str]:
    sets = [set(words(text)) for text in texts]
    needed = min(2, len(sets))
    counts: dict[str, int] = {}
    for found in sets:
        for word in found:
            counts[word] = counts.get(word, 0) + 1
    vocab = {word for word, count in counts.items() if count >= needed}
    source = f"words that at least {needed} of the {len(sets)} extractors produce"
    if DICTIONARY.exists():
        vocab |= {w.strip().casefold() for w in DICTIONARY.read_text(errors="replace").splitlines() if w.strip()}
        source += f", plus {DICTIONARY}"
    return vocab, source


def split_words(text: str, vocab: set[str]) -> list[str]:
    found = []
    runs = list(WORD.finditer(text))
    for first, second in zip(runs, runs[1:], strict=False):
        between = text[first.end():second.start()]
        if not between or not between.isspace():
            continue
        a, b = first.group().casefold(), second.group().casefold()
        if (a not in vocab or b not in vocab) and a + b in vocab:
            found.append(f"{first.group()}{between}{second.group()}")
    return found


def _part(word: str, vocab: set[str]) -> bool:
    return (len(word) >= 2 or word == "a") and word in vocab


def glued_words(text: str, vocab: set[str]) -> list[str]:
    found = []
    for match in WORD.finditer(text):
        word = match.group().casefold()
        if word in vocab:
            continue
        if any(_part(word[:cut], vocab) and _part(word[cut:], vocab) for cut in range(1, len(word))):
            found.append(match.group())
    return found


def hyphen_broken(text: str) -> list[str]:
    return [text[max(0, m.start() - 12):m.end() + 8] for m in HYPHEN_BROKEN.finditer(text) if m.group(1).islower()]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def check_pattern(phrase: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\^| )", phrase):
        parts.append(MARK if piece == "^" else r"\s+" if piece == " " else re.escape(piece))
    return re.compile("".join(parts))


def near(text: str, phrase: str) -> str:
    """Where a failed check's text went: the longest start of the phrase that is found, and what follows it."""
    words_of = phrase.replace("^", "").split()
    starts = [" ".join(words_of[:count]) for count in range(len(words_of), 0, -1)]
    starts += [words_of[0][:cut] for cut in range(len(words_of[0]) - 1, 3, -1)]  # a phrase of one long word
    for start in starts:
        found = check_pattern(start).search(text)
        if found:
            return text[found.start():found.end() + 80]
    return "(not even its first word)"


def in_one_paragraph(text: str, phrase: str) -> bool:
    """Whether the phrase is found in `text` (whitespace as it is) without a blank line inside it."""
    found = check_pattern(phrase).search(text)
    return found is not None and not PARAGRAPH_BREAK.search(found.group())


def furniture_left(text: str, lines: list[str]) -> int:
    flat = normalise(text)
    return sum(len(check_pattern(line).findall(flat)) for line in lines)


# ------------------------------------------------------------------ run
def timed(read: Callable[[bytes], str], content: bytes, runs: int) -> tuple[str, float, float]:
    text, seconds, cpu = "", [], []
    for _ in range(runs):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        text = read(content)
        seconds.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    return text, statistics.median(seconds), statistics.median(cpu)


def page_count(content: bytes) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(content)
    try:
        return len(pdf)
    finally:
        pdf.close()


def measure(path: Path, chosen: dict[str, Callable[[bytes], str]], runs: int, show: bool) -> dict[str, Any]:
    content = path.read_bytes()
    pages = page_count(content)
    texts, seconds, cpu = {}, {}, {}
    for name, read in chosen.items():
        texts[name], seconds[name], cpu[name] = timed(read, content, runs)
    vocab, source = vocabulary(list(texts.values()))
    checks = ORDER_CHECKS[path.name]
    furniture, printed = FURNITURE[path.name]
    rows = []
    for name, text in texts.items():
        flat = normalise(text)
        failed = [(where, phrase) for where, phrase in checks if not check_pattern(phrase).search(flat)]
        unix = text.replace("\r\n", "\n")
        broken_paragraphs = [phrase for where, phrase in checks if (where, phrase) not in failed
                             and where not in LAYOUT_CHECKS and not in_one_paragraph(unix, phrase)]
        split, glued, broken = split_words(text, vocab), glued_words(text, vocab), hyphen_broken(text)
        rows.append({"extractor": name, "seconds": round(seconds[name], 4), "cpu_seconds": round(cpu[name], 4),
                     "pages_per_s": round(pages / seconds[name], 1),
                     "pages_per_cpu_s": round(pages / max(cpu[name], 1e-9), 1), "characters": len(text),
                     "non_space_characters": sum(not c.isspace() for c in text),
                     "split_words": len(split), "glued_words": len(glued), "hyphen_broken": len(broken),
                     "order_checks_passed": len(checks) - len(failed), "order_checks": len(checks),
                     "order_checks_in_one_paragraph": len(checks) - len(failed) - len(broken_paragraphs),
                     "passed_with_a_paragraph_break": broken_paragraphs,
                     "furniture_left": furniture_left(text, furniture),
                     "failed_checks": [{"where": where, "phrase": phrase, "found": near(flat, phrase)}
                                       for where, phrase in failed],
                     "examples": {"split": split[:EXAMPLES], "glued": glued[:EXAMPLES], "hyphen": broken[:EXAMPLES]}})
        if show:
            print(f"\n## {path.name}: {name}")
            for where, phrase in failed:
                print(f"  FAILED ({where}): {phrase}\n    found: {near(flat, phrase)!r}")
            for phrase in broken_paragraphs:
                print(f"  paragraph break inside: {phrase}")
            for kind, found in (("split", split), ("glued", glued), ("hyphen", broken)):
                if found:
                    print(f"  {kind}: {found[:EXAMPLES]!r}")
    return {"file": path.name, "pages": pages, "vocabulary": source, "vocabulary_words": len(vocab),
            "furniture_lines": furniture, "furniture_printed": printed, "rows": rows}


def table(documents: list[dict[str, Any]]) -> str:
    lines = ["| PDF | extractor | pages/s (per CPU s) | characters (non-space) | split words | glued words "
             "| hyphen-broken | order checks passed (in one paragraph) | header/footer lines left |",
             "|---|---|---|---|---|---|---|---|---|"]
    for document in documents:
        for row in document["rows"]:
            lines.append(f"| {document['file']} ({document['pages']} pages) | {row['extractor']} "
                         f"| {row['pages_per_s']:,.1f} ({row['pages_per_cpu_s']:,.1f}) "
                         f"| {row['characters']:,} ({row['non_space_characters']:,}) "
                         f"| {row['split_words']} | {row['glued_words']} | {row['hyphen_broken']} "
                         f"| {row['order_checks_passed']}/{row['order_checks']} "
                         f"({row['order_checks_in_one_paragraph']}) "
                         f"| {row['furniture_left']}/{document['furniture_printed']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed readings of each document per extractor")
    parser.add_argument("--show-failures", action="store_true", help="print failed checks and word examples")
    args = parser.parse_args()
    chosen, notes = extractors()
    load = [round(value, 2) for value in os.getloadavg()]
    for note in notes:
        print(f"note: {note}")
    documents = [measure(FIXTURES / name, chosen, args.runs, args.show_failures) for name in ORDER_CHECKS]
    save("pdf_extractors", {"runs": args.runs, "load_average_at_start": load, "notes": notes, "documents": documents})
    print()
    print(table(documents))


if __name__ == "__main__":
    main()
