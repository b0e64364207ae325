"""One JSON error shape for every failure: {"error": {"code", "message"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.schemas import ErrorBody
from index.base import DocumentExistsError, UnknownDocumentError
from index.documents import DocumentError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status, a stable code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # A message may quote client input; one that cannot be encoded must not turn a 4xx into a 500.
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value"))
    return f"{location}: {message}" if location else message


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                422: "invalid_request", 429: "too_many_requests", 503: "not_ready"}


# What FastAPI answers when decoding the JSON body raised something other than a JSON syntax error.
FASTAPI_UNPARSABLE_BODY = "There was an error parsing the body"


# What each error status means, with the codes it carries, for the OpenAPI document.
ERROR_STATUSES: dict[int, str] = {
    400: "The body is not JSON, not UTF-8, or nested too deeply (`malformed_json`).",
    401: "A token is needed and was not sent or is wrong (`unauthorized`): `CITEQA_API_TOKEN` for every /v1 "
         "route when it is set, `CITEQA_ADMIN_TOKEN` for writes.",
    403: "Writes are disabled: the server has no admin token (`writes_disabled`).",
    404: "No such document (`unknown_document`), or no such page of it: `no_pages` (not a PDF), `unknown_page`.",
    409: "A document already has the id derived from this title or file name (`document_exists`): send it "
         "with that `id`, or with `?replace=true`, to replace it.",
    413: "The body is over `CITEQA_MAX_BODY_BYTES`, or a file upload over `CITEQA_MAX_UPLOAD_BYTES` "
         "(`payload_too_large`), the document over "
         "`CITEQA_MAX_DOCUMENT_CHARS` (`document_too_large`), a PDF over `CITEQA_MAX_PAGES` (`too_many_pages`), "
         "or a file that inflates past `CITEQA_MAX_UNPACKED_BYTES` (a decompression or zip bomb) or needs more "
         "than the parser's `CITEQA_PARSE_MEMORY_MB` or `CITEQA_PARSE_SECONDS` (`too_complex`).",
    415: "Not the media type this route takes (`unsupported_media_type`), or a file type that cannot be read "
         "(`unsupported_file_type`).",
    422: "A field is missing, of the wrong type or out of bounds (`invalid_request`), or a limit or check failed: "
         "`empty_question`, `question_too_long`, `chat_too_long`, `message_too_long`, `unknown_role`, "
         "`invalid_text` (a lone surrogate; in a title or metadata, also a NUL character), "
         "`invalid_document_id`, `empty_document`, `binary_content`, "
         "`not_utf8`, `missing_file`; for PDF and Word files `no_text` (no text layer: a scan; citeqa does not "
         "run OCR; the message names the pages), `encrypted` (password-protected), `unreadable_document` "
         "(broken, truncated, or not what its name says).",
    429: "Over `CITEQA_RATE_LIMIT_PER_MINUTE` for this client (`rate_limited`); `Retry-After` says when to "
         "try again.",
    500: "An unexpected error, logged by the server (`internal_error`).",
    503: "Models still loading (`not_ready`), loading failed (`load_failed`: restart the server), too many "
         "questions waiting (`overloaded`), or the server at `CITEQA_LIMIT_CONCURRENCY` connections and "
         "requests in progress (`overloaded`); `Retry-After` says when to try again, except after `load_failed`.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status with its meaning and the real error body."""
    return {status: {"model": ErrorBody, "description": ERROR_STATUSES[status]} for status in statuses}


# Every /v1 route: the API token, the rate limit, a bug, and not ready or overloaded.
V1_ERRORS = error_responses(401, 429, 500, 503)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path.

    Starlette's 405 names only the methods of the first route whose path matched, so for
    /v1/documents (GET and POST, two routes) it said `Allow: POST`.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Register handlers so nothing escapes as an HTML page or a bare 500."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        return error_response(422, "invalid_request", "; ".join(_describe(p) for p in problems[:5]))

    @app.exception_handler(DocumentError)
    async def document_error(_: Request, error: DocumentError) -> JSONResponse:
        return error_response(error.status, error.code, str(error))

    @app.exception_handler(DocumentExistsError)
    async def document_exists(_: Request, error: DocumentExistsError) -> JSONResponse:
        return error_response(409, "document_exists",
                              f"{error}: send it with that `id`, or with `?replace=true`, to replace it")

    @app.exception_handler(UnknownDocumentError)
    async def unknown_document(_: Request, error: UnknownDocumentError) -> JSONResponse:
        return error_response(404, "unknown_document", str(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == FASTAPI_UNPARSABLE_BODY:  # same code as /v1/documents
            return error_response(400, "malformed_json",
                                  "the request body could not be read as JSON: not UTF-8, or nested too deeply")
        code = STATUS_CODES.get(error.status_code, "error")
        headers = getattr(error, "headers", None)
        if error.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return error_response(error.status_code, code, str(error.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
