"""The parsing worker: `python -m index.extract_worker TYPE MAX_PAGES MAX_CHARS MAX_UNPACKED MEMORY SECONDS`,
or `python -m index.extract_worker render PAGE LONGEST_SIDE MEMORY SECONDS` for a page as PNG.

Reads one file from stdin and writes `index.extract.encode` of its text and layout to stdout. It limits its
own address space and CPU time before it imports a parser, so the file meets the limits from its first
byte. Exit 3: refused (stdout holds the error as JSON); exit 4: out of memory.
"""

from __future__ import annotations

import json
import resource
import sys
import zlib

STREAM = b"stream"
END_STREAM = b"endstream"


def _limit(memory_bytes: int, seconds: int) -> None:
    """`memory_bytes` more address space than the loaded libraries take, and `seconds` of CPU time."""
    import os

    with open("/proc/self/statm") as statm:
        loaded = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = loaded + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def check_pdf_streams(content: bytes, max_unpacked: int) -> None:
    """Refuse a decompression bomb before PDFium inflates it: the Flate streams' sizes once inflated (all
    but images), counted with a bounded decompressor (never more than the limit in memory)."""
    from index.documents import DocumentError

    total = 0
    position = 0
    while True:
        found = content.find(STREAM, position)
        if found < 0:
            return
        start = found + len(STREAM)
        if content.startswith(b"\r\n", start):
            start += 2
        elif content.startswith(b"\n", start) or content.startswith(b"\r", start):
            start += 1
        else:  # "endstream" or a word that merely contains "stream"
            position = start
            continue
        end = content.find(END_STREAM, start)
        if end < 0:
            return
        # Images are decoded only to render a page (in its own bounded worker), never to read the text: an
        # image-heavy PDF may inflate far past the limit and is still fine to read.
        dictionary = content[max(content.rfind(b" obj", 0, found), found - 4096):found]
        if b"/Image" in dictionary:
            position = end + len(END_STREAM)
            continue
        inflater = zlib.decompressobj()
        data = content[start:end]
        try:
            while data and total <= max_unpacked:
                total += len(inflater.decompress(data, max_unpacked + 1 - total))
                data = inflater.unconsumed_tail
        except zlib.error:
            pass  # not Flate (images, encrypted streams): PDFium decides
        if total > max_unpacked:
            raise DocumentError("too_complex", f"the PDF's compressed streams inflate to over {max_unpacked:,} bytes "
                                               "(CITEQA_MAX_UNPACKED_BYTES): a decompression bomb, or too large")
        position = end + len(END_STREAM)


def render(content: bytes, number: int, longest_side: int) -> bytes:
    """Page `number` (1-based) of a PDF as PNG, its longer side `longest_side` pixels."""
    import io

    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(content)
    try:
        page = pdf[number - 1]
        width, height = page.get_size()
        bitmap = page.render(scale=longest_side / max(width, height, 1.0), may_draw_forms=True)
        image = bitmap.to_pil()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
        return buffer.getvalue()
    finally:
        pdf.close()


def _import_parsers() -> None:
    """Load the parsers before the limits: the limits are for the file, not for importing libraries."""
    import numpy  # noqa: F401
    import pypdfium2  # noqa: F401
    from PIL import Image  # noqa: F401

    import index.extract  # noqa: F401
    import index.pdf  # noqa: F401
    import index.word  # noqa: F401


def main(arguments: list[str]) -> int:
    _import_parsers()
    if arguments[0] == "render":
        number, longest_side, memory, cpu_seconds = map(int, arguments[1:])
        _limit(memory, cpu_seconds)
        content = sys.stdin.buffer.read()
        try:
            image = render(content, number, longest_side)
        except MemoryError:
            return 4
        sys.stdout.buffer.write(image)
        return 0
    kind, max_pages, max_chars, max_unpacked, memory_bytes, seconds = arguments
    _limit(int(memory_bytes), int(seconds))
    content = sys.stdin.buffer.read()
    from index.documents import DocumentError
    from index.extract import encode

    try:
        if kind == "pdf":
            from index.pdf import read_pdf

            check_pdf_streams(content, int(max_unpacked))
            extracted = read_pdf(content, max_pages=int(max_pages), max_chars=int(max_chars))
        elif kind == "docx":
            from index.word import read_docx

            extracted = read_docx(content, max_chars=int(max_chars), max_unpacked_bytes=int(max_unpacked))
        else:
            raise DocumentError("unsupported_file_type", f"the worker does not read {kind!r} files")
        frame = encode(extracted)
    except DocumentError as error:
        sys.stdout.write(json.dumps({"code": error.code, "message": str(error), "status": error.status}))
        return 3
    except MemoryError:
        return 4
    sys.stdout.buffer.write(frame)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
