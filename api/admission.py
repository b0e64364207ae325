"""Admission control: a bounded answering queue (503 when full) and an optional per-client rate limit (429)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from api.errors import ApiError

# What one answer is assumed to take before any has been timed (the median over HTTP is ~0.12 s; a
# full seven-passage read ~0.5 s): only used to size Retry-After.
FIRST_ANSWER_SECONDS = 0.5


class AnswerQueue:
    """Counts questions being answered or waiting for a worker; refuses one more when the wait is full.

    Runs on the event loop only, so the counter needs no lock. A question is counted from its admission
    until its worker thread returns (an abandoned request still holds its thread until then), so the
    count is what the workers really have ahead of them.
    """

    def __init__(self, workers: int, max_waiting: int) -> None:
        self.workers = workers
        self.max_waiting = max_waiting
        self.in_flight = 0
        self.mean_seconds = FIRST_ANSWER_SECONDS

    @property
    def waiting(self) -> int:
        return max(0, self.in_flight - self.workers)

    def admit(self) -> None:
        """Count one more question, or raise 503 `overloaded` when max_waiting already wait."""
        if self.in_flight >= self.workers + self.max_waiting:
            raise ApiError(503, "overloaded", f"{self.waiting:,} questions are already waiting for an answer; "
                                              "ask again later", headers={"Retry-After": str(self.retry_after())})
        self.in_flight += 1

    def release(self, seconds: float | None) -> None:
        """One question is done; `seconds` is what its worker took (None when it failed)."""
        self.in_flight -= 1
        if seconds is not None:  # a moving average of the work alone, not the wait, to size Retry-After
            self.mean_seconds += 0.1 * (seconds - self.mean_seconds)

    def retry_after(self) -> int:
        """Whole seconds until the workers have likely answered everyone now queued (at least 1)."""
        return max(1, math.ceil((self.waiting + 1) * self.mean_seconds / self.workers))


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, in bursts of up to `per_minute`.

    Runs on the event loop only (no lock). At most `max_clients` buckets are kept, least recently used
    first out: a forgotten client starts again with a full bucket, which only matters to someone
    spreading requests over more addresses than that, who could as well use those addresses directly.
    """

    def __init__(self, per_minute: int, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.max_clients = max_clients
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)

    def take(self, key: str) -> None:
        """Spend one request of `key`'s budget, or raise 429 `rate_limited` with Retry-After."""
        now = self.clock()
        tokens, last = self.buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            wait = math.ceil((1 - tokens) / self.per_second)
            raise ApiError(429, "rate_limited", f"over {self.capacity:,.0f} requests a minute from this client; "
                                                f"try again in {wait} s", headers={"Retry-After": str(wait)})
        self.buckets[key] = (tokens - 1, now)  # re-inserted last: the most recently used
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
