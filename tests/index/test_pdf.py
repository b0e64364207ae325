"""The PDF reader on a PDF drawn here (tests/documents_made.py) and on the two real NIST PDFs.

Real components: PDFium through pypdfium2, the parsing worker process, a real store. Every check compares
with where reportlab drew the text, or with the PDF's own page count and labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from api.services import Index
from index.documents import DocumentError
from index.extract import ParseLimits, load_bytes, render_page, sniff
from index.layout import Extracted
from index.pdf import read_pdf
from tests.documents_made import (
    BOOK_TITLE,
    HEADER,
    MadePdf,
    bomb_pdf,
    book_pdf,
    encrypted,
    handbook_pdf,
    many_pages_pdf,
    scanned_pdf,
    titled_header_pdf,
)

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "pdf"
LIMITS = ParseLimits()


@pytest.fixture(scope="module")
def handbook() -> MadePdf:
    return handbook_pdf()


@pytest.fixture(scope="module")
def read(handbook: MadePdf) -> Extracted:
    """The handbook read through the worker process, as uploads are."""
    from index.extract import extract

    return extract(handbook.content, "pdf", LIMITS)


def words(text: str) -> str:
    return " ".join(text.split())


def test_pages_cover_the_text_in_order_without_overlap(read: Extracted, handbook: MadePdf) -> None:
    pages = read.layout.pages
    assert [p.number for p in pages] == list(range(1, handbook.pages + 1))  # the PDF's own page count
    assert pages[0].start == 0 and pages[-1].end == len(read.text)
    for before, after in zip(pages, pages[1:], strict=False):
        assert before.end == after.start
    for page in pages:
        assert page.boxes.shape == (page.end - page.start, 4)


def test_page_labels_are_the_printed_ones(read: Extracted, handbook: MadePdf) -> None:
    assert [p.label for p in read.layout.pages] == handbook.labels


def test_every_token_is_cited_on_its_page_within_two_points(read: Extracted, handbook: MadePdf) -> None:
    for token, drawn in handbook.tokens.items():
        assert read.text.count(token) == 1, token
        start = read.text.index(token)
        location = read.layout.locate(start, start + len(token))
        assert location.page == drawn.page, token
        assert len(location.boxes) == 1, (token, location.boxes)
        box = location.boxes[0]
        assert box.page == drawn.page
        if drawn.x1 - drawn.x0 > drawn.y1 - drawn.y0:  # across the displayed page
            along, across = (box.x0, box.x1, drawn.x0, drawn.x1), (box.y0, box.y1, drawn.y1)
        else:  # down it: the turned page
            along, across = (box.y0, box.y1, drawn.y0, drawn.y1), (box.x0, box.x1, drawn.x0)
        assert abs(along[0] - along[2]) <= 2 and abs(along[1] - along[3]) <= 2, (token, box, drawn)
        assert across[0] - 2 <= across[2] <= across[1] + 2, (token, box, drawn)  # the baseline is inside


def test_running_header_and_footer_are_dropped_but_not_the_title(read: Extracted) -> None:
    assert "Port Elin Authority - Page" not in read.text
    # The header repeats on every page; the same words as the title on page 1 (not at the page's edge) stay.
    assert read.text.count(HEADER) == 1 and read.text.index(HEADER) == 0


def test_chapter_headers_and_lone_page_numbers_are_dropped() -> None:
    # A header that names its chapter repeats on a few pages only, and a page number printed alone on a
    # chapter's first page repeats nowhere; both are still furniture. A number inside the page stays.
    content, furniture, body = book_pdf()
    text = read_pdf(content, max_pages=LIMITS.max_pages, max_chars=LIMITS.max_chars).text
    lines = [line.strip() for line in text.split("\n\n")]
    assert [line for line in lines if line in furniture or line.startswith("Chapter ")] == []
    for sentence in body:
        assert sentence in text
    assert "Berths in service: 42" in words(text)
    assert "1 Moorings" in text and "2 Cranes" in text  # chapter headings with their numbers stay


def test_names_broken_at_a_line_end_are_joined_whole() -> None:
    content, _, _ = book_pdf()
    text = read_pdf(content, max_pages=LIMITS.max_pages, max_chars=LIMITS.max_chars).text
    assert "HARBOUR_MAX_BERTH_COUNT in the file" in text
    assert "https://www.example.gov/ Everyone may" in text  # an address at a line end is not run on
    assert "file; the rules are" in text  # a plain line end is still a space


def test_the_outline_gives_every_span_its_section() -> None:
    content, _, _ = book_pdf()
    read = read_pdf(content, max_pages=LIMITS.max_pages, max_chars=LIMITS.max_chars)
    sections = read.layout.sections
    assert [s.path for s in sections] == [("1 Moorings",), ("2 Cranes",), ("2 Cranes", "2.1 Crane checks"),
                                          ("3 Pilots",)]
    assert all(a.end == b.start for a, b in zip(sections, sections[1:], strict=False))
    assert read.text[sections[2].start:].startswith("2.1 Crane checks")  # where the bookmark points
    for token, path in (("Q1X", ("1 Moorings",)), ("Q4X", ("2 Cranes",)), ("K4X", ("2 Cranes", "2.1 Crane checks")),
                        ("Q8X", ("3 Pilots",))):
        start = read.text.index(token)
        where = read.layout.locate(start, start + 3)
        assert where.section == path and where.page == int(token[1]), (token, where)


def test_a_title_printed_large_names_a_pdf_whose_metadata_does_not() -> None:
    content, _, _ = book_pdf()
    read = read_pdf(content, max_pages=LIMITS.max_pages, max_chars=LIMITS.max_chars)
    assert read.title == BOOK_TITLE and read.text.startswith(BOOK_TITLE)


def test_a_running_header_printed_large_on_the_cover_is_the_title_and_stays() -> None:
    text = read_pdf(titled_header_pdf(), max_pages=LIMITS.max_pages, max_chars=LIMITS.max_chars).text
    assert text.count(HEADER) == 1 and text.startswith(HEADER)


def test_ligatures_hyphens_and_soft_hyphens(read: Extracted) -> None:
    text = words(read.text)
    assert "The final inspection" in text and "who flags unsafe" in text
    assert not re.search("[\ufb00-\ufb06]", read.text)
    assert "the international harbour office" in text  # "inter-" + "national": joined
    assert "Overnight anchoring" in text and "\u00ad" not in read.text


def test_two_columns_read_column_by_column(read: Extracted) -> None:
    text = words(read.text)
    left = text.index("Pilots board every ship longer than eighty metres at the outer buoy.")
    right = text.index("Pilots are booked through the harbour radio on channel twelve.")
    assert left < text.index("the chief pilot is Ansgar Holm.") < right


def test_table_rows_read_cell_by_cell(read: Extracted) -> None:
    text = words(read.text)
    assert "Fishing boat 12 crowns Ferry 95 crowns Cargo ship 310 crowns" in text


def test_footnote_mark_and_footnote(read: Extracted) -> None:
    assert "Isolde Varga.¹ It has served" in words(read.text)  # the mark never glues to a word as "Varga.1"
    assert re.search(r"\n\n¹ ?Harbour records, volume 2", read.text)  # the footnote is its own paragraph


def test_dot_leaders_collapse(read: Extracted) -> None:
    assert "Mooring rules 1 Pilotage 2" in words(read.text)
    assert "...." not in read.text


def test_image_only_page_is_named_and_empty(read: Extracted) -> None:
    assert read.layout.pages_without_text == (6,)
    page = read.layout.pages[5]
    assert page.start == page.end


def test_rotated_page_is_read_top_down_with_its_displayed_size(read: Extracted) -> None:
    page = read.layout.pages[6]
    # reportlab writes the turned page landscape (792 x 612 points); shown turned, it stands upright.
    assert page.rotation == 90 and (page.width, page.height) == (612.0, 792.0)
    body = words(read.text[page.start : page.end])
    assert body.index("Storm procedure") < body.index("When the storm flag") < body.index("Petra Lund")


def test_a_span_across_lines_gets_a_box_per_line(read: Extracted) -> None:
    start = read.text.index("Every vessel must")
    end = read.text.index("40 crowns") + len("40 crowns")
    location = read.layout.locate(start, end)
    assert location.pages == (3,) and len(location.boxes) == 4
    tops = [box.y0 for box in location.boxes]
    assert tops == sorted(tops) and min(b - a for a, b in zip(tops, tops[1:], strict=False)) > 10


def test_the_page_renders_at_its_displayed_shape(handbook: MadePdf) -> None:
    from io import BytesIO

    from PIL import Image

    upright = Image.open(BytesIO(render_page(handbook.content, 3, 800, LIMITS)))
    turned = Image.open(BytesIO(render_page(handbook.content, 7, 800, LIMITS))).convert("L")
    assert upright.size == turned.size and upright.size[1] == 800 and abs(upright.size[0] - 800 * 612 / 792) <= 1
    # The turned page's text runs down the image where its boxes say: ink inside Tokengrove's box.
    box = handbook.tokens["Tokengrove"]
    scale = 800 / 792
    inside = turned.crop((int(box.x0 * scale), int(box.y0 * scale), int(box.x1 * scale), int(box.y1 * scale)))
    assert box.y1 - box.y0 > box.x1 - box.x0 and inside.getextrema()[0] < 100


@pytest.mark.parametrize(("make", "code", "status"), [
    (lambda made: encrypted(made.content), "encrypted", 422),
    (lambda made: made.content[: len(made.content) // 3], "unreadable_document", 422),
    (lambda made: b"%PDF-1.7\n" + bytes(range(256)) * 64, "unreadable_document", 422),
    (lambda made: scanned_pdf(), "no_text", 422),
    (lambda made: bomb_pdf(), "too_complex", 413),
])
def test_hostile_files_are_refused_clearly(handbook: MadePdf, make: Callable[[MadePdf], bytes], code: str,
                                           status: int) -> None:
    with pytest.raises(DocumentError) as refused:
        load_bytes(make(handbook), filename="report.pdf", limits=LIMITS)
    assert (refused.value.code, refused.value.status) == (code, status), str(refused.value)
    if code == "no_text":
        assert "pages 1, 2" in str(refused.value) and "OCR" in str(refused.value)


def test_limits_on_pages_and_characters() -> None:
    with pytest.raises(DocumentError) as refused:
        load_bytes(many_pages_pdf(12), filename="long.pdf", limits=ParseLimits(max_pages=10))
    assert (refused.value.code, refused.value.status) == ("too_many_pages", 413)
    assert "12 pages" in str(refused.value) and "CITEQA_MAX_PAGES" in str(refused.value)
    with pytest.raises(DocumentError) as refused:
        load_bytes(many_pages_pdf(12), filename="long.pdf", limits=ParseLimits(max_chars=200))
    assert (refused.value.code, refused.value.status) == ("document_too_large", 413)


def test_a_worker_out_of_memory_is_a_413_not_a_crash() -> None:
    framework = (REAL / "NIST.CSWP.04162018.pdf").read_bytes()
    with pytest.raises(DocumentError) as refused:  # 2 MB beyond the libraries: far too little for 55 pages
        load_bytes(framework, filename="f.pdf", limits=ParseLimits(memory_bytes=2 * 1024 * 1024))
    assert refused.value.status == 413 and "CITEQA_PARSE_MEMORY_MB" in str(refused.value)


def test_the_type_comes_from_the_content(handbook: MadePdf) -> None:
    assert sniff(handbook.content, "notes.txt") == "pdf"
    assert sniff(handbook.content, None) == "pdf"
    with pytest.raises(DocumentError, match="not a PDF"):
        sniff(b"just text", "report.pdf")


def test_real_pdfs_keep_their_words(tmp_path: Path) -> None:
    """The Framework's page 12: the heading kerned apart by some extractors, footnote marks, bullets."""
    framework = read_pdf((REAL / "NIST.CSWP.04162018.pdf").read_bytes(), max_pages=100, max_chars=10**7)
    page = framework.layout.pages[11]
    text = framework.text[page.start : page.end]
    assert "1.3 Document Overview" in text
    assert "27005:2011⁷" in text and "800-39⁸" in text
    assert "\n\n• Appendix B contains a glossary of selected terms." in text
    assert "Cybersecurity Framework Version 1.1" not in framework.text  # the running header of every page
    assert len(framework.layout.pages) == 55
    fips = read_pdf((REAL / "FIPS200.pdf").read_bytes(), max_pages=100, max_chars=10**7)
    assert len(fips.layout.pages) == 17 and "March 2006" in fips.text


