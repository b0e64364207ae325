"""Documents: validated ids, titles, metadata and the exact text that offsets refer to."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from index.layout import Layout, SourceFile

ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SUPPORTED_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html"}
DATED_HEADLINE = re.compile(r"^date (\d{4}-\d{2}-\d{2}) (.+)$")
# A lone surrogate is a code point no UTF-8 can encode: stored, it fails every later read of the row.
SURROGATE = re.compile("[\ud800-\udfff]")


class DocumentError(ValueError):
    """A document that cannot be stored; the message names the problem and `status` the HTTP status it
    answers (422 unless given: 413 for a limit, 415 for a file type citeqa cannot read)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or STATUS_OF_CODE.get(code, 422)


# The codes that are not a 422.
STATUS_OF_CODE = {"document_too_large": 413, "too_many_pages": 413, "too_complex": 413,
                  "unsupported_file_type": 415}


@dataclass(frozen=True)
class Document:
    """A stored document; every offset in citeqa points into `text` (code points, end exclusive)."""

    id: str
    title: str
    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    # What it was read from: "text", "markdown", "html", "pdf" or "docx"; for PDF and Word files also where
    # each character sits (pages, boxes, sections) and the original file, kept to render pages and re-extract.
    source_type: str = "text"
    layout: Layout = field(default_factory=Layout, compare=False)
    source: SourceFile | None = field(default=None, compare=False, repr=False)


def slugify(value: str) -> str:
    """A valid document id made from a title or file name.

    Letters and digits with no ASCII form are dropped from the slug, so a name that loses any (or has
    none left) also gets a short hash of the whole name: "文書" and "報告" must not share one id.
    """
    decomposed = unicodedata.normalize("NFKD", value)
    ascii_text = decomposed.encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text).strip("-.").lower()
    lost = any(character.isalnum() and not character.isascii() for character in decomposed)
    if not re.search("[a-z0-9]", slug):
        slug, lost = "document", True
    if not lost:
        return slug[:128]
    digest = hashlib.sha256(value.encode("utf-8", "backslashreplace")).hexdigest()[:12]
    return f"{slug[:115].rstrip('-.')}-{digest}"


def validate_id(document_id: str) -> str:
    """Return the id unchanged, or raise if it is not 1-128 chars of [A-Za-z0-9._-]."""
    # fullmatch: `$` would also accept a trailing newline; "." and ".." are path segments, not names.
    if not ID_PATTERN.fullmatch(document_id) or document_id in {".", ".."}:
        raise DocumentError(
            "invalid_document_id",
            f"document id {document_id[:40]!r} is invalid: use 1-128 characters from [A-Za-z0-9._-]",
        )
    return document_id


def check_encodable(value: str, what: str) -> str:
    """Return the value unchanged, or raise if it holds a lone surrogate (not valid Unicode text)."""
    found = SURROGATE.search(value)
    if found:
        raise DocumentError("invalid_text", f"the {what} holds a lone surrogate (U+{ord(found.group(0)):04X}) "
                                            f"at character {found.start():,}; send valid Unicode text")
    return value


def check_storable(value: str, what: str) -> str:
    """A title or metadata string: encodable, and without NUL, which PostgreSQL text cannot hold (the server
    backend would fail the write); refused on both backends alike."""
    check_encodable(value, what)
    at = value.find("\x00")
    if at >= 0:
        raise DocumentError("invalid_text", f"the {what} holds a NUL character (U+0000) at character {at:,}; "
                                            "send text without it")
    return value


