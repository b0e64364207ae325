"""A PDF's structure: its outline (bookmarks) as the sections of its text, each heading path with its
`[start, end)`; and the title printed on its first page, for a PDF whose metadata names none.

Reports and manuals carry their table of contents as bookmarks, each pointing at a page and, usually, a
point on it. The section a span sits in is then known as for a Word file (`Location.section`), so a PDF's
citation can say "1.0 Framework Introduction > 1.1 Overview" as well as "p. 9", and the answer verifier
reads the heading a passage sits under as its context, as it reads the document's title.

Runs inside the parsing worker, with the PDF still open; the outline is read bounded (depth and count), so
a hostile outline (a loop, thousands of entries) costs nothing more than a long one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from index.layout import Layout, Section
from index.pdf_text import PageLines

MAX_ENTRIES = 5000
# A first page's line set at least this much larger than the page's usual text is its printed title.
PRINTED_TITLE_SIZE = 1.4
MAX_TITLE_CHARS = 200
MAX_DEPTH = 8
# pypdfium2's destination view modes that give the top of the view: XYZ [left, top, zoom], FitH [top], FitBH [top].
XYZ, FIT_H, FIT_BH = 1, 3, 7


@dataclass(frozen=True)
class Bookmark:
    level: int  # 0 for the outline's outermost entries
    title: str
    page: int  # 0-based page index
    top: float | None  # the destination's top in displayed coordinates (points from the page's top), if given


def read_outline(pdf: object) -> list[Bookmark]:
    """The bookmarks that point into the document, in outline order; none when the outline is unreadable."""
    import pypdfium2 as pdfium

    found: list[Bookmark] = []
    count = len(pdf)  # type: ignore[arg-type]
    tops: dict[int, tuple[float, int]] = {}
    try:
        for entry in pdf.get_toc(max_depth=MAX_DEPTH):  # type: ignore[attr-defined]
            if len(found) >= MAX_ENTRIES:
                break
            title = " ".join((entry.get_title() or "").split())
            destination = entry.get_dest()
            index = destination.get_index() if destination is not None else None
            if not title or index is None or not 0 <= index < count:
                continue
            mode, view = destination.get_view()
            y = view[1] if mode == XYZ and len(view) > 1 else view[0] if mode in (FIT_H, FIT_BH) and view else None
            top = None
            if y is not None and math.isfinite(y):
                if index not in tops:
                    page = pdf[index]  # type: ignore[index]
                    try:
                        tops[index] = (page.get_cropbox()[3], int(page.get_rotation()) % 360)
                    finally:
                        page.close()
                crop_top, rotation = tops[index]
                top = crop_top - float(y) if rotation == 0 else None
            found.append(Bookmark(entry.level, title, index, top))
    except pdfium.PdfiumError:
        return []
    return found


def outline_sections(bookmarks: list[Bookmark], layout: Layout, text_length: int) -> tuple[Section, ...]:
    """The sections the bookmarks start: each from the first character at or below its destination on its
    page (the page's start when the bookmark gives no point) to the next section's start."""
    starts: list[tuple[int, int]] = []  # (offset, position in the outline)
    for position, bookmark in enumerate(bookmarks):
        if bookmark.page >= len(layout.pages):
            continue
        page = layout.pages[bookmark.page]
        offset = page.start
        if bookmark.top is not None and page.end > page.start and page.boxes.shape[0] >= page.end - page.start:
            bottoms = page.boxes[: page.end - page.start, 3]
            below = np.flatnonzero(~np.isnan(bottoms) & (bottoms >= bookmark.top - 1.0))
            offset = page.start + int(below[0]) if below.size else page.end
        starts.append((offset, position))
    starts.sort()
    sections: list[Section] = []
    path: list[str] = []
    for number, (offset, position) in enumerate(starts):
        bookmark = bookmarks[position]
        path = [*path[: bookmark.level], bookmark.title]
        end = starts[number + 1][0] if number + 1 < len(starts) else text_length
        if end > offset:
            sections.append(Section(offset, end, tuple(path)))
    return tuple(sections)


def printed_title(pages: list[PageLines]) -> str | None:
    """The first page's largest lines, when set well above its usual text (TeX and DocBook write no title
    into the metadata, and the file's name is a poor one)."""
    page = next((page for page in pages if page.lines), None)
    if page is None:
        return None
    sizes = sorted(line.size for line in page.lines)
    largest, usual = sizes[-1], sizes[len(sizes) // 2]
    if largest < PRINTED_TITLE_SIZE * usual:
        return None
    title: list[str] = []
    for line in page.lines:
        if line.size >= largest * 0.95:
            title.append(line.text)
        elif title:
            break
    text = " ".join(" ".join(title).split())
    return text if 0 < len(text) <= MAX_TITLE_CHARS else None
