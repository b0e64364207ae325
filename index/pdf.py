"""The PDF reader, first stage: PDFium's characters read into lines, each character with its box; and
`read_pdf`, which drives both stages.

PDFium (through pypdfium2) gives each character in content-stream order with its box; citeqa builds
the text itself, one character at a time, keeping its own index -> (page, box) map (PDFium's text
indices and character indices can differ: pypdfium2#261). This module reads each page into lines
(`PageLines`); index/pdf_text.py turns the pages of lines into the stored text and layout. On the way it:

- builds lines from the characters' positions, in the text's own reading direction (rotated text and
  pages too), marking a line that starts with a raised footnote number;
- folds ligatures (U+FB00-FB06) into their letters, each letter keeping a share of the glyph's box;
- notes a word broken across lines by a hyphen (PDFium marks a line-end hyphen as U+0002) or a soft
  hyphen, dropping it from the line (index/pdf_text.py joins the word and decides whether it stays);
- decides the spaces between characters from their gaps, not from PDFium's guesses alone, so kerning
  does not split words and tab stops do not glue them;
- collapses dot leaders ("Introduction ........ 1") into one space;
- reads the outline (bookmarks) as the text's sections (index/pdf_outline.py).

Imports go one way: this module imports index/pdf_text.py (the line data classes, furniture removal and
assembly), never the reverse. Runs inside the parsing worker (index/extract.py), with bounded time and memory.
"""

from __future__ import annotations

import ctypes
import math
import re
from dataclasses import replace

from index.documents import DocumentError
from index.layout import Extracted
from index.pdf_outline import outline_sections, printed_title, read_outline
from index.pdf_text import ATTACHED, Glyph, Line, PageLines, assemble, drop_furniture

LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st",
             "\ufb06": "st"}
LINE_END_HYPHEN = "\x02"  # PDFium's mark for a hyphen at the end of a line
SOFT_HYPHEN = "\u00ad"
NO_SPACE, GUESSED, WRITTEN = 0, 1, 2
# Gaps are measured in glyph heights (the font's ascent to descent, about 1.2-1.4 times the font size).
# A gap between two glyphs wider than this is a space, whatever PDFium says (tab stops, table cells).
SPACE_GAP = 0.5
# PDFium's own space is kept when the gap is at least this wide (narrower: kerning, "Docume nt").
KERNING_GAP = 0.08
DOT_LEADER = re.compile(r"(?:\.\s*){4,}|(?:…\s*){2,}|(?:·\s*){4,}")
SUPERSCRIPTS = dict(zip("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹", strict=True))
RAISED_DIGITS = set(SUPERSCRIPTS.values())


