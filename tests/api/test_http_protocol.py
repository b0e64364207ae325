"""api/http_protocol.py: a real uvicorn server cuts off a client whose request head trickles in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from api.http_protocol import with_header_deadline


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def hello(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    # The protocol is what is under test, so the app behind it only answers.
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain"),
                                                                      (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def port() -> Iterator[int]:
    chosen = free_port()
    config = uvicorn.Config(hello, host="127.0.0.1", port=chosen, http=with_header_deadline(0.5),
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield chosen
    server.should_exit = True
    thread.join(timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False


def test_a_trickled_request_head_is_cut_off_and_a_prompt_one_answered(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        time.sleep(0.3)
        slow.sendall(b"X-Trickle: 1\r\n")  # bytes keep coming, the deadline stands
        assert _closed_within(slow, 3.0)
    with socket.create_connection(("127.0.0.1", port)) as idle:
        assert _closed_within(idle, 3.0)  # connected, never sent a byte
    with socket.create_connection(("127.0.0.1", port)) as prompt:
        prompt.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        prompt.settimeout(3.0)
        received = b""
        while not received.endswith(b"\r\n\r\nok"):  # the head and the body may come in two reads
            piece = prompt.recv(1024)
            assert piece, received
            received += piece
        assert received.startswith(b"HTTP/1.1 200")
        # The next request on a kept-alive connection has its own deadline, from the end of this response.
        assert _closed_within(prompt, 3.0)
