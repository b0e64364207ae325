"""Reading files into documents: the type from the content, PDF and Word files parsed in a bounded worker.

An uploaded file is hostile until parsed. PDFium, zlib and lxml are native code, so PDF and Word files
are parsed in a fresh Python process (`python -m index.extract_worker`) that limits its own address space
and CPU time, killed at a wall-clock deadline: a file that crashes, loops or balloons the parser costs
that process, never the server, and answers a 4xx. At most PARSERS_AT_ONCE run at a time.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from index.documents import (
    SUPPORTED_SUFFIXES,
    Document,
    DocumentError,
    kind_for_filename,
    load_document,
    make_document,
    slugify,
)
from index.layout import Extracted, Layout, Page, Section, SourceFile

MEDIA_TYPES = {"pdf": "application/pdf",
               "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "text": "text/plain", "markdown": "text/markdown", "html": "text/html"}
FILE_SUFFIXES = {**SUPPORTED_SUFFIXES, ".pdf": "pdf", ".docx": "docx"}
PARSERS_AT_ONCE = 2
FRAME_MAGIC = b"CITEQA-EXTRACT-1\n"
EXIT_REFUSED = 3  # the worker refused the file: its stdout holds {"code", "message", "status"}
EXIT_MEMORY = 4  # the worker ran out of its memory limit
_parsers = threading.BoundedSemaphore(PARSERS_AT_ONCE)


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost: pages, text, bytes unpacked from its compressed streams, memory and time."""

    max_pages: int = 2000
    max_chars: int = 5_000_000
    max_unpacked_bytes: int = 256 * 1024 * 1024
    memory_bytes: int = 1024 * 1024 * 1024
    seconds: float = 60.0


def sniff(content: bytes, filename: str | None) -> str:
    """The source type of a file from its first bytes ("pdf", "docx"), else from its name (text kinds).

    The content decides: a PDF named .txt is read as a PDF, and a file named .pdf that is not one is refused.
    """
    suffix = Path(filename or "").suffix.lower()
    if b"%PDF-" in content[:1024]:
        return "pdf"
    if content.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(content)).namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            names = set()
        if "word/document.xml" in names:
            return "docx"
        if suffix == ".docx":
            raise DocumentError("unreadable_document", "the file is named .docx but is not a Word document "
                                                       "(no word/document.xml in it)")
        raise DocumentError("unsupported_file_type", "the file is a zip archive, not a document citeqa reads; "
                                                     f"use one of {', '.join(sorted(FILE_SUFFIXES))}")
    if content.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE compound file: an encrypted .docx, or a .doc
        if suffix == ".docx" or b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" \
                in content[:1 << 20]:
            raise DocumentError("encrypted", "the Word file is encrypted with a password; send it decrypted")
        raise DocumentError("unsupported_file_type", "the file is an old binary Office file (.doc, .xls, .ppt); "
                                                     "save it as .docx or PDF")
    if suffix == ".pdf":
        raise DocumentError("unreadable_document", "the file is named .pdf but is not a PDF (no %PDF- header)")
    if suffix == ".docx":
        raise DocumentError("unreadable_document", "the file is named .docx but is not a Word document")
    return kind_for_filename(filename) if filename else "text"


def load_bytes(content: bytes, *, filename: str | None, limits: ParseLimits, document_id: str | None = None,
               title: str | None = None, metadata: dict[str, str] | None = None) -> Document:
    """A document from a file's bytes: text, Markdown or HTML as before; PDF and Word parsed in the worker,
    keeping their layout and the original file."""
    source_type = sniff(content, filename)
    source = SourceFile(source_type, MEDIA_TYPES[source_type], Path(filename or "document").name, content)
    if source_type not in ("pdf", "docx"):
        document = load_document(content, filename=filename, kind=source_type, document_id=document_id, title=title,
                                 metadata=metadata, max_chars=limits.max_chars)
        return replace(document, source_type=source_type, source=source)
    extracted = extract(content, source_type, limits)
    stem = Path(filename).stem if filename else None
    document = make_document(extracted.text, document_id=document_id or (slugify(stem) if stem else None),
                             title=title or extracted.title or stem, metadata=metadata, max_chars=limits.max_chars)
    return replace(document, source_type=source_type, layout=extracted.layout, source=source)


def load_path(path: Path, limits: ParseLimits, **kwargs: str | None) -> Document:
    """A document from a file on disk (its id from the file name unless given)."""
    content = path.read_bytes()
    if not kwargs.get("document_id") and not kwargs.get("title"):
        kwargs["document_id"] = slugify(path.stem)
    return load_bytes(content, filename=path.name, limits=limits, **kwargs)  # type: ignore[arg-type]


def reextract(document: Document, limits: ParseLimits) -> Document:
    """The document read again from its original file (after an extractor upgrade); as it is without one."""
    source = document.source
    if source is None or source.source_type not in ("pdf", "docx"):
        return document
    extracted = extract(source.content, source.source_type, limits)
    return replace(document, text=extracted.text, source_type=source.source_type, layout=extracted.layout)


