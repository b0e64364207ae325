"""Where a document's text came from: its pages (PDF), its sections (Word), its original file.

Offsets are code points into the stored document text, end exclusive, as everywhere in citeqa. A PDF's
pages partition the text: page n covers `[start, end)`, the next page starts where it ends, and the
characters citeqa wrote itself (spaces and paragraph breaks between lines and pages) belong to the page
they follow. For every character of a page the layout keeps its box on the page, in PDF points with the
origin at the page's top-left corner as it is displayed (its /Rotate applied), y growing downwards:
the coordinates a client needs to draw over the rendered page. Characters citeqa wrote have no box (NaN).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SOURCE_TYPES = ("text", "markdown", "html", "pdf", "docx")
# Two characters' boxes are on one printed line when their vertical extents overlap by at least this share
# of the lower one (a superscript still overlaps its line; the next line down does not).
SAME_LINE_OVERLAP = 0.5


@dataclass(frozen=True)
class Box:
    """A rectangle on a page: PDF points from the displayed page's top-left corner, y downwards."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Page:
    """One page of a PDF: its 1-based physical number, printed label, text range, size and character boxes.

    `boxes` holds one row (x0, y0, x1, y1) per character of `[start, end)`, NaN where citeqa wrote the
    character (no glyph on the page). `width`/`height` are the displayed size in points (rotation applied).
    """

    number: int
    label: str | None
    start: int
    end: int
    width: float
    height: float
    rotation: int = 0
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32), compare=False)

    def boxes_blob(self) -> bytes:
        """The character boxes as stored: zlib-compressed little-endian float32 rows."""
        return zlib.compress(np.ascontiguousarray(self.boxes, dtype="<f4").tobytes(), 6)

    @staticmethod
    def boxes_from_blob(blob: bytes | None, characters: int) -> np.ndarray:
        if not blob:
            return np.full((characters, 4), np.nan, dtype=np.float32)
        return np.frombuffer(zlib.decompress(bytes(blob)), dtype="<f4").reshape(characters, 4)


@dataclass(frozen=True)
class Section:
    """A section of a Word file: `[start, end)` of the text and its heading path ("2 Scope", "2.1 Audience")."""

    start: int
    end: int
    path: tuple[str, ...]


@dataclass(frozen=True)
class Location:
    """Where a span of the text sits: the page it starts on (None for unpaged text), every page it covers,
    one box per printed line of it, and for Word files the heading path of its section."""

    page: int | None = None
    page_label: str | None = None
    pages: tuple[int, ...] = ()
    boxes: tuple[Box, ...] = ()
    section: tuple[str, ...] | None = None


NOWHERE = Location()


@dataclass(frozen=True)
class Layout:
    """The pages and sections of a document (or of the part of it a passage covers)."""

    pages: tuple[Page, ...] = ()
    sections: tuple[Section, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.pages or self.sections)

    @property
    def pages_without_text(self) -> tuple[int, ...]:
        """The PDF's pages with no text layer (scanned images): their text ranges are empty."""
        return tuple(page.number for page in self.pages if page.start == page.end)

    def section_at(self, position: int, *, at_end: bool = False) -> tuple[str, ...] | None:
        """The heading path of the section holding the character at `position` (with `at_end`, also the
        section that ends there: where an empty span sits); None outside every section."""
        return next((s.path for s in self.sections if s.start <= position < s.end or (at_end and position == s.end)),
                    None)

    def locate(self, start: int, end: int) -> Location:
        """The location of `[start, end)`; NOWHERE for a document with neither pages nor sections."""
        section = self.section_at(start)
        if section is None and start == end:
            section = self.section_at(start, at_end=True)
        covered = [p for p in self.pages if p.start < max(end, start + 1) and p.end > start]
        if not covered:
            return Location(section=section)
        first = covered[0]
        return Location(page=first.number, page_label=first.label, pages=tuple(p.number for p in covered),
                        boxes=tuple(line_boxes(covered, start, end)), section=section)


def line_boxes(pages: Sequence[Page], start: int, end: int) -> list[Box]:
    """One rectangle per printed line of the characters in `[start, end)` that have boxes.

    A line runs across the displayed page, or down it (text on a rotated page, or turned in its margin):
    its first two characters say which, and it goes on while the characters keep to that band.
    """
    found: list[Box] = []
    for page in pages:
        low, high = max(start, page.start) - page.start, min(end, page.end) - page.start
        if high <= low or page.boxes.shape[0] < high:
            continue
        rows = page.boxes[low:high]
        rows = rows[~np.isnan(rows).any(axis=1)]
        current: list[float] | None = None
        direction = ""
        for x0, y0, x1, y1 in rows.tolist():
            if current is not None:
                across = _overlap(current[1], current[3], y0, y1) and x0 >= current[0] - 1.0
                down = _overlap(current[0], current[2], x0, x1) and y0 >= current[1] - 1.0 \
                    and y0 <= current[3] + 2 * (x1 - x0)
                if (direction in ("", "across") and across) or (direction in ("", "down") and down):
                    direction = direction or ("across" if across else "down")
                    current = [min(current[0], x0), min(current[1], y0), max(current[2], x1), max(current[3], y1)]
                    continue
                found.append(Box(page.number, *(round(v, 2) for v in current)))
            current, direction = [x0, y0, x1, y1], ""
        if current is not None:
            found.append(Box(page.number, *(round(v, 2) for v in current)))
    return found


def _overlap(low: float, high: float, other_low: float, other_high: float) -> bool:
    """Whether two extents share at least SAME_LINE_OVERLAP of the shorter one."""
    shared = min(high, other_high) - max(low, other_low)
    return shared >= SAME_LINE_OVERLAP * min(high - low, other_high - other_low)


@dataclass(frozen=True)
class Extracted:
    """What a PDF or Word reader makes of a file: the text offsets point into, its title if the file names
    one, and its layout."""

    text: str
    title: str | None
    layout: Layout


@dataclass(frozen=True)
class SourceFile:
    """The file a document was read from, kept so pages can be rendered and the text re-extracted."""

    source_type: str
    media_type: str
    filename: str
    content: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()
