"""Chat follow-ups and streaming, on /v1/chat and the OpenAI-compatible endpoint (official client).

Streaming is tested on a real server, with the official client over real HTTP; the rest in-process.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

ADMIN_TOKEN = "admin-secret-for-tests"


def sse_events(response: httpx.Response) -> list[tuple[str, str]]:
    events, name, data = [], "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            events.append((name, "\n".join(data)))
            name, data = "message", []
    if data:
        events.append((name, "\n".join(data)))
    return events


def test_follow_up_uses_the_previous_answer(client) -> None:
    first = client.post("/v1/chat", json={"messages": [
        {"role": "user", "content": "Who is the head of the Wagner group?"}]}).json()
    assert "Prigozhin" in first["answer"]
    second = client.post("/v1/chat", json={"messages": [
        {"role": "user", "content": "Who is the head of the Wagner group?"},
        first["message"],
        {"role": "user", "content": "What did he say the Ministry of Defence was discussing?"},
    ]}).json()
    assert "Prigozhin" in second["question"]
    assert second["answer"] is not None
    assert "Prigozhin" in second["citations"][0]["passage"]["text"]
    assert second["message"]["content"].startswith(second["answer"])


@pytest.mark.parametrize(("opening", "follow_up", "named", "expected"), [
    ("Who is Hanna Malyar?", "Where did she make her claim?", "Hanna Malyar", "Telegram"),
    ("Who said the troops were fleeing?", "Which group does he lead?", "Prigozhin", "Wagner"),
])
def test_a_pronoun_follow_up_about_the_person_asked_about_finds_what_they_said(
        client, opening: str, follow_up: str, named: str, expected: str) -> None:
    first = client.post("/v1/chat", json={"messages": [{"role": "user", "content": opening}]}).json()
    assert first["answer"] is not None
    second = client.post("/v1/chat", json={"messages": [
        {"role": "user", "content": opening}, first["message"], {"role": "user", "content": follow_up}]}).json()
    assert named in second["question"] and second["question"].count(named) == 1
    # Whether the span is sure enough to give is the verifier's call (for the Malyar question even the
    # reader's own margin is 0.05, borderline either way); an abstention must still cite where it is said.
    said = second["answer"] if second["answer"] is not None else second["citations"][0]["passage"]["text"]
    assert expected in said, second


def test_self_contained_question_is_left_alone(client) -> None:
    body = client.post("/v1/chat", json={"messages": [
        {"role": "user", "content": "Who is the head of the Wagner group?"},
        {"role": "assistant", "content": "Yevgeny Prigozhin"},
        {"role": "user", "content": "Who is the Deputy Defence Minister?"}]}).json()
    assert body["question"] == "Who is the Deputy Defence Minister?"


@pytest.mark.slow
def test_chat_streams_deltas_then_the_answer(server) -> None:
    request = {"messages": [{"role": "user", "content": "who said the troops were fleeing?"}], "stream": True}
    with server.client() as client, client.stream("POST", "/v1/chat", json=request) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and names.count("delta") >= 2
    text = "".join(json.loads(data)["content"] for name, data in events if name == "delta")
    final = json.loads(events[-1][1])
    assert "Prigozhin" in final["answer"] and text.startswith(final["answer"])
    assert final["citations"][0]["text"] == final["answer"]


@pytest.mark.slow
def test_openai_client_plain_and_streamed(server) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN_TOKEN)
    completion = client.chat.completions.create(
        model="citeqa", messages=[{"role": "system", "content": "Answer from the documents."},
                                  {"role": "user", "content": "who said the troops were fleeing?"}])
    content = completion.choices[0].message.content or ""
    assert "Prigozhin" in content and "fleeing" in content
    citations = completion.model_extra["citations"]
    assert citations[0]["text"] in content and "Prigozhin" in citations[0]["text"]

    stream = client.chat.completions.create(
        model="citeqa", stream=True, messages=[{"role": "user", "content": "who said the troops were fleeing?"}])
    pieces, final = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason == "stop":
            final = chunk
    assert "Prigozhin" in "".join(pieces)
    assert final is not None and final.model_extra["citations"][0]["text"] in "".join(pieces)


def test_openai_follow_up(in_process) -> None:
    http_client = in_process.client(token=None)  # its own: the OpenAI client sends the key and may close it
    openai_client = openai.OpenAI(base_url="http://testserver/v1", api_key=ADMIN_TOKEN, http_client=http_client)
    first = openai_client.chat.completions.create(model="citeqa", messages=[
        {"role": "user", "content": "Who is the head of the Wagner group?"}])
    second = openai_client.chat.completions.create(model="citeqa", messages=[
        {"role": "user", "content": "Who is the head of the Wagner group?"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "What did he say the Ministry of Defence was discussing?"}])
    assert "Prigozhin" in second.model_extra["question"]


@pytest.mark.embedded_only  # the rewrite's and the event loop's timing, whatever the store
def test_a_hostile_chat_neither_blocks_the_server_nor_takes_long(in_process) -> None:
    import threading
    import time

    # Earlier turns of "and a<spaces>b" used to be rewritten on the event loop, each in seconds.
    hostile = "and a" + " " * 990 + "b"
    messages = [{"role": role, "content": hostile if role == "user" else "The documents do not answer this."}
                for _ in range(8) for role in ("user", "assistant")]
    messages.append({"role": "user", "content": "Who is the head of the Wagner group?"})
    timings: dict[str, float] = {}

    def chat() -> None:
        started = time.perf_counter()
        response = in_process.client().post("/v1/chat", json={"messages": messages})
        assert response.status_code == 200, response.text
        timings["chat"] = time.perf_counter() - started

    worker = threading.Thread(target=chat)
    worker.start()
    time.sleep(0.3)
    started = time.perf_counter()
    assert in_process.client(token=None).get("/healthz").status_code == 200  # on the app's one event loop
    health = time.perf_counter() - started
    worker.join()
    assert health < 2.0 and timings["chat"] < 20.0


@pytest.mark.embedded_only  # a limit on the question as sent
def test_the_question_as_sent_is_held_to_the_limit_not_its_rewrite(client) -> None:
    follow_up = "What did he say about the Ministry of Defence?"
    follow_up += " " + "x" * (1000 - len(follow_up) - 1)
    assert len(follow_up) == 1000
    response = client.post("/v1/chat", json={"messages": [
        {"role": "user", "content": "Who is the head of the Wagner group?"},
        {"role": "assistant", "content": "Yevgeny Prigozhin"},
        {"role": "user", "content": follow_up}]})
    assert response.status_code == 200, response.text
    assert "Prigozhin" in response.json()["question"]


@pytest.mark.embedded_only  # refused before any work
def test_whole_chat_limits_are_checked_before_any_work(client) -> None:
    user = {"role": "user", "content": "Who is Yevgeny Prigozhin?"}
    reply = {"role": "assistant", "content": "Yevgeny Prigozhin"}
    cases = [
        ([user, reply] * 150 + [user], "messages"),  # too many turns
        ([{"role": "user", "content": "why " * 300}, reply, user], "question_too_long"),  # an earlier question
        ([user, {"role": "assistant", "content": "x" * 20_001}, user], "content"),  # one reply
        ([user, {"role": "assistant", "content": "x" * 19_000}] * 11 + [user], "chat_too_long"),  # in all
    ]
    for messages, named in cases:
        for route, extra in (("/v1/chat", {}), ("/v1/chat/completions", {"model": "citeqa"})):
            response = client.post(route, json={"messages": messages, **extra})
            assert response.status_code == 422, (route, named, response.text)
            error = response.json()["error"]
            assert named in error["code"] + error["message"], (route, error)
