"""POST /v1/ask over HTTP: one client (median/p95/p99), 16 concurrent clients, cold start and peak RSS."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile, save  # noqa: E402

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


def one_client(url: str, count: int) -> dict[str, float]:
    timings = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for number in range(count):
            started = time.perf_counter()
            response = client.post("/v1/ask", json={"question": QUESTIONS[number % len(QUESTIONS)]})
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--asks", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        environment = {**os.environ, "CITEQA_DATA_DIR": folder, "HF_HUB_OFFLINE": "1"}
        started = time.perf_counter()
        server = subprocess.Popen([str(Path(sys.executable).with_name("citeqa")), "serve", "--port", str(port)],
                                  env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            cold_start = time.perf_counter() - started
            result = {"cold_start_seconds": round(cold_start, 2), "one_client": one_client(url, args.asks)}
            if args.clients:
                result["concurrent"] = concurrent(url, args.clients, args.seconds)
            result["peak_rss_mib"] = round(peak_rss_mib(server.pid), 1)
        finally:
            server.terminate()
            server.wait(timeout=30)
    save("http", result)


if __name__ == "__main__":
    main()
