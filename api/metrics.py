"""Prometheus metrics: requests and latency by route, answer latency, abstentions, store size."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """A registry per app, so several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("citeqa_http_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("citeqa_http_request_seconds", "HTTP latency", ["route", "method"],
                                 registry=self.registry)
        self.answer_latency = Histogram("citeqa_answer_seconds", "Time to answer one question",
                                        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                        registry=self.registry)
        self.answers = Counter("citeqa_answers_total", "Questions answered", registry=self.registry)
        self.abstentions = Counter("citeqa_abstentions_total", "Questions the documents did not answer",
                                   registry=self.registry)
        self.documents = Gauge("citeqa_documents", "Documents in the index", registry=self.registry)
        self.chunks = Gauge("citeqa_chunks", "Chunks in the index", registry=self.registry)

    def observe_answer(self, seconds: float, answered: bool) -> None:
        self.answer_latency.observe(seconds)
        (self.answers if answered else self.abstentions).inc()

    def render(self, documents: int, chunks: int) -> Response:
        self.documents.set(documents)
        self.chunks.set(chunks)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path, request.method).observe(time.perf_counter() - started)
        return response
