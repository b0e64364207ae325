"""PDF and Word files drawn by the tests (reportlab, pypdf, python-docx), with a record of where each token sits.

`handbook_pdf()` makes a 9-page PDF with everything real PDFs do to text: a running header and footer, a
unique token per page, a fact per page to ask about, a two-column page, a table, a footnote, a dot-leader
table of contents, a hyphenated line end, a soft hyphen, ligatures (Bitstream Vera, shipped with
reportlab, has the glyphs), an image-only page, a rotated page and page labels (i, ii, then 1, 2, ...).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

FONT = "Vera"
SIZE = 11.0
PAGE_WIDTH, PAGE_HEIGHT = 612.0, 792.0
HEADER = "Harbour Operations Handbook"
FOOTER = "Port Elin Authority - Page {number}"


@dataclass(frozen=True)
class Drawn:
    """A string drawn on a page: its page, its box in displayed coordinates (top-left origin, y down)."""

    text: str
    page: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class MadePdf:
    content: bytes
    pages: int
    tokens: dict[str, Drawn] = field(default_factory=dict)
    facts: list[tuple[str, str, int]] = field(default_factory=list)  # (question, answer, page)
    labels: list[str] = field(default_factory=list)


def _font() -> None:
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, os.path.join(os.path.dirname(reportlab.__file__), "fonts", "Vera.ttf")))


class _Pages:
    """Draws lines top-down on the current page and records where tokens land."""

    def __init__(self, made: MadePdf) -> None:
        from reportlab.pdfgen import canvas

        _font()
        self.buffer = io.BytesIO()
        self.canvas = canvas.Canvas(self.buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
        self.made = made
        self.number = 1
        self.rotation = 0
        self._furniture()

    @property
    def height(self) -> float:
        """The page's height in its own (unrotated) space: a turned page is drawn landscape, shown portrait."""
        return PAGE_WIDTH if self.rotation else PAGE_HEIGHT

    def _furniture(self) -> None:
        self.canvas.setFont(FONT, 9)
        self.canvas.drawString(72, self.height - 40, HEADER)
        self.canvas.drawString(72, 36, FOOTER.format(number=self.number))

    def line(self, text: str, x: float, y: float, size: float = SIZE, tokens: tuple[str, ...] = ()) -> None:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        self.canvas.setFont(FONT, size)
        self.canvas.drawString(x, y, text)
        for token in tokens:
            at = text.index(token)
            left = x + stringWidth(text[:at], FONT, size)
            right = left + stringWidth(token, FONT, size)
            self.made.tokens[token] = self._displayed(token, left, y, right, size)

    def _displayed(self, token: str, left: float, baseline: float, right: float, size: float) -> Drawn:
        # The box from the baseline up by the font size, as displayed (top-left origin, y down).
        if self.rotation == 90:  # the landscape page shown turned clockwise: x' = y, y' = x
            return Drawn(token, self.number, baseline, left, baseline + size, right)
        return Drawn(token, self.number, left, PAGE_HEIGHT - baseline - size, right, PAGE_HEIGHT - baseline)

    def paragraph(self, lines: list[str], x: float, y: float, size: float = SIZE, leading: float = 14.0,
                  tokens: tuple[str, ...] = ()) -> float:
        for text in lines:
            self.line(text, x, y, size, tuple(t for t in tokens if t in text))
            y -= leading
        return y - leading * 0.8

    def next_page(self, rotation: int = 0) -> None:
        self.canvas.showPage()
        self.number += 1
        self.rotation = rotation
        self.canvas.setPageRotation(rotation)  # reportlab then writes the page landscape, shown portrait
        self._furniture()

    def finish(self) -> bytes:
        self.canvas.showPage()
        self.canvas.save()
        return self.buffer.getvalue()


