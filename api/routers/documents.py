"""Documents: add (JSON or file upload), list, read and delete."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.dependencies import AdminAccess, ReaderAccess, ServicesDep
from api.errors import V1_ERRORS, ApiError, error_responses
from api.page_images import PAGE_IMAGE_SIDE
from api.schemas import (
    MAX_TITLE_CHARS,
    DocumentCreated,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentSummaryOut,
    PageOut,
    SectionOut,
)
from index.base import DocumentSummary
from index.documents import SURROGATE, Document, make_document, validate_id
from index.extract import load_bytes

router = APIRouter(prefix="/v1/documents", tags=["documents"], dependencies=[ReaderAccess], responses=V1_ERRORS)


def _readable(value: str) -> str:
    """The value with any lone surrogate shown as U+FFFD, one for one, so that offsets still hold.

    Input is checked for them now, but a store written before that may hold some (in metadata), and
    one such value must not make the whole listing fail.
    """
    return SURROGATE.sub("\ufffd", value)


def _summary(summary: DocumentSummary) -> DocumentSummaryOut:
    metadata = {_readable(key): _readable(value) for key, value in summary.metadata.items()}
    return DocumentSummaryOut(id=_readable(summary.id), title=_readable(summary.title), metadata=metadata,
                              characters=summary.characters, chunks=summary.chunk_count,
                              sentences=summary.sentence_count, source_type=summary.source_type,
                              page_count=summary.page_count,
                              filename=_readable(summary.filename) if summary.filename is not None else None,
                              added_at=summary.added_at)


async def _document_from_request(request: Request, services: ServicesDep) -> tuple[Document, bool]:
    """The document sent, and whether the client named its id (which allows replacing that id)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        try:
            body = DocumentIn.model_validate(json.loads(raw))
        except json.JSONDecodeError as error:
            raise ApiError(400, "malformed_json", "the request body is not valid JSON") from error
        except UnicodeDecodeError as error:
            raise ApiError(400, "malformed_json", f"the request body is not valid UTF-8 ({error.reason})") from error
        except RecursionError as error:
            raise ApiError(400, "malformed_json", "the request body is nested too deeply") from error
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
            raise ApiError(422, "invalid_request", problems) from error
        document = make_document(body.text, document_id=body.id, title=body.title, metadata=body.metadata,
                                 max_chars=services.settings.index.max_document_chars)
        return document, bool(body.id)
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "missing_file", "send the document as a multipart field named 'file'")
        document_id = form.get("id")
        title = form.get("title")
        if isinstance(title, str) and len(title) > MAX_TITLE_CHARS:  # the cap JSON has
            raise ApiError(422, "invalid_request", f"title: the title has {len(title):,} characters; "
                                                   f"the limit is {MAX_TITLE_CHARS:,}")
        named = isinstance(document_id, str) and bool(document_id)
        content = await upload.read()
        # PDF and Word files are parsed in a worker process; this thread only waits for it.
        document = await run_in_threadpool(
            load_bytes, content, filename=upload.filename or "upload.txt",
            document_id=validate_id(document_id) if isinstance(document_id, str) and document_id else None,
            title=title if isinstance(title, str) and title else None, limits=services.settings.index.parse_limits,
        )
        return document, named
    raise ApiError(415, "unsupported_media_type",
                   "send application/json {text, id?, title?, metadata?} or multipart/form-data with a file")


@router.post("", status_code=201, response_model=DocumentCreated, dependencies=[AdminAccess],
             responses=error_responses(400, 403, 409, 413, 415, 422),
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": DocumentIn.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}, "id": {"type": "string"},
                     "title": {"type": "string"}}, "required": ["file"]}}}}})
async def add_document(request: Request, services: ServicesDep, replace: Annotated[bool, Query(
        description="Replace a stored document whose id was derived from the title or file name. "
                    "Sending an explicit `id` always replaces that id.")] = False) -> DocumentCreated:
    """Add a document (JSON text, or a PDF, Word, text, Markdown or HTML file), or replace one.

    A file's type is read from its content (magic bytes), then from its name. PDF and Word files are
    parsed in a worker process bounded in time and memory (CITEQA_PARSE_SECONDS, CITEQA_PARSE_MEMORY_MB,
    CITEQA_MAX_PAGES, CITEQA_MAX_UNPACKED_BYTES, CITEQA_MAX_DOCUMENT_CHARS): a scan without a text layer is
    a 422 `no_text` (citeqa does not run OCR), a password-protected file 422 `encrypted`, a broken one 422
    `unreadable_document`, one over a limit 413; a refused file changes nothing stored. A derived id that
    is already taken is a 409 unless `replace=true`, so two files whose names slugify alike never overwrite
    each other silently."""
    document, named = await _document_from_request(request, services)
    result = await run_in_threadpool(services.index.indexer.add, document, replace=named or replace)
    pages = document.layout.pages
    return DocumentCreated(id=result.document_id, title=document.title, chunks=result.chunk_count,
                           sentences=result.sentence_count, replaced=result.replaced,
                           source_type=document.source_type, page_count=len(pages) if pages else None,
                           pages_without_text=list(document.layout.pages_without_text))


@router.get("", response_model=DocumentList)
async def list_documents(services: ServicesDep) -> DocumentList:
    return DocumentList(documents=[_summary(s) for s in services.store.list_documents()])


@router.get("/{document_id}", response_model=DocumentOut, responses=error_responses(404, 422))
async def get_document(document_id: str, services: ServicesDep) -> DocumentOut:
    """A document with its full text (offsets are code points into `text`), and a PDF's pages or a Word
    file's sections."""
    document = services.store.get(document_id)
    layout = document.layout
    pages = [PageOut(number=p.number, label=p.label, start=p.start, end=p.end, width=p.width, height=p.height,
                     rotation=p.rotation) for p in layout.pages] if layout.pages else None
    sections = [SectionOut(start=s.start, end=s.end, path=list(s.path)) for s in layout.sections] \
        if layout.sections else None
    return DocumentOut(**_summary(services.store.summary(document_id)).model_dump(), text=_readable(document.text),
                       pages=pages, sections=sections)


@router.get("/{document_id}/pages/{number}", response_class=Response,
            responses={**error_responses(404, 413, 422),
                       200: {"content": {"image/png": {}}, "description": (
                           f"The page rendered as PNG, its longer side {PAGE_IMAGE_SIDE} pixels; the pixels per "
                           "point are that over the page's longer side in points (GET /v1/documents/{id} gives "
                           "`pages[].width`/`height`), to draw citation boxes over it.")}})
async def page_image(document_id: str, number: int, services: ServicesDep) -> Response:
    """Page `number` (1-based, physical) of a stored PDF as a PNG image (rendered once, then cached)."""
    image = await run_in_threadpool(services.page_images.get, services.store, document_id, number)
    return Response(image.png, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600", "ETag": f'"{image.etag}"'})


@router.delete("/{document_id}", status_code=204, dependencies=[AdminAccess],
               responses=error_responses(403, 404, 422))
async def delete_document(document_id: str, services: ServicesDep) -> Response:
    await run_in_threadpool(services.store.delete, document_id)
    return Response(status_code=204)
