"""Documents: add (JSON or file upload), list, read and delete."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.dependencies import AdminAccess, ReaderAccess, ServicesDep
from api.errors import V1_ERRORS, ApiError, error_responses
from api.schemas import MAX_TITLE_CHARS, DocumentCreated, DocumentIn, DocumentList, DocumentOut, DocumentSummaryOut
from index.documents import SURROGATE, Document, load_document, make_document, validate_id
from index.store import DocumentSummary

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
                              sentences=summary.sentence_count)


async def _document_from_request(request: Request, max_chars: int) -> tuple[Document, bool]:
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
                                 max_chars=max_chars)
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
        document = load_document(
            await upload.read(), filename=upload.filename or "upload.txt",
            document_id=validate_id(document_id) if isinstance(document_id, str) and document_id else None,
            title=title if isinstance(title, str) and title else None, max_chars=max_chars,
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
    """Add a document (JSON text or a .txt/.md/.html upload), or replace one: a derived id that is
    already taken is a 409 unless `replace=true`, so two files whose names slugify alike never overwrite
    each other silently."""
    document, named = await _document_from_request(request, services.settings.index.max_document_chars)
    result = await run_in_threadpool(services.index.indexer.add, document, replace=named or replace)
    return DocumentCreated(id=result.document_id, title=document.title, chunks=result.chunk_count,
                           sentences=result.sentence_count, replaced=result.replaced)


@router.get("", response_model=DocumentList)
async def list_documents(services: ServicesDep) -> DocumentList:
    return DocumentList(documents=[_summary(s) for s in services.store.list_documents()])


@router.get("/{document_id}", response_model=DocumentOut, responses=error_responses(404, 422))
async def get_document(document_id: str, services: ServicesDep) -> DocumentOut:
    """A document with its full text (offsets are code points into `text`)."""
    document = services.store.get(document_id)
    return DocumentOut(**_summary(services.store.summary(document_id)).model_dump(), text=_readable(document.text))


@router.delete("/{document_id}", status_code=204, dependencies=[AdminAccess],
               responses=error_responses(403, 404, 422))
async def delete_document(document_id: str, services: ServicesDep) -> Response:
    await run_in_threadpool(services.store.delete, document_id)
    return Response(status_code=204)
