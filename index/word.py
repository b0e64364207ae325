"""The Word (.docx) reader: the text of a Word file, its title and the heading path of every part of it.

A .docx file is a zip of XML parts. citeqa stores plain text that citations point into, so the reader flattens
the body in document order: every paragraph, heading and list item becomes one paragraph of the text
(separated by a blank line), list items get a "• " so a reader still sees them as items, and every table row
becomes one paragraph with its cells joined by " | ". Headings ("Title", "Heading 1".."Heading 9" or an
outline level) give the sections: the heading path that a citation of a passage under them shows.

A zip can unpack to far more than it weighs, and Word files come from users, so the zip is checked before
python-docx (which unpacks every part into memory) ever sees it: the declared sizes, each entry's compression
ratio, and the bytes actually unpacked, since declared sizes can lie.

Over 300 lines on purpose: one format's reader (package check, style book, body walk, assembly) whose parts
share its private block and style types; split, each half would import the other's internals.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.ns import qn

from index.documents import DocumentError
from index.layout import Extracted, Layout, Section

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Office stores a password-protected .docx as an OLE compound file with this stream; other OLE files are
# Word 97-2003 .doc files, which this reader does not read either.
ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
MAIN_PART = "word/document.xml"
# An entry that unpacks to more than this many times its packed size, and to more than MIN_SUSPECT_BYTES,
# is a zip bomb: real Word XML deflates about 5-20 times, images hardly at all.
MAX_COMPRESSION_RATIO = 200
MIN_SUSPECT_BYTES = 1_000_000
READ_CHUNK = 1 << 20
PARAGRAPH_BREAK = "\n\n"
BULLET = "• "
# Word names its built-in styles in English in the file ("heading 1"), whatever language the user sees.
HEADING_STYLE = re.compile(r"heading ([1-9])", re.IGNORECASE)
# Outline level 9 (0-based) is "body text": the paragraph is no heading whatever its style says.
BODY_TEXT_OUTLINE = 9
# A style's basedOn chain can be cyclic in a broken file; real chains are a few styles long.
MAX_STYLE_DEPTH = 16
FALSE_VALUES = {"0", "false", "off"}

W_P, W_TBL, W_TR, W_TC, W_R = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc"), qn("w:r")
W_T, W_TAB, W_PTAB, W_BR, W_CR = qn("w:t"), qn("w:tab"), qn("w:ptab"), qn("w:br"), qn("w:cr")
W_NO_BREAK_HYPHEN = qn("w:noBreakHyphen")
W_PPR, W_RPR, W_VANISH = qn("w:pPr"), qn("w:rPr"), qn("w:vanish")
W_NUMPR, W_NUMID, W_OUTLINE, W_VAL = qn("w:numPr"), qn("w:numId"), qn("w:outlineLvl"), qn("w:val")
W_TCPR, W_VMERGE = qn("w:tcPr"), qn("w:vMerge")
# Content controls and custom XML wrap paragraphs, rows and cells without changing what they hold.
WRAPPERS = {qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml"), qn("w:smartTag")}
# Deleted and moved-away text of tracked changes is not in the document as it reads; mc:Fallback repeats
# the content of mc:Choice (text boxes come twice: DrawingML and VML); the rest holds formatting only.
SKIPPED = {qn("w:del"), qn("w:moveFrom"), "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback",
           W_PPR, W_RPR, qn("w:sdtPr"), qn("w:sdtEndPr"), qn("w:instrText"), qn("w:delText"), qn("w:tblPr"),
           qn("w:trPr"), W_TCPR, qn("w:tblGrid")}


@dataclass(frozen=True)
class _Block:
    """One paragraph of the output text; `level` is its heading level (0 for the title), None for body text."""

    text: str
    level: int | None = None
    is_title: bool = False


@dataclass(frozen=True)
class _Style:
    name: str
    outline: int | None
    numbered: bool


def read_docx(content: bytes, *, max_chars: int, max_unpacked_bytes: int) -> Extracted:
    """The text, title and sections of a .docx file; a DocumentError says why a file cannot be read."""
    _check_package(content, max_unpacked_bytes)
    try:
        document = docx.Document(io.BytesIO(content))
        blocks = list(_body_blocks(document.element.body, _StyleBook(document)))
        core_title = _core_title(document)
    except DocumentError:
        raise
    except Exception as exc:  # zipfile, lxml and python-docx raise many kinds for a broken file
        raise DocumentError("unreadable_document", f"the Word file cannot be read: {_reason(exc)}") from exc
    text, sections = _assemble(blocks)
    if not text.strip():
        raise DocumentError("no_text", "the Word file holds no text")
    if len(text) > max_chars:
        raise DocumentError("document_too_large", f"the Word file has {len(text):,} characters of text; the limit "
                                                  f"is {max_chars:,} (CITEQA_MAX_DOCUMENT_CHARS)", status=413)
    title = core_title or next((b.text for b in blocks if b.is_title), None) or \
        next((b.text for b in blocks if b.level is not None), None)
    return Extracted(text=text, title=title, layout=Layout(sections=tuple(sections)))


def _check_package(content: bytes, max_unpacked_bytes: int) -> None:
    """Refuse what is no .docx, and any zip that unpacks to more than the limit, before python-docx reads it."""
    if content.startswith(OLE_MAGIC):
        if ENCRYPTED_STREAM in content:
            raise DocumentError("encrypted", "the Word file is password-protected; remove the password and send "
                                             "it again")
        raise DocumentError("unreadable_document", "the file is a Word 97-2003 (.doc) file or another OLE file, "
                                                   "not a .docx; save it as .docx and send it again")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            entries = package.infolist()
            if MAIN_PART not in {entry.filename for entry in entries}:
                raise DocumentError("unreadable_document", f"the file is no Word (.docx) file: its zip holds no "
                                                           f"{MAIN_PART}")
            declared = sum(entry.file_size for entry in entries)
            if declared > max_unpacked_bytes:
                raise _too_complex(f"unpacks to {declared:,} bytes", max_unpacked_bytes)
            for entry in entries:
                ratio = entry.file_size / max(entry.compress_size, 1)
                if entry.file_size > MIN_SUSPECT_BYTES and ratio > MAX_COMPRESSION_RATIO:
                    raise _too_complex(f"holds {entry.filename[:80]!r}, compressed {ratio:,.0f} to 1 "
                                       f"(more than {MAX_COMPRESSION_RATIO} to 1 is refused)", max_unpacked_bytes)
            # Declared sizes can lie. Python's zipfile stops at the declared size (and the CRC check then fails),
            # but the reader does not rest on how python-docx unzips: the main part, which holds the text, is read
            # here through a bounded read, to its end, so a damaged stream is also refused before parsing.
            with package.open(MAIN_PART) as stream:
                unpacked = 0
                while chunk := stream.read(min(READ_CHUNK, max_unpacked_bytes + 1 - unpacked)):
                    unpacked += len(chunk)
                    if unpacked > max_unpacked_bytes:
                        raise _too_complex(f"unpacks to more than {max_unpacked_bytes:,} bytes (more than its zip "
                                           f"declares)", max_unpacked_bytes)
    except DocumentError:
        raise
    except zipfile.BadZipFile as exc:
        raise DocumentError("unreadable_document", f"the file is no Word (.docx) file or it is damaged: "
                                                   f"{_reason(exc)}") from exc
    except Exception as exc:  # an encrypted zip entry, an unknown compression method, a truncated stream
        raise DocumentError("unreadable_document", f"the Word file cannot be read: {_reason(exc)}") from exc


def _too_complex(what: str, limit: int) -> DocumentError:
    return DocumentError("too_complex", f"the Word file {what}; the limit is {limit:,} unpacked bytes "
                                        f"(CITEQA_MAX_UNPACKED_BYTES)", status=413)


def _reason(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return reason if len(reason) <= 200 else reason[:199] + "…"


def _core_title(document: Any) -> str | None:
    # Python-docx makes up core properties titled "Word Document" for a file without them: ask only a file
    # that has them.
    package = document.part.package
    if not any(rel.reltype == RT.CORE_PROPERTIES for rel in package.rels.values()):
        return None
    return _clean(document.core_properties.title or "") or None


class _StyleBook:
    """What the reader needs of each paragraph style, looked up once per style (a file has thousands of
    paragraphs and a few dozen styles)."""

    def __init__(self, document: Any) -> None:
        self._styles = {s.style_id: s for s in document.styles if s.type == WD_STYLE_TYPE.PARAGRAPH}
        self._default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
        self._known: dict[str | None, _Style] = {}

    def of(self, style_id: str | None) -> _Style:
        if style_id not in self._known:
            style = self._styles.get(style_id) if style_id is not None else None
            self._known[style_id] = self._describe(style or self._default)
        return self._known[style_id]

    @staticmethod
    def _describe(style: Any) -> _Style:
        if style is None:
            return _Style("", None, False)
        outline: int | None = None
        numbered: bool | None = None
        current, depth = style, 0
        # The nearest style in the basedOn chain that sets a property decides it, as in Word.
        while current is not None and depth < MAX_STYLE_DEPTH and (outline is None or numbered is None):
            ppr = current.element.find(W_PPR)
            if ppr is not None:
                if outline is None:
                    outline = _outline(ppr)
                if numbered is None:
                    numbered = _numbered(ppr)
            current, depth = current.base_style, depth + 1
        return _Style(str(style.name or ""), outline, bool(numbered))


def _outline(ppr: Any) -> int | None:
    found = ppr.find(W_OUTLINE)
    value = found.get(W_VAL) if found is not None else None
    return int(value) if value is not None and value.isdigit() else None


def _numbered(ppr: Any) -> bool | None:
    """True or False where the properties say whether the paragraph is numbered (numId 0 turns numbering
    off), None where they leave it to the style."""
    numpr = ppr.find(W_NUMPR)
    if numpr is None:
        return None
    numid = numpr.find(W_NUMID)
    return numid is None or numid.get(W_VAL) != "0"


def _children(element: Any, tag: str) -> Iterator[Any]:
    """The children of `element` with `tag`, looking through content controls and custom XML around them."""
    for child in element:
        if child.tag == tag:
            yield child
        elif child.tag in WRAPPERS:
            yield from _children(child, tag)


def _block_elements(element: Any) -> Iterator[Any]:
    for child in element:
        if child.tag in (W_P, W_TBL):
            yield child
        elif child.tag in WRAPPERS:
            yield from _block_elements(child)


def _body_blocks(body: Any, styles: _StyleBook) -> Iterator[_Block]:
    for element in _block_elements(body):
        if element.tag == W_TBL:
            yield from _table_rows(element)
            continue
        text = _paragraph_text(element)
        if not text:
            continue
        level, style = _heading_level(element, styles)
        if level is not None:
            yield _Block(text, level, style.name.lower() == "title")
        elif _is_list_item(element, style):
            yield _Block(BULLET + text)
        else:
            yield _Block(text)


def _heading_level(paragraph: Any, styles: _StyleBook) -> tuple[int | None, _Style]:
    """The heading level of a paragraph (0 for the title, 1-9 for headings), None for body text."""
    ppr = paragraph.find(W_PPR)
    style = styles.of(paragraph.style)
    if style.name.lower() == "title":
        return 0, style
    direct = _outline(ppr) if ppr is not None else None
    if direct is not None:
        return (direct + 1 if direct < BODY_TEXT_OUTLINE else None), style
    named = HEADING_STYLE.fullmatch(style.name)
    if named:
        return int(named.group(1)), style
    if style.outline is not None and style.outline < BODY_TEXT_OUTLINE:
        return style.outline + 1, style
    return None, style


def _is_list_item(paragraph: Any, style: _Style) -> bool:
    ppr = paragraph.find(W_PPR)
    direct = _numbered(ppr) if ppr is not None else None
    if direct is not None:
        return direct
    # "List Continue" styles indent the paragraphs that continue an item; they are no items themselves.
    name = style.name.lower()
    return style.numbered or (name.startswith("list") and not name.startswith("list continue"))


def _table_rows(table: Any) -> Iterator[_Block]:
    for row in _children(table, W_TR):
        cells = [_cell_text(cell) for cell in _children(row, W_TC)]
        if any(cells):
            yield _Block(_clean(" | ".join(cells)))


def _cell_text(cell: Any) -> str:
    # A cell that continues a vertical merge holds nothing of its own (its text is in the row where the merge
    # starts), and each w:tc is visited once, so a merged cell's text is written once; a continued cell stays
    # as an empty column so the columns of the row still line up.
    tcpr = cell.find(W_TCPR)
    vmerge = tcpr.find(W_VMERGE) if tcpr is not None else None
    if vmerge is not None and vmerge.get(W_VAL, "continue") == "continue":
        return ""
    parts = [_table_inline(e) if e.tag == W_TBL else _paragraph_text(e) for e in _block_elements(cell)]
    return " ".join(part for part in parts if part)


def _table_inline(table: Any) -> str:
    """A table inside a cell, flattened into the cell's text: its rows one after the other, cells by " / "."""
    rows = (" / ".join(_cell_text(cell) for cell in _children(row, W_TC))
            for row in _children(table, W_TR))
    return _clean(" ".join(rows))