def handbook_pdf() -> MadePdf:
    """The 9-page handbook (see the module's docstring); page labels i, ii, 1, 2, ... set with pypdf."""
    from reportlab.lib.utils import ImageReader

    made = MadePdf(b"", 9)
    pages = _Pages(made)
    # 1: title and a dot-leader table of contents
    pages.line("Harbour Operations Handbook", 72, 700, 20)
    pages.line("Contents", 72, 650, 14)
    pages.line("Mooring rules ........................................ 1", 72, 620)
    pages.line("Pilotage ................................................ 2", 72, 604)
    pages.line("The handbook edition is codenamed Tokenamber.", 72, 560, tokens=("Tokenamber",))
    # 2: foreword with a footnote
    pages.next_page()
    y = pages.paragraph(["Foreword", ], 72, 700, 14)
    from reportlab.pdfbase.pdfmetrics import stringWidth

    before = "The harbour was founded in 1843 by the merchant Isolde Varga."
    pages.line(before, 72, y)
    mark = 72 + stringWidth(before, FONT, SIZE)
    pages.line("1", mark + 0.5, y + 4, 7)  # a raised footnote mark, as word processors draw it
    pages.line("It has served", mark + 8, y)
    pages.line("the northern fisheries ever since. The foreword token is Tokenbirch.", 72, y - 14,
               tokens=("Tokenbirch",))
    pages.line("1", 72, 84, 6)
    pages.line("Harbour records, volume 2, archived in the town library.", 77, 80, 8)
    made.facts.append(("Who founded the harbour?", "Isolde Varga", 2))
    # 3: body with a hyphenated line end, a soft hyphen and ligatures
    pages.next_page()
    y = pages.paragraph(["Mooring rules", ], 72, 700, 14)
    pages.paragraph(["Every vessel must moor at the berth assigned by the inter-",
                     "national harbour office before sunset. The \ufb01nal inspection is done by",
                     "the off-duty officer on watch, who \ufb02ags unsafe moorings. Over\u00ad",
                     "night anchoring costs 40 crowns. The mooring token is Tokencedar."], 72, y,
                    tokens=("Tokencedar",))
    made.facts.append(("How much does overnight anchoring cost?", "40 crowns", 3))
    # 4: two columns, the left one first in the file, as word processors write them
    pages.next_page()
    pages.line("Pilotage", 72, 700, 14)
    left = ["Pilots board every ship longer", "than eighty metres at the outer", "buoy. The left column token",
            "is Tokendelta and the chief pilot", "is Ansgar Holm."]
    right = ["Pilots are booked through the", "harbour radio on channel twelve.", "The right column token is",
             "Tokenelm and bookings close at", "six in the evening."]
    pages.paragraph(left, 72, 660, tokens=("Tokendelta",))
    pages.paragraph(right, 320, 660, tokens=("Tokenelm",))
    made.facts.append(("Who is the chief pilot?", "Ansgar Holm", 4))
    made.facts.append(("On which channel are pilots booked?", "channel twelve", 4))
    # 5: a table, read row by row
    pages.next_page()
    pages.line("Harbour fees", 72, 700, 14)
    for row, (vessel, fee) in enumerate([("Vessel", "Fee per day"), ("Fishing boat", "12 crowns"),
                                         ("Ferry", "95 crowns"), ("Cargo ship", "310 crowns")]):
        pages.line(vessel, 72, 670 - 18 * row)
        pages.line(fee, 300, 670 - 18 * row)
    pages.line("The fee table token is Tokenfir.", 72, 560, tokens=("Tokenfir",))
    made.facts.append(("What is the daily fee for a ferry?", "95 crowns", 5))
    # 6: an image and no text at all but the running header and footer ... which are furniture
    pages.next_page()
    from PIL import Image

    image = Image.new("RGB", (200, 120), (40, 90, 160))
    pages.canvas.drawImage(ImageReader(image), 100, 400, 300, 180)
    # 7: a rotated page (shown turned 90 degrees clockwise)
    pages.next_page(rotation=90)
    pages.paragraph(["Storm procedure", ], 72, 520, 14)
    pages.paragraph(["When the storm flag is raised, all cranes stop and the harbour closes.",
                     "The storm token is Tokengrove and the storm warden is Petra Lund."], 72, 480,
                    tokens=("Tokengrove",))
    made.facts.append(("Who is the storm warden?", "Petra Lund", 7))
    # 8 and 9: plain pages
    pages.next_page()
    pages.paragraph(["Fuel", ], 72, 700, 14)
    pages.paragraph(["Diesel is sold at the east quay from six in the morning.",
                     "The fuel token is Tokenhazel."], 72, 660, tokens=("Tokenhazel",))
    made.facts.append(("Where is diesel sold?", "east quay", 8))
    pages.next_page()
    pages.paragraph(["Waste", ], 72, 700, 14)
    pages.paragraph(["Oily waste goes to the red barge, which the harbour empties every Friday.",
                     "The waste token is Tokenivy."], 72, 660, tokens=("Tokenivy",))
    made.facts.append(("When is the red barge emptied?", "every Friday", 9))
    raw = pages.finish()
    made.content = _with_labels(raw)
    made.labels = ["i", "ii", *[str(n) for n in range(1, 8)]]
    return made


