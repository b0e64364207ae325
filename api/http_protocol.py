"""uvicorn's h11 protocol with a deadline for each request's line and headers (against slowloris clients).

uvicorn times out idle keep-alive connections but not a request whose headers trickle in byte by byte:
200 such connections were held open for as long as their clients liked. Here a connection that has not
sent a whole request head within the deadline, from its start or from the end of the previous
response, is closed.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadlineProtocol(H11Protocol):
    """H11Protocol that closes a connection whose request head is not complete in `header_seconds`."""

    header_seconds = 10.0

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
