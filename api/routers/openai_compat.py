"""POST /v1/chat/completions: OpenAI Chat Completions compatible, plain and streamed.

Citations travel in an extra top-level `citations` field (and in the final streamed chunk).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette.sse import EventSourceResponse

from api.answering import answer_chat
from api.convert import citation_out, reply_text
from api.dependencies import ReaderAccess, ServicesDep, WorkersDep
from api.errors import V1_ERRORS, ApiError, error_responses
from api.routers.chat import pieces
from api.schemas import ChatMessage, Text

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[ReaderAccess], responses=V1_ERRORS)
MODEL_NAME = "citeqa"


class CompletionMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Text = MODEL_NAME
    messages: list[CompletionMessage] = Field(min_length=1)  # at most max_chat_messages: checked per request
    stream: bool = False
    document_ids: list[Text] | None = Field(default=None, min_length=1)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def _chat_messages(messages: list[CompletionMessage], limit: int) -> list[ChatMessage]:
    # Counted before system messages are dropped: every message sent is read.
    if len(messages) > limit:
        raise ApiError(422, "chat_too_long", f"the chat has {len(messages):,} messages; the limit is {limit:,}")
    kept = []
    for index, message in enumerate(messages):
        if message.role in ("system", "developer"):
            continue
        if message.role not in ("user", "assistant"):
            raise ApiError(422, "unknown_role", f"unknown role {message.role!r}: use system, user or assistant")
        try:
            kept.append(ChatMessage(role=message.role, content=_text(message.content)))  # type: ignore[arg-type]
        except ValidationError as error:  # the same limits as /v1/chat, answered as a 422, not a 500
            problem = error.errors()[0]
            raise ApiError(422, "invalid_request", f"messages.{index}.content: {problem['msg']}") from error
    if not kept:
        raise ApiError(422, "invalid_request", "messages must contain at least one user message")
    return kept


def _words(text: str) -> int:
    return len(text.split())


@router.post("/chat/completions", responses={
    200: {"content": {"text/event-stream": {}},
          "description": "A `chat.completion` as JSON, or with stream true, SSE `chat.completion.chunk` events "
                         "ending with `[DONE]`"},
    **error_responses(400, 404, 413, 415, 422)})
async def chat_completions(body: CompletionRequest, services: ServicesDep, workers: WorkersDep) -> object:
    """Any OpenAI client can ask citeqa; the reply quotes its evidence and `citations` lists the spans."""
    messages = _chat_messages(body.messages, services.settings.server.max_chat_messages)
    answer = await answer_chat(services, workers, messages, body.document_ids)
    text = reply_text(answer)
    citations = [citation_out(c).model_dump() for c in answer.citations]
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    extra = {"question": answer.question, "answer": answer.answer, "score": round(answer.score, 4)}
    if not body.stream:
        prompt = sum(_words(m.content) for m in messages)
        return {
            "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": _words(text),
                      "total_tokens": prompt + _words(text)},
            "citations": citations, **extra,
        }

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> dict[str, str]:
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                   "model": body.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                   **more}
        return {"data": json.dumps(payload)}

    async def events() -> AsyncIterator[dict[str, str]]:
        yield chunk({"role": "assistant", "content": ""})
        for piece in pieces(text):
            yield chunk({"content": piece})
        yield chunk({}, "stop", citations=citations, **extra)
        yield {"data": "[DONE]"}

    return EventSourceResponse(events())