# ------------------------------------------------------------------- worker
def _run_worker(arguments: list[str], content: bytes, limits: ParseLimits) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "index.extract_worker", *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parent.parent),
                                                             os.environ.get("PYTHONPATH")) if p)}
    with _parsers:
        try:
            return subprocess.run(command, input=content, capture_output=True, timeout=limits.seconds,
                                  env=environment, check=False)
        except subprocess.TimeoutExpired:
            raise DocumentError("too_complex", f"reading the file took longer than {limits.seconds:g} s "
                                               "(CITEQA_PARSE_SECONDS); it is too large or too complex") from None


def render_page(content: bytes, number: int, longest_side: int, limits: ParseLimits) -> bytes:
    """Page `number` (1-based) of a stored PDF as PNG, rendered in the worker within `limits`."""
    done = _run_worker(["render", str(number), str(longest_side), str(limits.memory_bytes),
                        str(int(limits.seconds) + 1)], content, limits)
    if done.returncode == 0 and done.stdout.startswith(b"\x89PNG"):
        return done.stdout
    if done.returncode == EXIT_MEMORY or done.returncode < 0:
        raise DocumentError("too_complex", f"page {number} could not be rendered within the parser's limits "
                                           "(CITEQA_PARSE_MEMORY_MB, CITEQA_PARSE_SECONDS)")
    raise DocumentError("unreadable_document", f"page {number} could not be rendered "
                                               f"({done.stderr.decode('utf-8', 'replace').strip()[-200:]})")


def extract(content: bytes, source_type: str, limits: ParseLimits) -> Extracted:
    """Parse a PDF or Word file in the worker process, within `limits`; DocumentError when refused."""
    done = _run_worker([source_type, str(limits.max_pages), str(limits.max_chars), str(limits.max_unpacked_bytes),
                        str(limits.memory_bytes), str(int(limits.seconds) + 1)], content, limits)
    if done.returncode == 0:
        return decode(done.stdout)
    if done.returncode == EXIT_REFUSED:
        refusal = json.loads(done.stdout.decode("utf-8"))
        raise DocumentError(refusal["code"], refusal["message"], refusal.get("status"))
    mebibytes = limits.memory_bytes // (1024 * 1024)
    if done.returncode == EXIT_MEMORY or done.returncode < 0:
        # Killed by a signal: the CPU limit (SIGXCPU), or the native parser failing an allocation (abort).
        why = signal.Signals(-done.returncode).name if done.returncode < 0 else "out of memory"
        raise DocumentError("too_complex", f"reading the file needed more than the parser's limits "
                                           f"({mebibytes:,} MiB, CITEQA_PARSE_MEMORY_MB; {limits.seconds:g} s, "
                                           f"CITEQA_PARSE_SECONDS): it is too large, too complex or broken ({why})")
    raise DocumentError("unreadable_document", "the file cannot be read: the parser failed "
                                               f"({done.stderr.decode('utf-8', 'replace').strip()[-200:]})")


def encode(extracted: Extracted) -> bytes:
    """The worker's answer: a JSON header, then each page's character boxes (float32 rows)."""
    header = {
        "text": extracted.text, "title": extracted.title,
        "pages": [{"number": p.number, "label": p.label, "start": p.start, "end": p.end, "width": p.width,
                   "height": p.height, "rotation": p.rotation} for p in extracted.layout.pages],
        "sections": [{"start": s.start, "end": s.end, "path": list(s.path)} for s in extracted.layout.sections],
    }
    encoded = json.dumps(header, ensure_ascii=False).encode("utf-8", "surrogatepass")
    boxes = b"".join(np.ascontiguousarray(p.boxes, dtype="<f4").tobytes() for p in extracted.layout.pages)
    return FRAME_MAGIC + struct.pack("<Q", len(encoded)) + encoded + boxes


def decode(frame: bytes) -> Extracted:
    if not frame.startswith(FRAME_MAGIC):
        raise DocumentError("unreadable_document", "the file cannot be read: the parser gave no answer")
    offset = len(FRAME_MAGIC)
    (length,) = struct.unpack_from("<Q", frame, offset)
    offset += 8
    header = json.loads(frame[offset : offset + length].decode("utf-8"))
    offset += length
    pages = []
    for page in header["pages"]:
        count = page["end"] - page["start"]
        boxes = np.frombuffer(frame, dtype="<f4", count=count * 4, offset=offset).reshape(count, 4).astype(np.float32)
        offset += count * 16
        pages.append(Page(page["number"], page["label"], page["start"], page["end"], page["width"], page["height"],
                          page["rotation"], boxes))
    sections = tuple(Section(s["start"], s["end"], tuple(s["path"])) for s in header["sections"])
    return Extracted(header["text"], header["title"], Layout(tuple(pages), sections))