def test_a_stored_pdf_cites_every_chunk_exactly(make_index: Callable[..., Index], handbook: MadePdf) -> None:
    index = make_index()
    document = load_bytes(handbook.content, filename="handbook.pdf", limits=LIMITS)
    index.indexer.add(document)
    stored = index.store.get(document.id)
    assert stored.text == document.text and stored.source_type == "pdf"
    assert [p.number for p in stored.layout.pages] == list(range(1, 10))
    source = index.store.source(document.id)
    assert source is not None and source.content == handbook.content
    hits = index.retriever.run("Who is the storm warden?", 20)
    assert hits
    for hit in hits:
        assert stored.text[hit.chunk.start : hit.chunk.end] == hit.chunk.text
        assert hit.chunk.pages, "a chunk knows the pages it covers"
        covered = {p.number for p in stored.layout.pages if p.start < hit.chunk.end and p.end > hit.chunk.start}
        assert set(hit.chunk.pages) == covered


def test_large_images_do_not_count_as_a_bomb() -> None:
    """Images inflate only to render a page: a PDF with 48 MB of image pixels reads under a 10 MB limit."""
    import io

    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer)
    drawing.drawImage(ImageReader(Image.new("RGB", (4000, 4000), (250, 250, 250))), 72, 300, 200, 200)
    drawing.setFont("Helvetica", 12)
    drawing.drawString(72, 600, "The photograph shows the lighthouse in winter.")
    drawing.save()
    document = load_bytes(buffer.getvalue(), filename="photo.pdf", limits=ParseLimits(max_unpacked_bytes=10 << 20))
    assert "lighthouse in winter" in document.text


def test_an_outline_is_read_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A hostile outline (thousands of entries) costs no more than MAX_ENTRIES of them; here the bound is 2.
    import index.pdf_outline

    monkeypatch.setattr(index.pdf_outline, "MAX_ENTRIES", 2)
    content, _, _ = book_pdf()
    read = read_pdf(content, max_pages=LIMITS.max_pages, max_chars=LIMITS.max_chars)
    assert [s.path for s in read.layout.sections] == [("1 Moorings",), ("2 Cranes",)]
    assert read.layout.sections[-1].end == len(read.text)
