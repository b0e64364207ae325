"""Shared request dependencies: services, workers and access tokens (checked against the app's settings)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from api.answering import AnswerWorkers
from api.errors import ApiError
from api.services import Services
from api.settings import Settings

NOT_READY_RETRY_SECONDS = 5


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        error = getattr(request.app.state, "load_error", None)
        if error is not None:
            raise ApiError(503, "load_failed", f"citeqa could not load: {error}")
        # A start takes about 5 s with cached models (bench/RESULTS.md); a retry sooner only adds load.
        raise ApiError(503, "not_ready", "the models are still loading; try again shortly",
                       headers={"Retry-After": str(NOT_READY_RETRY_SECONDS)})
    return services


def get_workers(request: Request) -> AnswerWorkers:
    workers: AnswerWorkers = request.app.state.workers
    return workers


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(token: str | None, expected: str | None) -> bool:
    return bool(token and expected) and hmac.compare_digest(token.encode(), expected.encode())  # type: ignore[union-attr]


def require_reader(request: Request) -> None:
    """When CITEQA_API_TOKEN is set, /v1 routes need it (or the admin token)."""
    settings: Settings = request.app.state.settings
    if not settings.server.api_token:
        return
    token = _bearer(request)
    if not (_matches(token, settings.server.api_token) or _matches(token, settings.server.admin_token)):
        raise ApiError(401, "unauthorized", "this server needs `Authorization: Bearer <CITEQA_API_TOKEN>`",
                       headers={"WWW-Authenticate": "Bearer"})


def rate_limit_key(request: Request, settings: Settings) -> str | None:
    """Whose budget a request spends: its token's when it sends a configured one, else its address's.

    Only configured tokens count, so a client cannot get a fresh budget per request by sending made-up
    tokens. The admin token is not limited (None): it is the operator's, and ingesting a folder over HTTP
    must not stall. All clients sharing the API token share its budget, as the limit is per token.
    """
    token = _bearer(request)
    if _matches(token, settings.server.admin_token):
        return None
    if _matches(token, settings.server.api_token):
        return "token:api"
    return f"host:{request.client.host if request.client else 'unknown'}"


def require_admin(request: Request) -> None:
    """Writes need the admin token; with none configured, writes are disabled."""
    settings: Settings = request.app.state.settings
    if not settings.server.admin_token:
        raise ApiError(403, "writes_disabled",
                       "document writes are disabled: set CITEQA_ADMIN_TOKEN and send it as a Bearer token")
    if not _matches(_bearer(request), settings.server.admin_token):
        raise ApiError(401, "unauthorized", "document writes need `Authorization: Bearer <CITEQA_ADMIN_TOKEN>`",
                       headers={"WWW-Authenticate": "Bearer"})


ServicesDep = Annotated[Services, Depends(get_services)]
WorkersDep = Annotated[AnswerWorkers, Depends(get_workers)]
ReaderAccess = Depends(require_reader)
AdminAccess = Depends(require_admin)