def read_pdf(content: bytes, *, max_pages: int, max_chars: int) -> Extracted:
    """The text and layout of a PDF, or DocumentError: encrypted, unreadable, too many pages, no text."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(content)
    except pdfium.PdfiumError as error:
        if "password" in str(error).lower():
            raise DocumentError("encrypted", "the PDF is encrypted with a password; send it decrypted") from None
        raise DocumentError("unreadable_document", f"the PDF cannot be read ({error})") from None
    try:
        count = len(pdf)
        if count == 0:
            raise DocumentError("unreadable_document", "the PDF has no pages")
        if count > max_pages:
            raise DocumentError("too_many_pages", f"the PDF has {count:,} pages; the limit is {max_pages:,} "
                                                  "(CITEQA_MAX_PAGES)")
        pages = [_page_lines(pdf, index) for index in range(count)]
        title = _meaningful_title(pdf.get_metadata_value("Title") or "")
        bookmarks = read_outline(pdf)
    finally:
        pdf.close()
    drop_furniture(pages)
    # A page whose only text is the running header and footer (a scanned page in a digital frame) has none.
    empty = tuple(page.number for page in pages if not page.lines)
    if len(empty) == count:
        listed = ", ".join(map(str, empty[:20])) + (", ..." if len(empty) > 20 else "")
        raise DocumentError("no_text", f"the PDF has no text layer: pages {listed} hold no text (a scan?). "
                                       "citeqa reads a PDF's text; it does not run OCR")
    title = title or printed_title(pages)
    text, layout = assemble(pages, max_chars)
    return Extracted(text, title, replace(layout, sections=outline_sections(bookmarks, layout, len(text))))


def _meaningful_title(title: str) -> str | None:
    """The PDF's own title, unless it is a producer's placeholder ("untitled", "Microsoft Word - x.docx")."""
    title = " ".join(title.split())
    if title.lower().startswith("microsoft word - "):
        title = title[len("microsoft word - "):]
    if not title or title.lower() in {"untitled", "title", "document", "no title"} \
            or re.search(r"\.(docx?|pdf|rtf|odt|tex|indd|qxd)$", title, re.IGNORECASE):
        return None
    return title


# ------------------------------------------------------------------ glyphs
def _page_lines(pdf: object, index: int) -> PageLines:

    page = pdf[index]  # type: ignore[index]
    try:
        rotation = int(page.get_rotation()) % 360
        left, bottom, right, top = page.get_cropbox()
        width, height = right - left, top - bottom
        shown = (height, width) if rotation in (90, 270) else (width, height)

        def display(x: float, y: float) -> tuple[float, float]:
            # Unrotated, with the origin at the crop box's top-left corner and y downwards; then turned
            # clockwise by the page's /Rotate, as viewers (and the renderer) show it.
            dx, dy = x - left, top - y
            if rotation == 90:
                return height - dy, dx
            if rotation == 180:
                return width - dx, height - dy
            if rotation == 270:
                return dy, width - dx
            return dx, dy

        label = pdf.get_page_label(index) or None  # type: ignore[attr-defined]
        textpage = page.get_textpage()
        try:
            lines = _lines(_glyphs(textpage, display))
        finally:
            textpage.close()
        if rotation:  # PDFium orders a turned page's text by where it shows, not by the text's own top-down
            lines.sort(key=lambda line: (line.angle, -line.v1))
    finally:
        page.close()
    return PageLines(index + 1, label, round(shown[0], 2), round(shown[1], 2), rotation, lines)


def _glyphs(textpage: object, display: object) -> list[tuple[Glyph, int, int]]:
    """(glyph, its angle in degrees, the space before it: NO_SPACE, GUESSED by PDFium, WRITTEN in the file)
    in content order."""
    import pypdfium2.raw as pdfium_c

    found: list[tuple[Glyph, int, int]] = []
    rect = pdfium_c.FS_RECTF()
    tight_left, tight_right, tight_bottom, tight_top = (ctypes.c_double() for _ in range(4))
    count = pdfium_c.FPDFText_CountChars(textpage)
    spaced = NO_SPACE
    pending_high: int | None = None
    for index in range(count):
        code = pdfium_c.FPDFText_GetUnicode(textpage, index)
        if 0xD800 <= code < 0xDC00:
            pending_high = code
            continue
        if 0xDC00 <= code < 0xE000:
            if pending_high is None:
                continue
            code = 0x10000 + ((pending_high - 0xD800) << 10) + (code - 0xDC00)
        pending_high = None
        if code in (0x20, 0xA0, 0x09, 0x0D, 0x0A, 0x3000) or (0x2000 <= code <= 0x200B):
            # A space in the file is kept; one PDFium guessed (or a line break) is weighed against the gap.
            generated = pdfium_c.FPDFText_IsGenerated(textpage, index) == 1 or code in (0x0D, 0x0A)
            spaced = max(spaced, GUESSED if generated else WRITTEN)
            continue
        if code in (0, 0xFFFE, 0xFFFF) or (code < 0x20 and code != 0x02):
            continue
        if not pdfium_c.FPDFText_GetLooseCharBox(textpage, index, rect):
            continue
        if not pdfium_c.FPDFText_GetCharBox(textpage, index, tight_left, tight_right, tight_bottom, tight_top):
            continue
        angle = int(round(math.degrees(pdfium_c.FPDFText_GetCharAngle(textpage, index)) / 90.0)) % 4 * 90
        # Along the text the glyph's own outline (loose boxes overlap their neighbours, hiding gaps);
        # across it the font's ascent to descent, so every glyph of a line has the same height.
        if angle in (0, 180):
            x0, x1 = sorted((tight_left.value, tight_right.value))
            y0, y1 = sorted((rect.bottom, rect.top))
        else:
            x0, x1 = sorted((rect.left, rect.right))
            y0, y1 = sorted((tight_bottom.value, tight_top.value))
        if not all(map(math.isfinite, (x0, y0, x1, y1))):
            continue
        size = abs(y1 - y0) if angle in (0, 180) else abs(x1 - x0)
        corners = [display(x0, y0), display(x1, y1)]  # type: ignore[operator]
        box = (min(c[0] for c in corners), min(c[1] for c in corners), max(c[0] for c in corners),
               max(c[1] for c in corners))
        # The reading frame: user space turned back by the text's angle, so every line runs along u.
        u0, v0 = _turn(x0, y0, angle)
        u1, v1 = _turn(x1, y1, angle)
        frame = (min(u0, u1), max(u0, u1), min(v0, v1), max(v0, v1))
        char = chr(code)
        for letter, piece in _split(char, box, frame):
            found.append((Glyph(letter, piece[0], piece[1][0], piece[1][1], piece[1][2], piece[1][3], size), angle,
                          spaced))
            spaced = NO_SPACE
    return found


def _turn(x: float, y: float, angle: int) -> tuple[float, float]:
    if angle == 90:
        return y, -x
    if angle == 180:
        return -x, -y
    if angle == 270:
        return -y, x
    return x, y


def _split(char: str, box: tuple[float, float, float, float], frame: tuple[float, float, float, float]
           ) -> list[tuple[str, tuple[tuple[float, float, float, float], tuple[float, float, float, float]]]]:
    """A ligature's letters, each with an equal share of its box along the text; other glyphs as they are."""
    letters = LIGATURES.get(char)
    if letters is None:
        return [(char, (box, frame))]
    parts = []
    n = len(letters)
    across = (box[2] - box[0]) >= (box[3] - box[1])  # on the displayed page the text runs across, or down
    for i, letter in enumerate(letters):
        if across:
            step = (box[2] - box[0]) / n
            piece = (box[0] + i * step, box[1], box[0] + (i + 1) * step, box[3])
        else:
            step = (box[3] - box[1]) / n
            piece = (box[0], box[1] + i * step, box[2], box[1] + (i + 1) * step)
        along = (frame[1] - frame[0]) / n
        parts.append((letter, (piece, (frame[0] + i * along, frame[0] + (i + 1) * along, frame[2], frame[3]))))
    return parts


