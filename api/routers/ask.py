"""POST /v1/ask: one question, one cited answer."""

from __future__ import annotations

from fastapi import APIRouter

from api.answering import answer_question
from api.convert import ask_response
from api.dependencies import ReaderAccess, ServicesDep, WorkersDep
from api.errors import V1_ERRORS, error_responses
from api.schemas import AskRequest, AskResponse

router = APIRouter(prefix="/v1", tags=["ask"], dependencies=[ReaderAccess], responses=V1_ERRORS)


@router.post("/ask", response_model=AskResponse, responses=error_responses(400, 404, 413, 415, 422))
async def ask(body: AskRequest, services: ServicesDep, workers: WorkersDep) -> AskResponse:
    """Answer a question from the stored documents with a cited span (offsets: code points, end exclusive)."""
    answer = await answer_question(services, workers, body.question, body.document_ids, body.top_k)
    return ask_response(answer)
