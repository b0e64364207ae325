"""uvicorn's h11 protocol, hardened: a deadline for each request head, and the API's own 503 past the cap.

uvicorn times out idle keep-alive connections but not a request whose headers trickle in byte by byte:
200 such connections were held open for as long as their clients liked. Here a connection that has not
sent a whole request head within the deadline, from its start or from the end of the previous
response, is closed.

Past `limit_concurrency` (connections open, or requests in progress) uvicorn answers a plain-text
"Service Unavailable" with no Retry-After, which no client of this API can tell from a proxy's page.
This protocol takes that cap over and refuses with the API's JSON error body and a Retry-After instead.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from api.settings import ServerSettings

# Connections over the cap are mostly idle or slow ones, which the keep-alive timeout (5 s) and the
# header deadline close: by then there is room again.
OVER_CAPACITY_RETRY_SECONDS = 5


def over_capacity_body(limit: int) -> bytes:
    message = (f"the server is at its limit of {limit:,} connections and requests in progress at once; "
               "try again later")
    return json.dumps({"error": {"code": "overloaded", "message": message}}).encode()


class HeaderDeadlineProtocol(H11Protocol):
    """H11Protocol that closes a connection whose request head is not complete in `header_seconds`,
    and answers requests past uvicorn's `limit_concurrency` with a JSON 503 and Retry-After."""

    header_seconds = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn checks its cap before it hands a request to self.app; with the cap moved here, its
        # plain-text answer is never chosen and the guard below (around every app call) refuses instead.
        self.concurrency_cap: int | None = self.limit_concurrency
        self.limit_concurrency = None
        if self.concurrency_cap is not None:
            self.app = self._capped(self.app, self.concurrency_cap)  # type: ignore[assignment]

    def _capped(self, app: Any, cap: int) -> Any:
        body = over_capacity_body(cap)

        async def capped(scope: Any, receive: Any, send: Any) -> None:
            # uvicorn's own test, made before this request's task was counted; here it is already in
            # self.tasks, hence > for tasks (the connection itself was counted in both places).
            if scope["type"] == "http" and (len(self.connections) >= cap or len(self.tasks) > cap):
                self.logger.warning("Exceeded concurrency limit.")
                await send({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(OVER_CAPACITY_RETRY_SECONDS).encode()),
                    (b"x-content-type-options", b"nosniff"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await app(scope, receive, send)

        return capped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request head is in: the app's time now
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        # Still armed: no whole request head came since the connection opened or the last response ended
        # (h11 may still say DONE for that request until the next one starts).
        self._deadline = None
        answering = self.cycle is not None and not self.cycle.response_complete
        if self.conn.their_state in (h11.IDLE, h11.DONE) and not answering and not self.transport.is_closing():
            self.transport.close()


def with_header_deadline(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to hand `uvicorn.run(http=...)`, with this deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_seconds": seconds})


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """What `citeqa serve` hands uvicorn besides the app, host and port (tests start servers with the same)."""
    # limit_concurrency caps open connections and requests in progress together (0: no cap); the graceful
    # timeout lets answers in progress finish on shutdown, then cancels them.
    return {"limit_concurrency": server.limit_concurrency or None,
            "timeout_graceful_shutdown": server.graceful_shutdown_seconds,
            "http": with_header_deadline(server.header_timeout_seconds)}
