"""Liveness and readiness (open, for probes) and metrics (behind the API token when one is set)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.dependencies import ReaderAccess

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {
    "description": "Models still loading (`{\"status\": \"loading\"}`), or loading failed "
                   "(`{\"status\": \"failed\", \"error\": \"...\"}`: the process must be restarted).",
    "content": {"application/json": {"example": {"status": "loading"}}}}})
async def readyz(request: Request) -> JSONResponse:
    """200 when models are loaded and the index is open, else 503."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        error = getattr(request.app.state, "load_error", None)
        if error is not None:
            return JSONResponse({"status": "failed", "error": error}, status_code=503)
        return JSONResponse({"status": "loading"}, status_code=503)
    documents, chunks = services.store.counts()
    return JSONResponse({"status": "ready", "documents": documents, "chunks": chunks})


@router.get("/metrics", include_in_schema=False, dependencies=[ReaderAccess])  # counts and routes are not public
async def metrics(request: Request) -> Response:
    services = getattr(request.app.state, "services", None)
    documents, chunks = services.store.counts() if services is not None else (0, 0)
    return request.app.state.metrics.render(documents, chunks)  # type: ignore[no-any-return]
