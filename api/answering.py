"""Answer questions off the event loop, validating input and recording metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import anyio

from api.admission import AnswerQueue
from api.convert import answer_from_reply
from api.errors import ApiError
from api.metrics import Metrics
from api.schemas import ChatMessage
from api.services import Services
from api.settings import ServerSettings
from qa.followup import Turn, resolve_conversation
from qa.pipeline import Answer


def check_question(question: str, limit: int) -> None:
    """The HTTP checks of a question as sent, so a blank or long one gets its own 422; the pipeline strips it."""
    if not question.strip():
        raise ApiError(422, "empty_question", "the question is empty")
    if len(question) > limit:
        raise ApiError(422, "question_too_long", f"the question has {len(question):,} characters; "
                                                 f"the limit is {limit:,}")


def check_document_ids(document_ids: Sequence[str] | None) -> list[str] | None:
    """An empty list is refused; whether each id is stored is checked once, by the retriever."""
    if document_ids is None:
        return None
    if not document_ids:
        raise ApiError(422, "invalid_request", "document_ids must not be empty when given")
    return list(document_ids)


class AnswerWorkers:
    """Answers in worker threads, at most `workers` at once; refuses (503) when `max_waiting` already wait.

    The reader runs one forward pass at a time, so more threads only add memory (each holds its own
    activations and allocator arenas) and CPU oversubscription, not throughput.
    """

    def __init__(self, workers: int, max_waiting: int, metrics: Metrics) -> None:
        self.queue = AnswerQueue(workers, max_waiting)
        self.workers = workers
        self.metrics = metrics
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, work: Callable[[], Answer]) -> Answer:
        if self._limiter is None:  # created inside the event loop, on first use
            self._limiter = anyio.CapacityLimiter(self.workers)
        started = time.perf_counter()
        self.queue.admit()
        worked: float | None = None

        def timed() -> Answer:
            nonlocal worked
            began = time.perf_counter()
            answer = work()
            worked = time.perf_counter() - began
            return answer

        try:
            answer = await anyio.to_thread.run_sync(timed, limiter=self._limiter)
        finally:  # the worker has returned here even when the request was cancelled (threads are not abandoned)
            self.queue.release(worked)
        self.metrics.observe_answer(time.perf_counter() - started, answer.answer is not None)
        return answer


async def answer_question(services: Services, workers: AnswerWorkers, question: str,
                          document_ids: Sequence[str] | None, top_k: int | None = None) -> Answer:
    check_question(question, services.settings.server.max_question_chars)
    wanted = check_document_ids(document_ids)
    return await workers.run(lambda: services.answerer.run(question, wanted, top_k))


def check_conversation(messages: Sequence[ChatMessage], settings: ServerSettings) -> None:
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
            turns.append(Turn(pending, answer_from_reply(message.content)))
            pending = None
    if pending is not None:
        turns.append(Turn(pending, None))
    return messages[-1].content, turns


async def answer_chat(services: Services, workers: AnswerWorkers, messages: Sequence[ChatMessage],
                      document_ids: Sequence[str] | None) -> Answer:
    """Answer the last user message; the follow-up is rewritten in the worker, not on the event loop.

    The length limit applies to the question as sent: its rewrite may be longer.
    """
    limits = services.settings.server
    check_conversation(messages, limits)
    question, turns = conversation(messages)
    check_question(question, limits.max_question_chars)
    wanted = check_document_ids(document_ids)
    return await workers.run(lambda: services.answerer.run(resolve_conversation(question, turns), wanted))
