"""POST /v1/ask over HTTP: one client (median/p95/p99), 16 concurrent clients, cold start and peak RSS;
and ingest over HTTP (POST /v1/documents, chunks/s end to end) of a SQuAD file's articles."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SQUAD_V1, percentile, save  # noqa: E402

from lab.end_to_end import load_articles  # noqa: E402

CITEQA = str(Path(sys.executable).with_name("citeqa"))
# Writes over HTTP need the admin token; the bench's servers get this one.
ADMIN_TOKEN = "bench-admin-token"

QUESTIONS = ["who said the troops were fleeing?", "Who is Yevgeny Prigozhin?",
             "When did Zelensky say it was too early to launch the attack?",
             "What was seen rising from Luhansk in images shared on social media?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_client(url: str, count: int, questions: list[str]) -> dict[str, float]:
    timings = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for number in range(count):
            started = time.perf_counter()
            response = client.post("/v1/ask", json={"question": questions[number % len(questions)]})
            timings.append(1000 * (time.perf_counter() - started))
            response.raise_for_status()
    return {"asks": count, "median_ms": round(statistics.median(timings), 1),
            "p95_ms": round(percentile(timings, 0.95), 1), "p99_ms": round(percentile(timings, 0.99), 1)}


def concurrent(url: str, clients: int, seconds: float) -> dict[str, float]:
    timings: list[float] = []
    failures = [0]
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def worker(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            number = offset
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    ok = client.post("/v1/ask", json={"question": QUESTIONS[number % len(QUESTIONS)]}).is_success
                except httpx.HTTPError:
                    ok = False
                with lock:
                    timings.append(1000 * (time.perf_counter() - started))
                    failures[0] += 0 if ok else 1
                number += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"clients": clients, "seconds": round(elapsed, 1), "answers": len(timings),
            "answers_per_second": round(len(timings) / elapsed, 2), "errors": failures[0],
            "median_ms": round(statistics.median(timings), 1), "p95_ms": round(percentile(timings, 0.95), 1)}


@contextlib.contextmanager
def server(data_dir: str) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """A real `citeqa serve` on a free port: (url, process, seconds from start to /readyz 200)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "CITEQA_DATA_DIR": data_dir, "HF_HUB_OFFLINE": "1",
                   "CITEQA_ADMIN_TOKEN": ADMIN_TOKEN}
    started = time.perf_counter()
    process = subprocess.Popen([CITEQA, "serve", "--port", str(port)],
                               env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("citeqa serve exited before it was ready")
            time.sleep(0.05)
        yield url, process, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)


def ingest_over_http(url: str, squad_file: Path, max_articles: int) -> tuple[dict[str, float], list[str]]:
    """POST the articles of a SQuAD file (all, or the first N) to a running server, one document a request,
    as a user adds documents: end-to-end ingest (HTTP, chunking, embedding, store write) in chunks/s; and
    every n-th question, for asking the store afterwards."""
    documents, questions = load_articles(squad_file, max_articles or None)
    chunks, started = 0, time.perf_counter()
    with httpx.Client(base_url=url, timeout=600, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        for document_id, title, text in documents:
            response = client.post("/v1/documents", json={"id": document_id, "title": title, "text": text})
            response.raise_for_status()
            chunks += int(response.json()["chunks"])
    seconds = time.perf_counter() - started
    step = max(1, len(questions) // 200)
    return ({"articles": len(documents), "chunks": chunks, "ingest_seconds": round(seconds, 2),
             "ingest_chunks_per_second": round(chunks / seconds, 1)}, [q.question for q in questions[::step]])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--asks", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--articles", type=Path, default=SQUAD_V1, help="SQuAD file for the many-article store")
    parser.add_argument("--max-articles", type=int, default=0, help="store only the first N articles (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, server(folder) as (url, process, cold_start):
        result: dict[str, object] = {"cold_start_seconds": round(cold_start, 2),
                                     "one_client": one_client(url, args.asks, QUESTIONS)}
        if args.clients:
            result["concurrent"] = concurrent(url, args.clients, args.seconds)
        result["peak_rss_mib"] = round(peak_rss_mib(process.pid), 1)
    with tempfile.TemporaryDirectory() as folder, server(folder) as (url, process, _):
        ingest, questions = ingest_over_http(url, args.articles, args.max_articles)
        result["articles_store"] = {**ingest, **one_client(url, args.asks, questions),
                                    "peak_rss_mib": round(peak_rss_mib(process.pid), 1)}
    save("http", result)


if __name__ == "__main__":
    main()
