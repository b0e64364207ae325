"""The Word reader: text in document order, heading-path sections, titles, and every refusal (zip bombs,
damaged files, encrypted files, empty files, too much text)."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import docx
import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from index.documents import DocumentError
from index.layout import Extracted
from index.word import read_docx

LIMITS = {"max_chars": 1_000_000, "max_unpacked_bytes": 100_000_000}
TITLE = "Widget Manual"
AUDIENCE_SENTENCE = "This manual is written for operators of the widget."


def saved(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def manual() -> bytes:
    """Title, an intro, "2 Scope" > "2.1 Audience" with a bullet list and a table with merged cells, "3 Care"."""
    document = docx.Document()
    document.core_properties.title = ""
    document.add_paragraph(TITLE, style="Title")
    document.add_paragraph("An introduction before any heading.")
    document.add_heading("2 Scope", level=1)
    document.add_paragraph("The scope covers all wid\u00adgets.")
    document.add_heading("2.1 Audience", level=2)
    document.add_paragraph(AUDIENCE_SENTENCE)
    document.add_paragraph("operators", style="List Bullet")
    document.add_paragraph("technicians", style="List Bullet")
    table = document.add_table(rows=3, cols=3)
    for row, values in enumerate([["Part", "Weight", "Note"], ["Gear", "2 kg", "oiled"], ["Axle", "5 kg", ""]]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    table.cell(0, 1).merge(table.cell(0, 2))  # a horizontal merge: one cell spanning two columns
    table.cell(1, 2).merge(table.cell(2, 2))  # a vertical merge over two rows
    document.add_paragraph("After the table.")
    document.add_heading("3 Care", level=1)
    document.add_paragraph("Clean the widget weekly.")
    return saved(document)


@pytest.fixture(scope="module")
def extracted() -> Extracted:
    return read_docx(manual(), **LIMITS)


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def test_paragraphs_list_items_and_table_rows_in_document_order(extracted: Extracted) -> None:
    assert paragraphs(extracted.text) == [
        TITLE,
        "An introduction before any heading.",
        "2 Scope",
        "The scope covers all widgets.",
        "2.1 Audience",
        AUDIENCE_SENTENCE,
        "• operators",
        "• technicians",
        # python-docx moves merged cells' text into the first cell; each merged cell is written once, and the
        # row under a vertical merge keeps an empty column in its place
        "Part | Weight Note",
        "Gear | 2 kg | oiled",
        "Axle | 5 kg |",
        "After the table.",
        "3 Care",
        "Clean the widget weekly.",
    ]


def test_soft_hyphen_is_removed(extracted: Extracted) -> None:
    assert "\u00ad" not in extracted.text
    assert "widgets." in extracted.text


def test_title_is_level_zero_of_every_heading_path(extracted: Extracted) -> None:
    start = extracted.text.index(AUDIENCE_SENTENCE)
    location = extracted.layout.locate(start, start + len(AUDIENCE_SENTENCE))
    assert location.section == (TITLE, "2 Scope", "2.1 Audience")
    table_row = extracted.text.index("Gear | 2 kg")
    assert extracted.layout.locate(table_row, table_row + 4).section == (TITLE, "2 Scope", "2.1 Audience")
    care = extracted.text.index("Clean the widget")
    assert extracted.layout.locate(care, care + 5).section == (TITLE, "3 Care")
    assert [section.path for section in extracted.layout.sections] == [
        (TITLE,), (TITLE, "2 Scope"), (TITLE, "2 Scope", "2.1 Audience"), (TITLE, "3 Care")]


def test_sections_are_ordered_disjoint_and_cover_from_the_first_heading_to_the_end(extracted: Extracted) -> None:
    sections = extracted.layout.sections
    assert sections[0].start == extracted.text.index(TITLE) == 0
    assert sections[-1].end == len(extracted.text)
    for before, after in zip(sections, sections[1:], strict=False):
        assert before.start < before.end == after.start
    for section in sections:
        assert extracted.text[section.start:section.end].startswith(section.path[-1] + "\n\n")


def test_text_before_the_first_heading_has_no_section() -> None:
    document = docx.Document()
    document.add_paragraph("Preamble without a heading.")
    document.add_heading("1 Start", level=1)
    document.add_paragraph("Body.")
    extracted = read_docx(saved(document), **LIMITS)
    assert extracted.layout.locate(0, 8).section is None
    assert extracted.layout.sections[0].start == extracted.text.index("1 Start")
    assert extracted.title == "1 Start"  # no core title, no Title paragraph: the first heading


def test_title_comes_from_core_properties_then_the_title_paragraph(extracted: Extracted) -> None:
    assert extracted.title == TITLE
    document = docx.Document()
    document.core_properties.title = "  Official   Name "
    document.add_paragraph("Shown Title", style="Title")
    assert read_docx(saved(document), **LIMITS).title == "Official Name"
    plain = docx.Document()
    plain.core_properties.title = ""
    plain.add_paragraph("No headings at all.")
    assert read_docx(saved(plain), **LIMITS).title is None


def test_line_breaks_tabs_hidden_and_deleted_text_nested_tables() -> None:
    document = docx.Document()
    paragraph = document.add_paragraph()
    paragraph._p.append(parse_xml(
        f'<w:r {nsdecls("w")}><w:t>first</w:t><w:br/><w:t>second</w:t><w:tab/><w:t xml:space="preserve">  third '
        f'</w:t></w:r>'))
    paragraph._p.append(parse_xml(f'<w:del {nsdecls("w")} w:id="1" w:author="a"><w:r><w:delText>gone</w:delText>'
                                  f'</w:r></w:del>'))
    paragraph._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:rPr><w:vanish/></w:rPr><w:t>hidden</w:t></w:r>'))
    paragraph._p.append(parse_xml(f'<w:ins {nsdecls("w")} w:id="2" w:author="a"><w:r><w:t> added</w:t></w:r>'
                                  f'</w:ins>'))
    outer = document.add_table(rows=1, cols=2)
    outer.cell(0, 0).text = "outer"
    inner = outer.cell(0, 1).add_table(rows=1, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "in1", "in2"
    text = read_docx(saved(document), **LIMITS).text
    assert paragraphs(text) == ["first second third added", "outer | in1 / in2"]


def test_numbered_paragraph_is_a_list_item() -> None:
    document = docx.Document()
    item = document.add_paragraph("numbered by direct formatting")
    item._p.get_or_add_pPr().append(parse_xml(
        f'<w:numPr {nsdecls("w")}><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>'))
    document.add_paragraph("plain")
    assert paragraphs(read_docx(saved(document), **LIMITS).text) == ["• numbered by direct formatting", "plain"]


def test_outline_level_makes_a_heading() -> None:
    document = docx.Document()
    heading = document.add_paragraph("Outlined")
    heading._p.get_or_add_pPr().append(parse_xml(f'<w:outlineLvl {nsdecls("w")} w:val="1"/>'))
    document.add_paragraph("Under it.")
    extracted = read_docx(saved(document), **LIMITS)
    assert [(s.start, s.path) for s in extracted.layout.sections] == [(0, ("Outlined",))]


@pytest.fixture(scope="module")
def bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b" " * 50_000_000)
    assert len(buffer.getvalue()) < 200_000
    return buffer.getvalue()


def test_zip_bomb_is_refused_by_declared_size(bomb: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        read_docx(bomb, max_chars=1_000_000, max_unpacked_bytes=10_000_000)
    assert (caught.value.code, caught.value.status) == ("too_complex", 413)
    assert "CITEQA_MAX_UNPACKED_BYTES" in str(caught.value) and "10,000,000" in str(caught.value)


def test_zip_bomb_is_refused_by_compression_ratio_under_a_high_limit(bomb: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        read_docx(bomb, max_chars=1_000_000, max_unpacked_bytes=1_000_000_000)
    assert (caught.value.code, caught.value.status) == ("too_complex", 413)
    assert "to 1" in str(caught.value)


def test_a_lying_declared_size_does_not_get_through() -> None:
    content = bytearray(manual())
    name = b"word/document.xml"
    central = content.index(b"PK\x01\x02")
    while content[central + 46:central + 46 + len(name)] != name:
        central = content.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", content, central + 24, 100)  # claims 100 unpacked bytes
    with pytest.raises(DocumentError) as caught:
        read_docx(bytes(content), **LIMITS)
    assert caught.value.code == "unreadable_document"


def test_limit_on_characters() -> None:
    with pytest.raises(DocumentError) as caught:
        read_docx(manual(), max_chars=50, max_unpacked_bytes=100_000_000)
    assert (caught.value.code, caught.value.status) == ("document_too_large", 413)
    assert "CITEQA_MAX_DOCUMENT_CHARS" in str(caught.value)


@pytest.mark.parametrize("content", [os.urandom(4096), b"PK\x03\x04" + os.urandom(2000), b"", manual()[:3000]],
                         ids=["random", "zip-magic-then-noise", "empty", "truncated"])
def test_unreadable_bytes(content: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        read_docx(content, **LIMITS)
    assert (caught.value.code, caught.value.status) == ("unreadable_document", 422)


def test_zip_without_document_part_and_broken_xml_are_unreadable() -> None:
    source = zipfile.ZipFile(io.BytesIO(manual()))
    for replacement in (None, b"<w:document><w:body><w:p>"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in source.namelist():
                if name != "word/document.xml":
                    archive.writestr(name, source.read(name))
                elif replacement is not None:
                    archive.writestr(name, replacement)
        with pytest.raises(DocumentError) as caught:
            read_docx(buffer.getvalue(), **LIMITS)
        assert caught.value.code == "unreadable_document"
        assert ("word/document.xml" if replacement is None else "cannot be read") in str(caught.value)


def test_encrypted_word_file() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptedPackage".encode("utf-16-le") + bytes(500)
    with pytest.raises(DocumentError) as caught:
        read_docx(ole, **LIMITS)
    assert caught.value.code == "encrypted"


def test_empty_document_has_no_text() -> None:
    document = docx.Document()
    document.add_paragraph("   \t ")
    document.add_table(rows=2, cols=2)
    with pytest.raises(DocumentError) as caught:
        read_docx(saved(document), **LIMITS)
    assert caught.value.code == "no_text"
