"""Admission control: a full answering queue refuses with 503 instead of queueing forever."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import httpx

from api.app import create_app
from api.services import Services
from index.settings import Settings
from qa.pipeline import Answer


class BlockedAnswerer:
    """Answers only when released, so that questions pile up in the queue."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def run(self, question: str, document_ids: Any = None, top_k: Any = None) -> Answer:
        self.started.release()
        assert self.release.wait(30)
        return Answer(question, None, 0.1)


def blocked_app(tmp_path: Path, **settings: Any) -> tuple[Any, BlockedAnswerer]:
    answerer = BlockedAnswerer()
    config = Settings(data_dir=tmp_path, **settings)
    services = Services(config, None, None, answerer, ready=True)  # type: ignore[arg-type]
    return create_app(config, services=services), answerer


def test_a_full_answering_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    app, answerer = blocked_app(tmp_path, answer_workers=1, max_waiting=2)
    statuses: list[int] = []

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async def ask() -> None:
                statuses.append((await client.post("/v1/ask", json={"question": "Who?"})).status_code)

            async with anyio.create_task_group() as group:
                for _ in range(3):  # one answering, two waiting: the queue is full
                    group.start_soon(ask)
                await anyio.to_thread.run_sync(answerer.started.acquire)
                while app.state.answer_queue.in_flight < 3:
                    await anyio.sleep(0.01)
                for route, body in (("/v1/ask", {"question": "Who?"}),
                                    ("/v1/chat", {"messages": [{"role": "user", "content": "Who?"}]}),
                                    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Who?"}]})):
                    refused = await client.post(route, json=body)
                    assert refused.status_code == 503, (route, refused.text)
                    assert refused.json()["error"]["code"] == "overloaded"
                    assert int(refused.headers["Retry-After"]) >= 1
                assert (await client.get("/healthz")).status_code == 200  # probes are never queued
                answerer.release.set()
            assert statuses == [200, 200, 200]
            assert app.state.answer_queue.in_flight == 0
            assert (await client.post("/v1/ask", json={"question": "Who?"})).status_code == 200

    anyio.run(scenario)


def test_no_waiting_allowed_means_only_the_workers_answer(tmp_path: Path) -> None:
    app, answerer = blocked_app(tmp_path, answer_workers=2, max_waiting=0)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async def ask() -> None:
                assert (await client.post("/v1/ask", json={"question": "Who?"})).status_code == 200

            async with anyio.create_task_group() as group:
                for _ in range(2):
                    group.start_soon(ask)
                for _ in range(2):
                    await anyio.to_thread.run_sync(answerer.started.acquire)
                refused = await client.post("/v1/ask", json={"question": "Who?"})
                assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
                answerer.release.set()

    anyio.run(scenario)
