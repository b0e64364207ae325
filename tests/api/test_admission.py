"""Admission control: a full answering queue refuses with 503 instead of queueing forever."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from api.app import create_app
from api.http_protocol import uvicorn_options
from api.schemas import ErrorBody
from api.services import Services
from api.settings import Settings
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
    config = Settings.of(data_dir=tmp_path, **settings)
    services = Services(config, None, None, answerer)  # type: ignore[arg-type]
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
                while app.state.workers.queue.in_flight < 3:
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
            assert app.state.workers.queue.in_flight == 0
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


class InstantAnswerer:
    def run(self, question: str, document_ids: Any = None, top_k: Any = None) -> Answer:
        return Answer(question, None, 0.1)


def instant_app(tmp_path: Path, **settings: Any) -> Any:
    config = Settings.of(data_dir=tmp_path, **settings)
    return create_app(config, services=Services(config, None, None, InstantAnswerer()))  # type: ignore[arg-type]


def test_no_rate_limit_by_default(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(instant_app(tmp_path))
    assert all(client.post("/v1/ask", json={"question": "Who?"}).status_code == 200 for _ in range(100))


def test_each_client_is_rate_limited_by_its_token_or_else_its_address(tmp_path: Path) -> None:
    app = instant_app(tmp_path, rate_limit_per_minute=2, api_token="api", admin_token="admin")
    now = [1000.0]
    app.state.rate_limiter.clock = lambda: now[0]

    def client(host: str, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 1234)),
                                 base_url="http://test", headers=headers)

    async def scenario() -> None:
        async def ask(of: httpx.AsyncClient) -> httpx.Response:
            return await of.post("/v1/ask", json={"question": "Who?"})

        tokened_a, tokened_b = client("10.0.0.1", "api"), client("10.0.0.2", "api")
        assert [(await ask(tokened_a)).status_code for _ in range(2)] == [200, 200]
        limited = await ask(tokened_b)  # the same token from another address spends the same budget
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["code"] == "rate_limited"
        assert limited.headers["Retry-After"] == "30"  # 2 a minute: the next one in 30 s
        assert limited.headers["X-Content-Type-Options"] == "nosniff"

        # Without a configured token a client is its address: made-up tokens do not buy a new budget.
        for made_up in ("x1", "x2"):
            assert (await ask(client("10.0.0.3", made_up))).status_code == 401
        assert (await ask(client("10.0.0.3", "x3"))).status_code == 429
        assert (await ask(client("10.0.0.4"))).status_code == 401  # another address: refused for its token only

        admin = client("10.0.0.3", "admin")
        assert [(await ask(admin)).status_code for _ in range(5)] == [200] * 5  # the operator is not limited
        assert (await client("10.0.0.3").get("/healthz")).status_code == 200  # probes are not limited

        now[0] += 30  # one request's worth refilled
        assert (await ask(tokened_b)).status_code == 200
        assert (await ask(tokened_b)).status_code == 429

    anyio.run(scenario)


def test_the_rate_limiter_forgets_the_least_recent_client_first() -> None:
    from api.admission import RateLimiter

    limiter = RateLimiter(1, max_clients=2, clock=lambda: 0.0)
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")
    assert list(limiter.buckets) == ["b", "c"]


@pytest.mark.slow
def test_past_the_servers_connection_cap_the_refusal_is_the_apis_json_503(tmp_path: Path) -> None:
    """uvicorn's own refusal past limit_concurrency would be a plain-text 503 without Retry-After."""
    config = Settings.of(data_dir=tmp_path, limit_concurrency=3)
    with real_server(instant_app(tmp_path, limit_concurrency=3), config) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))):  # one idle connection: 2 of 3 with the request
            assert httpx.post(f"{url}/v1/ask", json={"question": "Who?"}).status_code == 200
            with socket.create_connection((host, int(port))):  # two idle: the request's is the third
                time.sleep(0.2)  # let the server accept both
                refused = httpx.post(f"{url}/v1/ask", json={"question": "Who?"})
                assert refused.status_code == 503, refused.text
                assert refused.headers["content-type"] == "application/json"
                assert ErrorBody.model_validate(refused.json()).error.code == "overloaded"
                assert int(refused.headers["Retry-After"]) >= 1
                assert httpx.get(f"{url}/healthz").status_code == 503  # a cap on connections spares none
        time.sleep(0.2)
        assert httpx.get(f"{url}/healthz").status_code == 200


@contextmanager
def real_server(app: Any, settings: Settings) -> Iterator[str]:
    """`app` behind uvicorn on loopback, with the options `citeqa serve` gives it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **uvicorn_options(settings.server)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_while_the_models_load_a_question_is_refused_with_retry_after(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(Settings.of(data_dir=tmp_path)))  # no services: still loading
    refused = client.post("/v1/ask", json={"question": "Who?"})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"
    assert int(refused.headers["Retry-After"]) >= 1
