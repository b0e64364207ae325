"""The FastAPI application: routers, errors, limits, security headers and model loading."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import docs_page, errors
from api.admission import RateLimiter
from api.answering import AnswerWorkers
from api.dependencies import ReaderAccess, rate_limit_key, require_reader
from api.errors import ApiError, error_response
from api.metrics import Metrics
from api.metrics import install as install_metrics
from api.routers import ask, chat, documents, health, openai_compat
from api.services import Services, build_services
from api.settings import Settings, get_settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
JSON_ROUTES = {"/v1/ask", "/v1/chat", "/v1/chat/completions"}
TOKEN_PATHS = {"/openapi.json", "/metrics", docs_page.DOCS_PATH}  # besides every /v1 and /docs/ path
# An oversized body is read and thrown away up to this much (or 4 times the limit) before the 413.
DRAIN_BYTES = 32 * 1024 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class BodyLimit:
    """Refuse bodies over the limit with 413 before they are read into memory.

    A body without a Content-Length (chunked) is counted as it streams. The 413 is sent from here the
    moment the limit is passed, not by an exception travelling back up: the app may turn a failed read
    into its own error (FastAPI answers 400) or wrap it in an ExceptionGroup (task groups), so whatever
    the app does after the refusal is dropped. The rest of the body is read and discarded, up to a cap,
    before answering: a client still sending when the socket closes sees a reset, not the 413.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit or limit

    def limit_for(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str]:
        """The request's limit and the setting that sets it: a file upload (multipart POST /v1/documents) may
        be larger than any other body, since PDFs run to MBs."""
        upload = scope.get("method") == "POST" and scope.get("path", "").rstrip("/") == "/v1/documents" \
            and headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        return (self.upload_limit, "CITEQA_MAX_UPLOAD_BYTES") if upload else (self.limit, "CITEQA_MAX_BODY_BYTES")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        limit, setting = self.limit_for(scope, headers)
        drain_limit = max(4 * limit, DRAIN_BYTES)
        declared = headers.get(b"content-length")
        # A client that waits for "100 Continue" has not sent its body, and must not be asked to.
        drain = headers.get(b"expect", b"").lower() != b"100-continue"
        if declared is not None and declared.isdigit() and int(declared) > limit:
            if drain and int(declared) <= drain_limit:
                await self._drain(receive, 0, drain_limit)
            await self._refuse(scope, receive, send, limit, setting)
            return
        received = 0
        refused = False
        started = False

        async def limited() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                if not refused and not started:
                    refused = True
                    if drain and message.get("more_body", False):
                        await self._drain(receive, received, drain_limit)
                    await self._refuse(scope, receive, send, limit, setting)
                raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 is out; what the app makes of its failed read is not sent
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if not refused:
                raise

    async def _drain(self, receive: Receive, received: int, drain_limit: int) -> None:
        while received <= drain_limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int, setting: str) -> None:
        response = error_response(413, "payload_too_large", f"the request body is over {limit:,} bytes ({setting})")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def with_limits(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The OpenAPI document with the limits this server checks per request, which are settings and so
    cannot be written on the models: a client (or a generated test) then knows what will be refused."""
    server = settings.server
    schemas = spec["components"]["schemas"]
    # Blank questions are refused (`empty_question`): at least one character that is not white space.
    schemas["AskRequest"]["properties"]["question"].update(
        minLength=1, maxLength=server.max_question_chars, pattern=r"\S")
    schemas["ChatMessage"]["properties"]["content"]["maxLength"] = max(server.max_question_chars,
                                                                      server.max_message_chars)
    for request in ("ChatRequest", "CompletionRequest"):
        schemas[request]["properties"]["messages"]["maxItems"] = server.max_chat_messages
    schemas["CompletionMessage"]["properties"]["role"]["enum"] = ["system", "developer", "user", "assistant"]
    return spec


def _load_in_background(app: FastAPI, settings: Settings) -> threading.Thread:
    def load() -> None:
        try:
            app.state.services = build_services(settings)
            log.info("citeqa ready (models on %s, %s)", settings.reader.backend, settings.reader.precision)
        except Exception as error:  # keep serving /healthz and report the failure on /readyz
            log.exception("loading failed")
            app.state.load_error = str(error)

    thread = threading.Thread(target=load, name="citeqa-load", daemon=True)
    thread.start()
    return thread


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; models load in the background unless services are given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.services is None:
            _load_in_background(app, settings)
        yield

    # Not FastAPI's /docs or /redoc: they load Swagger UI and ReDoc from a CDN, which the CSP forbids and an
    # offline machine cannot reach. /docs is ours (api/docs_page.py: Swagger UI from local files) and, like
    # the OpenAPI document served below, behind the API token like every /v1 route; there is no /redoc.
    app = FastAPI(
        title="citeqa",
        version="0.1.0",
        description="Answers questions from documents and cites the exact span. "
                    "All offsets are Unicode code points into the stored document text, end exclusive.",
        lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.metrics = Metrics()
    app.state.workers = AnswerWorkers(settings.server.answer_workers, settings.server.max_waiting, app.state.metrics)
    errors.install(app)
    per_minute = settings.server.rate_limit_per_minute
    app.state.rate_limiter = RateLimiter(per_minute) if per_minute else None

    # Middlewares added first are innermost. Outside in: the body limit, security headers, metrics, the rate
    # limit, the API token, then the media type: so a 401, 415 or 429 is counted and gets the headers, and a
    # client without the token learns nothing about a route (not even that its body is malformed) but 401.
    @app.middleware("http")
    async def json_only(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST" and request.url.path in JSON_ROUTES:
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "application/json":
                return error_response(415, "unsupported_media_type",
                                      f"send the body as application/json (got {media_type or 'no content type'})")
        return await call_next(request)

    @app.middleware("http")
    async def require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # Route dependencies check it too, but only after FastAPI has read and parsed the body.
        path = request.url.path
        if path.startswith(("/v1/", docs_page.DOCS_PATH + "/")) or path in TOKEN_PATHS:
            try:
                require_reader(request)
            except ApiError as error:  # raised in a middleware, so no exception handler would see it
                return error_response(error.status, error.code, error.message, error.headers)
        return await call_next(request)

    @app.middleware("http")
    async def rate_limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        limiter: RateLimiter | None = request.app.state.rate_limiter
        if limiter is not None and request.url.path.startswith("/v1/"):  # probes and the page are never limited
            key = rate_limit_key(request, settings)
            if key is not None:
                try:
                    limiter.take(key)
                except ApiError as error:  # raised in a middleware, so no exception handler would see it
                    return error_response(error.status, error.code, error.message, error.headers)
        return await call_next(request)

    install_metrics(app, app.state.metrics)
    for router in (health.router, ask.router, chat.router, openai_compat.router, documents.router):
        app.include_router(router)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.get("/openapi.json", include_in_schema=False, dependencies=[ReaderAccess])
    async def openapi() -> JSONResponse:
        return JSONResponse(with_limits(app.openapi(), settings))

    docs_page.install(app)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit=settings.server.max_body_bytes, upload_limit=settings.server.max_upload_bytes)
    return app
