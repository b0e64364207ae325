"""api/answering.py: how many questions the server works on at once, and answering while documents change."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from api.app import create_app
from api.errors import ApiError
from api.settings import Settings
from qa.pipeline import Answer


def test_answer_workers_are_sized_by_the_setting_and_refuse_past_the_queue(tmp_path: Path) -> None:
    # No lifespan and no models: only the workers' bookkeeping is under test.
    app = create_app(Settings.of(data_dir=tmp_path, answer_workers=3, max_waiting=0))
    workers = app.state.workers
    release = threading.Event()

    async def crowd() -> list[object]:
        async def one() -> object:
            try:
                return await workers.run(lambda: release.wait(5) and Answer("q", None, 0.0))
            except ApiError as error:
                return error.code

        async with anyio.create_task_group() as group:
            results: list[object] = []

            async def keep(coroutine: Callable[[], Awaitable[object]]) -> None:
                results.append(await coroutine())

            for _ in range(4):
                group.start_soon(keep, one)
            await anyio.sleep(0.5)
            release.set()
        return results

    results = anyio.run(crowd)
    assert results.count("overloaded") == 1 and sum(isinstance(r, Answer) for r in results) == 3
    assert workers.queue.in_flight == 0


def test_a_document_deleted_during_an_ask_is_not_cited_and_the_ask_succeeds(tmp_path: Path, index, reader) -> None:
    from fastapi.testclient import TestClient

    from api.services import Services, build_answerer
    from index.documents import make_document

    index.indexer.add(make_document("The Moon orbits the Earth every 27 days.", document_id="moon"))
    index.indexer.add(make_document("Mars has two small moons, Phobos and Deimos.", document_id="mars"))
    settings = Settings.of(data_dir=tmp_path)
    services = Services(settings, index, reader, build_answerer(settings, index, reader))
    store = index.store
    read_chunks = store.chunks
    deleted: list[str] = []

    def delete_then_read(chunk_ids, context_chars):  # type: ignore[no-untyped-def]
        if not deleted:  # the delete lands after the rankings were made, before the chunks are read
            first = read_chunks(chunk_ids, context_chars)[chunk_ids[0]].document_id
            deleted.append(first)
            store.delete(first)
        return read_chunks(chunk_ids, context_chars)

    store.chunks = delete_then_read  # type: ignore[method-assign]
    client = TestClient(create_app(settings, services=services))
    for route, body in (("/v1/ask", {"question": "How often does the Moon orbit the Earth?"}),
                        ("/v1/chat", {"messages": [{"role": "user", "content": "How many moons has Mars?"}]})):
        deleted.clear()
        response = client.post(route, json=body)
        assert response.status_code == 200, response.text
        assert deleted and all(c["document_id"] not in deleted for c in response.json()["citations"])

    index.indexer.add(make_document("The Moon orbits the Earth every 27 days.", document_id="moon"))
    deleted.clear()
    response = client.post("/v1/ask", json={"question": "How often does the Moon orbit the Earth?",
                                            "document_ids": ["moon"]})
    # A document asked for by id and deleted mid-ask is not found, not cited, and not an error: the only
    # document it may search is gone. (Deleted before the ask, it is a 404: the retriever checks the ids.)
    assert response.status_code == 200, response.text
    assert response.json()["answer"] is None and not response.json()["citations"]
    gone = client.post("/v1/ask", json={"question": "How often?", "document_ids": ["moon"]})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "unknown_document"


def test_chat_limits_are_read_from_the_settings(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.services import Services

    settings = Settings.of(data_dir=tmp_path, max_chat_messages=3, max_chat_chars=100, max_message_chars=40)
    # No models: every case is refused before any answering starts.
    app = create_app(settings, services=Services(settings, None, None, None))  # type: ignore[arg-type]
    client = TestClient(app)
    user = {"role": "user", "content": "Who?"}
    cases = [
        ([user, {"role": "assistant", "content": "A"}] * 2 + [user], "5 messages; the limit is 3"),
        ([{"role": "system", "content": "s"}] * 3 + [user], "4 messages; the limit is 3"),
        ([{"role": "user", "content": "x" * 60}, {"role": "assistant", "content": "y" * 39}, user],
         "103 characters; the limit is 100"),
        ([user, {"role": "assistant", "content": "y" * 41}, user],
         "messages.1.content has 41 characters; the limit is 40"),
    ]
    for messages, said in cases:
        for route in ("/v1/chat", "/v1/chat/completions"):
            if route == "/v1/chat" and messages[0]["role"] == "system":
                continue
            response = client.post(route, json={"messages": messages})
            assert response.status_code == 422, (route, response.text)
            assert said in response.json()["error"]["message"], (route, response.text)