def _paragraph_text(paragraph: Any) -> str:
    pieces: list[str] = []
    _inline_text(paragraph, pieces)
    return _clean("".join(pieces))


def _inline_text(element: Any, pieces: list[str]) -> None:
    """The visible text under `element` in document order: runs, hyperlinks, fields' results, tracked
    insertions, content controls and text boxes alike."""
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in SKIPPED:  # comments and processing instructions have no str tag
            continue
        if tag == W_T:
            pieces.append(child.text or "")
        elif tag in (W_TAB, W_PTAB, W_BR, W_CR):
            pieces.append(" ")
        elif tag == W_NO_BREAK_HYPHEN:
            pieces.append("-")
        elif tag == W_R and _hidden(child):
            continue
        elif tag == W_P:  # a paragraph of a text box inside this paragraph
            pieces.append(" ")
            _inline_text(child, pieces)
            pieces.append(" ")
        else:
            _inline_text(child, pieces)


def _hidden(run: Any) -> bool:
    rpr = run.find(W_RPR)
    vanish = rpr.find(W_VANISH) if rpr is not None else None
    return vanish is not None and vanish.get(W_VAL, "true").lower() not in FALSE_VALUES


def _clean(text: str) -> str:
    # A soft hyphen only marks where a word may break; left in, it splits the word for search and quotes.
    return " ".join(text.replace("\u00ad", "").split())


def _assemble(blocks: list[_Block]) -> tuple[str, list[Section]]:
    """The text, paragraphs joined by blank lines, and one section per heading up to the next heading."""
    parts: list[str] = []
    starts: list[tuple[int, tuple[str, ...]]] = []
    stack: list[tuple[int, str]] = []
    offset = 0
    for block in blocks:
        if parts:
            parts.append(PARAGRAPH_BREAK)
            offset += len(PARAGRAPH_BREAK)
        if block.level is not None:
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.text))
            starts.append((offset, tuple(heading for _, heading in stack)))
        parts.append(block.text)
        offset += len(block.text)
    text = "".join(parts)
    ends = [start for start, _ in starts[1:]] + [len(text)] if starts else []
    return text, [Section(start, end, path) for (start, path), end in zip(starts, ends, strict=True)]