def _with_labels(content: bytes) -> bytes:
    """The PDF with page labels: lower-case roman for the first two pages, then arabic from 1."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.constants import PageLabelStyle

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(content)))
    writer.set_page_label(0, 1, style=PageLabelStyle.LOWERCASE_ROMAN)
    writer.set_page_label(2, len(writer.pages) - 1, style=PageLabelStyle.DECIMAL, start=1)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted(content: bytes, password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(content)))
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf(pages: int = 2) -> bytes:
    """A PDF of images only: what a scanner without OCR makes."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
    for number in range(pages):
        drawing.drawImage(ImageReader(Image.new("L", (300, 400), 200 - 40 * number)), 72, 72, 468, 648)
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def bomb_pdf(inflated_bytes: int = 400 * 1024 * 1024) -> bytes:
    """A one-page PDF whose content stream is a few hundred KB of Flate that inflate to `inflated_bytes`."""
    import zlib

    compressor = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    stream = b"".join(compressor.compress(chunk) for _ in range(inflated_bytes >> 20)) + compressor.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def many_pages_pdf(pages: int) -> bytes:
    from reportlab.pdfgen import canvas

    _font()
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
    for number in range(pages):
        drawing.setFont(FONT, SIZE)
        drawing.drawString(72, 500, f"Gauge {number + 1} of the long report read {3 * number + 7} centimetres.")
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


# A book's furniture, as TeX and DocBook manuals print it: each chapter's first page shows its number alone
# at the top; the pages after show "Chapter N: Title <page>". Eight pages, three chapters, so no header
# line repeats on the share of pages `drop_furniture`'s general rule needs.
BOOK_CHAPTERS = (("Moorings", 2), ("Cranes", 3), ("Pilots", 3))
BOOK_TITLE = "Harbour Crane Manual"