def validate_text(text: str, max_chars: int) -> str:
    """Reject empty, binary, oversized or unencodable text."""
    check_encodable(text, "document text")
    if "\x00" in text or _looks_binary(text):
        raise DocumentError("binary_content", "the document looks like binary data, not text")
    if not text.strip():
        raise DocumentError("empty_document", "the document is empty or only white space")
    if len(text) > max_chars:
        raise DocumentError(
            "document_too_large",
            f"the document has {len(text):,} characters; the limit is {max_chars:,}",
        )
    return text


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    replacement = sample.count("\ufffd")
    return (controls + replacement) > max(8, len(sample) // 20)


def make_document(
    text: str,
    *,
    document_id: str | None = None,
    title: str | None = None,
    metadata: dict[str, str] | None = None,
    max_chars: int = 5_000_000,
) -> Document:
    """Build a validated document from plain text; a `date YYYY-MM-DD Headline` first line sets both."""
    validate_text(text, max_chars)
    if title:
        check_storable(title, "title")
    for key, value in (metadata or {}).items():
        check_storable(key, "metadata key")
        check_storable(value, f"metadata value of {key!r}")
    meta = dict(metadata or {})
    first_line = text.lstrip().split("\n", 1)[0].strip()
    dated = DATED_HEADLINE.match(first_line)
    if dated:
        meta.setdefault("date", dated.group(1))
        title = title or dated.group(2).strip()
    title = (title or first_line[:120] or "Untitled").strip()
    document_id = validate_id(document_id) if document_id else slugify(title)
    return Document(id=document_id, title=title, text=text, metadata=meta)


def decode_bytes(raw: bytes) -> str:
    """Decode uploaded bytes as UTF-8 (with or without BOM) or fail clearly."""
    if b"\x00" in raw[:8192]:
        raise DocumentError("binary_content", "the file looks like binary data, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DocumentError("not_utf8", f"the file is not valid UTF-8 text ({error.reason})") from error


def kind_for_filename(filename: str) -> str:
    """The loader kind for a file name, or raise for unsupported types."""
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DocumentError(
            "unsupported_file_type", f"file type {suffix or '(none)'!r} is not supported; use one of {supported}"
        )
    return SUPPORTED_SUFFIXES[suffix]


def text_from_markup(content: str, kind: str) -> tuple[str, str | None]:
    """Return (text, title) for text, Markdown or HTML content."""
    if kind == "html":
        return html_to_text(content)
    if kind == "markdown":
        return markdown_to_text(content)
    return content, None


def html_to_text(html: str) -> tuple[str, str | None]:
    """Keep an HTML page's article text; drop script, style and navigation."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "noscript", "template",
                     "form", "iframe", "svg"]):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    blocks = [
        " ".join(element.get_text().split())
        for element in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote",
                                      "td", "th", "figcaption"])
        if not element.find_parent(["p", "li", "blockquote", "td", "th"])
    ]
    text = "\n\n".join(block for block in blocks if block)
    if not text.strip():
        text = " ".join(root.get_text(" ", strip=True).split())
    if not title:
        heading = root.find("h1")
        title = heading.get_text(" ", strip=True) if heading else None
    return text, title


def markdown_to_text(markdown: str) -> tuple[str, str | None]:
    """Render Markdown to plain text paragraphs; the first heading is the title."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(markdown)
    text, _ = html_to_text(f"<body>{html}</body>")
    heading = re.search(r"^#{1,6}\s+(.+)$", markdown, re.MULTILINE)
    return text, heading.group(1).strip() if heading else None


def load_document(
    content: str | bytes,
    *,
    filename: str | None = None,
    kind: str | None = None,
    document_id: str | None = None,
    title: str | None = None,
    metadata: dict[str, str] | None = None,
    max_chars: int = 5_000_000,
) -> Document:
    """Load text, Markdown or HTML from a string or bytes into a validated Document."""
    if kind is None:
        kind = kind_for_filename(filename) if filename else "text"
    raw = decode_bytes(content) if isinstance(content, bytes) else content
    text, found_title = text_from_markup(raw, kind)
    if filename and not document_id and not title and not found_title and not DATED_HEADLINE.match(
        text.lstrip().split("\n", 1)[0].strip()
    ):
        document_id = slugify(Path(filename).stem)
        title = Path(filename).stem
    return make_document(text, document_id=document_id, title=title or found_title, metadata=metadata,
                         max_chars=max_chars)


def load_file(path: Path, **kwargs: object) -> Document:
    """Load a .txt, .md or .html file."""
    kind = kind_for_filename(path.name)
    raw = path.read_bytes()
    if not kwargs.get("document_id") and not kwargs.get("title"):
        kwargs["document_id"] = slugify(path.stem)
    return load_document(raw, filename=path.name, kind=kind, **kwargs)  # type: ignore[arg-type]
