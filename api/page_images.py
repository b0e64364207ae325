"""Pages of stored PDFs as PNG images: rendered in the parsing worker, kept in a bounded in-memory cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from api.errors import ApiError
from index.base import PassageStore
from index.extract import ParseLimits, render_page

# The longer side of a rendered page, in pixels: a letter page at 1600 px is about 145 dpi, sharp in a
# side panel, about 200-400 KB as PNG.
PAGE_IMAGE_SIDE = 1600


@dataclass(frozen=True)
class PageImage:
    png: bytes
    etag: str


class PageImages:
    """Renders pages on demand and caches them by (file digest, page), at most `max_bytes` of PNG.

    Keyed by the file's digest, not the document id: a replaced document never serves its old pages.
    """

    def __init__(self, limits: ParseLimits, max_bytes: int = 64 * 1024 * 1024, side: int = PAGE_IMAGE_SIDE) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.limits = limits
        self.max_bytes = max_bytes
        self.side = side
        self._cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, store: PassageStore, document_id: str, number: int, retry: bool = True) -> PageImage:
        summary = store.summary(document_id)  # UnknownDocumentError: 404
        if summary.source_type != "pdf" or summary.sha256 is None:
            raise ApiError(404, "no_pages", f"document {document_id!r} has no pages: only PDF files are paged")
        pages = summary.page_count or 0
        if not 1 <= number <= pages:
            raise ApiError(404, "unknown_page", f"document {document_id!r} has pages 1 to {pages}; there is no "
                                                f"page {number}")
        key = (summary.sha256, number)
        etag = f"{summary.sha256[:16]}-{number}-{self.side}"
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return PageImage(cached, etag)
        # Only now the file itself: a cached page costs one summary read, not the PDF's bytes.
        source = store.source(document_id)  # UnknownDocumentError if deleted meanwhile: 404
        if source is None or source.sha256 != summary.sha256:  # replaced meanwhile: check the new one's pages
            if retry:
                return self.get(store, document_id, number, retry=False)
            raise ApiError(404, "no_pages", f"document {document_id!r} changed while its page was read")
        png = render_page(source.content, number, self.side, self.limits)
        with self._lock:
            if key not in self._cache and len(png) <= self.max_bytes:
                self._cache[key] = png
                self._size += len(png)
                while self._size > self.max_bytes:
                    _, dropped = self._cache.popitem(last=False)
                    self._size -= len(dropped)
        return PageImage(png, etag)
