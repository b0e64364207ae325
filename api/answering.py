"""Answer questions off the event loop, validating input and recording metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import anyio
from fastapi import FastAPI, Request

from api.admission import AnswerQueue
from api.errors import ApiError
from api.schemas import ChatMessage
from api.services import Services
from index.settings import Settings
from index.store import UnknownDocumentError
from qa.followup import Turn, resolve_conversation
from qa.pipeline import Answer

# Answers tried when documents found for a question keep being deleted before they are cited.
DELETE_RETRIES = 3


def check_question(question: str, limit: int) -> str:
    if not question.strip():
        raise ApiError(422, "empty_question", "the question is empty")
    if len(question) > limit:
        raise ApiError(422, "question_too_long", f"the question has {len(question):,} characters; "
                                                 f"the limit is {limit:,}")
    return question.strip()


def check_documents(services: Services, document_ids: Sequence[str] | None) -> list[str] | None:
    if document_ids is None:
        return None
    if not document_ids:
        raise ApiError(422, "invalid_request", "document_ids must not be empty when given")
    for document_id in document_ids:
        if not services.store.has(document_id):
            raise UnknownDocumentError(document_id)
    return list(document_ids)


def answer_limiter(app: FastAPI) -> anyio.CapacityLimiter:
    """At most `answer_workers` questions in worker threads; the rest wait on the event loop.

    The reader runs one forward pass at a time, so more threads only add memory (each holds its own
    activations and allocator arenas) and CPU oversubscription, not throughput.
    """
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "answer_limiter", None)
    if limiter is None:  # created inside the event loop, on first use
        limiter = app.state.answer_limiter = anyio.CapacityLimiter(app.state.settings.answer_workers)
    return limiter


def answer_queue(app: FastAPI) -> AnswerQueue:
    queue: AnswerQueue | None = getattr(app.state, "answer_queue", None)
    if queue is None:
        settings = app.state.settings
        queue = app.state.answer_queue = AnswerQueue(settings.answer_workers, settings.max_waiting)
    return queue


async def _answer_in_worker(request: Request, work: Callable[[], Answer]) -> Answer:
    """Answer in a worker thread, or refuse at once (503) when too many questions already wait for one."""
    started = time.perf_counter()
    queue = answer_queue(request.app)
    queue.admit()
    worked: float | None = None

    def timed() -> Answer:
        nonlocal worked
        began = time.perf_counter()
        answer = work()
        worked = time.perf_counter() - began
        return answer

    try:
        answer = await anyio.to_thread.run_sync(timed, limiter=answer_limiter(request.app))
    finally:  # the worker has returned here even when the request was cancelled (threads are not abandoned)
        queue.release(worked)
    request.app.state.metrics.observe_answer(time.perf_counter() - started, answer.answer is not None)
    return answer


def tolerating_deletes(answer: Callable[[], Answer], wanted: Sequence[str] | None) -> Answer:
    """Answer again when a document found for the question was deleted before it could be cited.

    The pipeline reads a retrieved document after its search; a delete in between makes that read fail.
    The new search cannot find the deleted document, so a retry answers from what is stored now. A
    document the client asked for by id is different: it is gone, and the client is told so (404).
    """
    for _ in range(DELETE_RETRIES):
        try:
            return answer()
        except UnknownDocumentError as error:
            if wanted is not None and error.document_id in wanted:
                raise
    raise ApiError(503, "documents_changing", "the documents changed while this question was answered; "
                                              "ask again", headers={"Retry-After": "1"})


async def answer_question(request: Request, services: Services, question: str,
                          document_ids: Sequence[str] | None, top_k: int | None = None) -> Answer:
    question = check_question(question, services.settings.max_question_chars)
    wanted = check_documents(services, document_ids)
    return await _answer_in_worker(
        request, lambda: tolerating_deletes(lambda: services.answerer.run(question, wanted, top_k), wanted))


def check_conversation(messages: Sequence[ChatMessage], settings: Settings) -> None:
    """Limits on the whole chat, checked before any work: turns, total characters, each message."""
    if len(messages) > settings.max_chat_messages:
        raise ApiError(422, "chat_too_long", f"the chat has {len(messages):,} messages; "
                                             f"the limit is {settings.max_chat_messages:,}")
    total = sum(len(message.content) for message in messages)
    if total > settings.max_chat_chars:
        raise ApiError(422, "chat_too_long", f"the chat has {total:,} characters; "
                                             f"the limit is {settings.max_chat_chars:,}")
    for index, message in enumerate(messages):
        # Earlier questions were asked under the same limit, so a longer one was never answered here.
        limit = settings.max_question_chars if message.role == "user" else settings.max_message_chars
        if len(message.content) > limit:
            code = "question_too_long" if message.role == "user" else "message_too_long"
            raise ApiError(422, code, f"messages.{index}.content has {len(message.content):,} characters; "
                                      f"the limit is {limit:,}")


def conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last user message and the earlier (question, answer) turns."""
    if messages[-1].role != "user":
        raise ApiError(422, "invalid_request", "the last message must have role 'user'")
    turns: list[Turn] = []
    pending: str | None = None
    for message in messages[:-1]:
        if message.role == "user":
            if pending is not None:
                turns.append(Turn(pending, None))
            pending = message.content
        elif pending is not None:
            turns.append(Turn(pending, _answer_from_reply(message.content)))
            pending = None
    if pending is not None:
        turns.append(Turn(pending, None))
    return messages[-1].content, turns


def _answer_from_reply(content: str) -> str | None:
    """Our replies start with the answer span on the first line; 'do not answer' means none."""
    first = content.strip().split("\n", 1)[0].strip()
    if not first or first.startswith("The documents do not answer"):
        return None
    return first


async def answer_chat(request: Request, services: Services, messages: Sequence[ChatMessage],
                      document_ids: Sequence[str] | None) -> Answer:
    """Answer the last user message; the follow-up is rewritten in the worker, not on the event loop.

    The length limit applies to the question as sent: its rewrite may be longer.
    """
    check_conversation(messages, services.settings)
    latest, turns = conversation(messages)
    question = check_question(latest, services.settings.max_question_chars)
    wanted = check_documents(services, document_ids)

    def work() -> Answer:
        standalone = resolve_conversation(question, turns)
        return tolerating_deletes(lambda: services.answerer.run(standalone, wanted, None), wanted)

    return await _answer_in_worker(request, work)
