"""POST /v1/chat: a conversation whose follow-ups are resolved against earlier turns.

With "stream": true the reply is Server-Sent Events:
- event `delta`, data `{"content": "<next piece of the message text>"}` (several);
- event `answer`, data `{"question", "answer", "score", "citations"}` (once, last).
The answer is complete before the first event, so an error is always a plain JSON error response.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from api.answering import answer_chat
from api.convert import ask_response, citation_out, reply_text
from api.dependencies import ReaderAccess, ServicesDep, WorkersDep
from api.errors import V1_ERRORS, error_responses
from api.schemas import AssistantMessage, ChatRequest, ChatResponse

router = APIRouter(prefix="/v1", tags=["chat"], dependencies=[ReaderAccess], responses=V1_ERRORS)


def pieces(text: str) -> list[str]:
    """Split a reply into word-sized pieces for streaming."""
    return re.findall(r"\S+\s*|\s+", text)


@router.post("/chat", response_model=ChatResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "JSON, or SSE events `delta` then `answer` when stream is true"},
                        **error_responses(400, 404, 413, 415, 422)})
async def chat(body: ChatRequest, services: ServicesDep, workers: WorkersDep) -> object:
    """Answer the last user message; earlier turns resolve follow-ups like "what did he say?"."""
    answer = await answer_chat(services, workers, body.messages, body.document_ids)  # errors before any event
    if body.stream:
        async def events() -> AsyncIterator[dict[str, str]]:
            for piece in pieces(reply_text(answer)):
                yield {"event": "delta", "data": json.dumps({"content": piece})}
            yield {"event": "answer", "data": ask_response(answer).model_dump_json()}

        return EventSourceResponse(events())
    return ChatResponse(
        message=AssistantMessage(content=reply_text(answer)), question=answer.question, answer=answer.answer,
        score=round(answer.score, 4), citations=[citation_out(c) for c in answer.citations],
    )