# ------------------------------------------------------------------- lines
def _lines(glyphs: list[tuple[Glyph, int, int]]) -> list[Line]:
    """Glyphs in content order grouped into lines: a new line where the text changes direction, moves to
    another band of the page or goes back along it; spaces from the gaps (and PDFium's, unless kerning)."""
    lines: list[Line] = []
    current: Line | None = None
    previous: Glyph | None = None
    for glyph, angle, spaced in glyphs:
        if current is not None and previous is not None and _continues(current, previous, glyph, angle):
            gap = glyph.u0 - previous.u1
            size = max(glyph.size, previous.size, 1.0)
            lifted = _raised(glyph, previous) or (previous.char in RAISED_DIGITS and abs(glyph.size - previous.size)
                                                  < 0.1 * previous.size and abs(glyph.v0 - previous.v0) < 1.0)
            if lifted and glyph.char in SUPERSCRIPTS and gap < SPACE_GAP * size:
                glyph.char = SUPERSCRIPTS[glyph.char]  # a footnote mark: "2014¹", "process.¹⁰", never "20141"
            elif spaced == WRITTEN or gap > SPACE_GAP * size or (spaced == GUESSED and gap > KERNING_GAP * size):
                current.glyphs.append(Glyph(" ", None))
        else:
            current = Line(angle=angle)
            lines.append(current)
        current.add(glyph)
        previous = glyph
    for line in lines:
        _tidy(line)
    return [line for line in lines if line.glyphs]