def book_pdf() -> tuple[bytes, list[str], list[str]]:
    """A manual with chapter headers and lone page numbers: (content, its furniture lines, its body sentences).

    Page 2 also holds a table cell that is a number alone ("42") in the middle of the page: not furniture.
    Page 3 breaks an identifier after an underscore at a line end, and ends a line with a web address.
    Its outline has a bookmark per chapter, and one for a section starting in the middle of page 4.
    """
    from reportlab.pdfgen import canvas

    _font()
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
    furniture, body, page = [], [], 0
    for chapter, (title, length) in enumerate(BOOK_CHAPTERS, start=1):
        for within in range(length):
            page += 1
            drawing.setFont(FONT, 9)
            header = str(page) if within == 0 else f"Chapter {chapter}: {title} {page}"
            drawing.drawString(72 if within else PAGE_WIDTH - 90, PAGE_HEIGHT - 40, header)
            furniture.append(header)
            drawing.setFont(FONT, SIZE)
            if page == 1:  # the manual's title, printed large; the PDF's metadata names none
                drawing.setFont(FONT, 20)
                drawing.drawString(72, PAGE_HEIGHT - 70, BOOK_TITLE)
                drawing.setFont(FONT, SIZE)
            if within == 0:  # the chapter's heading, and its bookmark pointing just above it
                drawing.drawString(72, PAGE_HEIGHT - 100, f"{chapter} {title}")
                drawing.bookmarkPage(f"chapter{chapter}", fit="XYZ", left=0, top=PAGE_HEIGHT - 86)
                drawing.addOutlineEntry(f"{chapter} {title}", f"chapter{chapter}", level=0)
            sentence = f"The {title.lower()} rule number {page} names token Q{page}X of page {page}."
            drawing.drawString(72, PAGE_HEIGHT - 140, sentence)
            body.append(sentence)
            if page == 4:  # a section starting mid-page, one level down
                drawing.drawString(72, PAGE_HEIGHT - 300, "2.1 Crane checks")
                drawing.drawString(72, PAGE_HEIGHT - 330, "Crane checks run every Monday at token K4X.")
                drawing.bookmarkPage("checks", fit="XYZ", left=0, top=PAGE_HEIGHT - 286)
                drawing.addOutlineEntry("2.1 Crane checks", "checks", level=1)
            if page == 2:
                drawing.drawString(72, PAGE_HEIGHT - 400, "Berths in service:")
                drawing.drawString(300, PAGE_HEIGHT - 400, "42")
            if page == 3:  # a name broken at a line end without a hyphen, as TeX breaks identifiers
                for row, text in enumerate(("Set the berth limit with HARBOUR_MAX_", "BERTH_COUNT in the file; the",
                                            "rules are at https://www.example.gov/", "Everyone may read them.")):
                    drawing.drawString(72, PAGE_HEIGHT - 300 - 14 * row, text)
            drawing.showPage()
    drawing.save()
    return buffer.getvalue(), furniture, body


def titled_header_pdf(pages: int = 4) -> bytes:
    """A report whose running header repeats its title, which its first page prints large at the top edge."""
    from reportlab.pdfgen import canvas

    _font()
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
    for number in range(1, pages + 1):
        drawing.setFont(FONT, 22 if number == 1 else 9)
        drawing.drawString(72, PAGE_HEIGHT - (60 if number == 1 else 40), HEADER)
        drawing.setFont(FONT, SIZE)
        drawing.drawString(72, 500, f"Berth {number} takes ships of up to {40 * number} metres.")
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def handbook_docx() -> bytes:
    """A Word file with a title, numbered headings, a list and a table: the facts sit under 2.1."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Lighthouse Keeping Manual"
    document.add_heading("Lighthouse Keeping Manual", level=0)
    document.add_heading("1 Purpose", level=1)
    document.add_paragraph("This manual tells keepers how to run the Skarvik lighthouse.")
    document.add_heading("2 Scope", level=1)
    document.add_paragraph("It covers the lamp, the fog signal and the logbook.")
    document.add_heading("2.1 Audience", level=2)
    document.add_paragraph("The manual is written for relief keepers. The head keeper is Oskar Brandt, who "
                           "has kept the light since 1998.")
    document.add_paragraph("Trim the wick every evening", style="List Bullet")
    document.add_paragraph("Wind the clockwork every four hours", style="List Bullet")
    document.add_heading("3 Supplies", level=1)
    table = document.add_table(rows=3, cols=2)
    for row, (item, amount) in enumerate([("Item", "Monthly amount"), ("Paraffin", "120 litres"),
                                          ("Wicks", "30")]):
        table.cell(row, 0).text = item
        table.cell(row, 1).text = amount
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