def _raised(glyph: Glyph, before: Glyph) -> bool:
    """A superscript: smaller than the glyph before it and lifted above its baseline."""
    return glyph.size < 0.85 * before.size and glyph.v0 > before.v0 + 0.2 * before.size


def _continues(line: Line, previous: Glyph, glyph: Glyph, angle: int) -> bool:
    if angle != line.angle:
        return False
    height = min(line.v1 - line.v0, glyph.v1 - glyph.v0)
    overlap = min(line.v1, glyph.v1) - max(line.v0, glyph.v0)
    if height <= 0 or overlap < 0.5 * height:
        return False
    return glyph.u0 >= previous.u0 - 0.5 * max(glyph.size, 1.0)


def _breaks_a_name(glyphs: list[Glyph]) -> bool:
    """The line ends inside an identifier that typesetters break after an underscore, with no hyphen
    ("ASN1_MAX_" then "NAME_SIZE"). (A web address broken after a slash is left alone: whether the next line
    goes on with its path or with the sentence cannot be told apart.)"""
    return len(glyphs) > 1 and glyphs[-1].char == "_" and glyphs[-2].char.isalnum()


def _tidy(line: Line) -> None:
    """Dot leaders to one space, line-end hyphens noted and dropped, soft hyphens and stray spaces removed;
    a line that starts with a raised footnote number ("¹ See ...") starts a footnote."""
    real = [g for g in line.glyphs if g.box is not None]
    if len(real) > 1 and real[0].char in SUPERSCRIPTS and _raised(real[0], real[-1]):
        for glyph in real:  # "¹²" starting a footnote: every digit of the raised mark
            if glyph.char not in SUPERSCRIPTS or not _raised(glyph, real[-1]):
                break
            glyph.char = SUPERSCRIPTS[glyph.char]
        line.footnote = True
    text = line.text
    for match in reversed(list(DOT_LEADER.finditer(text))):
        start, end = match.start(), match.end()
        while start > 0 and line.glyphs[start - 1].char == " ":
            start -= 1
        while end < len(line.glyphs) and line.glyphs[end].char == " ":
            end += 1
        line.glyphs[start:end] = [Glyph(" ", None)]
    glyphs = [g for i, g in enumerate(line.glyphs) if not (g.char == SOFT_HYPHEN and i < len(line.glyphs) - 1)]
    glyphs = [g for g in glyphs if not (g.char == LINE_END_HYPHEN and g is not glyphs[-1])]
    while glyphs and glyphs[-1].char == " ":
        glyphs.pop()
    while glyphs and glyphs[0].char == " ":
        glyphs.pop(0)
    if glyphs and glyphs[-1].char in (LINE_END_HYPHEN, SOFT_HYPHEN, "-") and len(glyphs) > 1:
        if glyphs[-2].char.isalpha():  # a word broken across lines: joined below, the hyphen kept or not
            line.hyphen = SOFT_HYPHEN if glyphs[-1].char == SOFT_HYPHEN else "-"
            line.glyphs = glyphs[:-1]
            return
        if glyphs[-1].char != SOFT_HYPHEN:  # "800-" then "39": the hyphen stays and the next line follows it
            line.hyphen = ATTACHED
    elif _breaks_a_name(glyphs):
        line.hyphen = ATTACHED
    line.glyphs = [g if g.char != LINE_END_HYPHEN else Glyph("-", g.box, g.u0, g.u1, g.v0, g.v1, g.size)
                   for g in glyphs if g.char != SOFT_HYPHEN]


