"""Faults and load against a real `citeqa serve` (issue 18).

Over 300 lines on purpose: one benchmark script, its scenarios sharing one server harness and one report.

1. Crash cycles: a writer adds and replaces documents over HTTP and the server is SIGKILLed during a
   write, either while it embeds or inside its commit window (the derived indexes built and saved
   before COMMIT); then, server down: SQLite's integrity check; server up again: every acknowledged
   document (201) is there with the text acknowledged (or the killed write's, had it committed), the
   derived indexes match the committed version, and an ask over the documents is answered.
2. Mixed load: clients asking (JSON), chatting (SSE) and streaming OpenAI completions, slow clients
   (a trickled request head, an SSE stream read slowly), a writer deleting and re-adding a document the
   asks retrieve, and a /healthz prober. Every status but 200 and the deliberate 429/503 is an error.

`--cycles 2 --clients 4 --seconds 5` runs in about a minute; figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile, save  # noqa: E402
from http_latency import CITEQA, QUESTIONS, free_port  # noqa: E402

from index.derived import DerivedFolders  # noqa: E402

ADMIN = "faults-bench-admin"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
DELIBERATE = {429, 503}  # the rate limit and admission control refusing, with Retry-After
# What the churned document says, and questions only it answers: asks retrieve it while it is deleted.
CHURN_TEXT = ("The Fresno observatory was opened in 1931 by the astronomer Clara Wendt. "
              "Its main telescope has a mirror of 1.5 metres. Clara Wendt directed it until 1958.")
CHURN_QUESTIONS = ["Who opened the Fresno observatory?", "How large is the mirror of the Fresno telescope?"]


def rss_mib(pid: int, field: str = "VmRSS:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """`citeqa serve` on a free port over `data_dir`, with the admin token; SIGKILL or SIGTERM to stop."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "CITEQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
                       "CITEQA_ADMIN_TOKEN": ADMIN, **env}
        environment.pop("CITEQA_API_TOKEN", None)
        self.process = subprocess.Popen([CITEQA, "serve", "--port", str(self.port)], env=environment,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("citeqa serve exited before it was ready")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("citeqa serve was not ready in 300 s")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


# ----------------------------------------------------------------------------------- crash cycles
def document_text(document_id: str, version: int, sentences: int) -> str:
    return " ".join(f"Record {document_id} version {version} line {i} notes the figure {i * (version + 7)}."
                    for i in range(sentences))


EMBEDDING_DIMENSION = 384  # all-MiniLM-L6-v2, the default embedder the servers here run


def stored_version(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'store.sqlite3'}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    return int(row[0]) if row else 0


def stored_chunks(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'store.sqlite3'}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def integrity(data_dir: Path) -> str:
    with sqlite3.connect(f"file:{data_dir / 'store.sqlite3'}?mode=ro", uri=True) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


class WriteLockProbe:
    """Tells whether the server holds the store's write transaction: from BEGIN IMMEDIATE, after the
    embedding, through the derived indexes' rebuild and save, to COMMIT. That is the commit window.

    It asks by trying BEGIN IMMEDIATE itself without waiting (and rolling back at once when it gets it),
    so a server write starting in that instant waits a few milliseconds for it.
    """

    def __init__(self, data_dir: Path) -> None:
        # Used by the watcher thread and the main one in turn, never at once.
        self.connection = sqlite3.connect(data_dir / "store.sqlite3", timeout=0, isolation_level=None,
                                          check_same_thread=False)

    def locked(self) -> bool:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # "database is locked": a writer is inside its transaction
            return True
        self.connection.execute("ROLLBACK")
        return False

    def close(self) -> None:
        self.connection.close()


def timed_write(client: httpx.Client, probe: WriteLockProbe, body: dict[str, Any]) -> tuple[float, float, float]:
    """One acknowledged write: seconds from the request to its commit window opening, to it closing, to the 201."""
    seen: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if probe.locked():
                seen.append(time.perf_counter())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    started = time.perf_counter()
    watcher.start()
    response = client.post("/v1/documents", json=body)
    finished = time.perf_counter()
    done.set()
    watcher.join()
    response.raise_for_status()
    opened, closed = (seen[0], seen[-1]) if seen else (finished, finished)
    return opened - started, closed - started, finished - started


def crash_cycles(cycles: int, sentences: int, rng: random.Random) -> dict[str, Any]:
    acknowledged: dict[str, int] = {}  # document id -> text version the server acknowledged
    counts: Counter[str] = Counter()
    lost, corrupt, integrity_failures, restarts = 0, 0, 0, []
    window_opens: list[float] = []
    windows: list[float] = []
    write_times: list[float] = []
    next_id = 0
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        for cycle in range(cycles):
            started = time.perf_counter()
            server = Server(data_dir, CITEQA_INGEST_DEFAULT_CORPUS="false")
            restarts.append(time.perf_counter() - started)
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as client:
                if cycle > 0:  # the check after the previous kill, with the server up again
                    lost_now, corrupt_now = check_documents(client, data_dir, acknowledged, sentences)
                    lost += lost_now
                    corrupt += corrupt_now
                probe = WriteLockProbe(data_dir)
                for _ in range(2):  # acknowledged writes, timed: when the commit window opens and closes
                    document_id = f"doc-{next_id}"
                    next_id += 1
                    body = {"id": document_id, "text": document_text(document_id, 0, sentences)}
                    opened, closed, total = timed_write(client, probe, body)
                    acknowledged[document_id] = 0
                    window_opens.append(opened)
                    windows.append(closed - opened)
                    write_times.append(total)
                kind = "replace" if cycle % 2 else "ingest"
                phase = "commit" if (cycle // 2) % 2 else "embedding"
                if kind == "replace":
                    target = rng.choice(sorted(acknowledged))
                    version = acknowledged[target] + 1
                else:
                    target, version = f"doc-{next_id}", 0
                    next_id += 1
                body = {"id": target, "text": document_text(target, version, sentences)}
                result: dict[str, int] = {}

                def write(body: dict[str, Any] = body, result: dict[str, int] = result) -> None:
                    with contextlib.suppress(httpx.HTTPError):  # the kill: no answer
                        result["status"] = client.post("/v1/documents", json=body).status_code

                before = stored_version(data_dir)
                writer = threading.Thread(target=write)
                writer.start()
                if phase == "embedding":  # somewhere before the window opened last time
                    time.sleep(rng.uniform(0.05, 0.9) * window_opens[-1])
                else:  # wait for the window, then somewhere inside it (as long as it lasted last time)
                    while writer.is_alive() and not probe.locked():
                        time.sleep(0.001)
                    time.sleep(rng.uniform(0.0, 0.9) * windows[-1])
                in_window = probe.locked()  # looked at just before the kill
                server.kill()
                writer.join()
                probe.close()
            after = stored_version(data_dir)
            landed = ("acknowledged" if result.get("status") == 201 else "committed, not acknowledged"
                      if after > before else "in the commit window" if in_window else "while embedding")
            counts[f"{kind}: {landed}"] += 1
            if result.get("status") == 201 or after > before:
                acknowledged[target] = version  # committed: the new text is now the one to find
            check = integrity(data_dir)
            integrity_failures += check != "ok"
        server = Server(data_dir, CITEQA_INGEST_DEFAULT_CORPUS="false")  # the last kill's check
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as client:
            lost_now, corrupt_now = check_documents(client, data_dir, acknowledged, sentences)
            lost += lost_now
            corrupt += corrupt_now
        server.stop()
    return {"cycles": cycles, "sentences_per_document": sentences, "kills": dict(sorted(counts.items())),
            "acknowledged_documents": len(acknowledged), "lost": lost, "corrupt": corrupt,
            "integrity_check_failures": integrity_failures,
            "write_median_ms": round(1000 * statistics.median(write_times), 1),
            "commit_window_opens_median_ms": round(1000 * statistics.median(window_opens), 1),
            "commit_window_median_ms": round(1000 * statistics.median(windows), 1),
            "restart_to_ready_median_s": round(statistics.median(restarts), 2)}


def check_documents(client: httpx.Client, data_dir: Path, acknowledged: dict[str, int],
                    sentences: int) -> tuple[int, int]:
    """(lost, corrupt) among acknowledged documents, with the server up; also that search works."""
    lost = corrupt = 0
    for document_id, version in acknowledged.items():
        response = client.get(f"/v1/documents/{document_id}")
        if response.status_code == 404:
            lost += 1
        elif response.json()["text"] != document_text(document_id, version, sentences):
            corrupt += 1
    version = stored_version(data_dir)
    derived = DerivedFolders(data_dir / "indexes").load(version, EMBEDDING_DIMENSION)
    if derived is None or len(derived) != stored_chunks(data_dir):
        corrupt += 1  # the derived indexes on disk do not load as the committed version after a start
    if acknowledged:  # retrieval over the reopened indexes, limited to one acknowledged document
        ask = client.post("/v1/ask", json={"question": "Which figure does line 3 note?",
                                           "document_ids": [sorted(acknowledged)[0]]})
        corrupt += ask.status_code != 200
    return lost, corrupt


# -------------------------------------------------------------------------------------- mixed load
class Tally:
    """Statuses and latencies per kind of request, from many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[str, Counter[str]] = {}
        self.latencies: dict[str, list[float]] = {}
        self.examples: list[str] = []

    def add(self, kind: str, status: str, seconds: float | None = None, detail: str = "") -> None:
        with self.lock:
            self.statuses.setdefault(kind, Counter())[status] += 1
            if seconds is not None:
                self.latencies.setdefault(kind, []).append(1000 * seconds)
            if detail and len(self.examples) < 10:
                self.examples.append(f"{kind} {status}: {detail[:200]}")

    def errors(self, kinds: set[str]) -> int:
        return sum(count for kind, counter in self.statuses.items() if kind in kinds
                   for status, count in counter.items() if status != "200" and int_or_none(status) not in DELIBERATE)


def int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def ask(client: httpx.Client, question: str) -> tuple[str, str]:
    response = client.post("/v1/ask", json={"question": question})
    return str(response.status_code), "" if response.status_code == 200 else response.text


def _streamed(client: httpx.Client, path: str, body: dict[str, object], prefix: str, done: str,
              pause: float = 0.0) -> tuple[str, str]:
    """POST a streaming request and read it to the end (`pause` seconds after each line): "200" when the
    last line starting with `prefix` is `done`, else the status, or "incomplete" with the last lines."""
    with client.stream("POST", path, json=body) as response:
        if response.status_code != 200:
            response.read()
            return str(response.status_code), response.text
        lines = []
        for line in response.iter_lines():
            if line.startswith(prefix):
                lines.append(line)
            time.sleep(pause)
        return ("200", "") if lines and lines[-1].strip() == done else ("incomplete", str(lines[-3:]))


def sse_chat(client: httpx.Client, question: str) -> tuple[str, str]:
    body = {"messages": [{"role": "user", "content": "Who is Yevgeny Prigozhin?"},
                         {"role": "assistant", "content": "The head of the Wagner group."},
                         {"role": "user", "content": question}], "stream": True}
    return _streamed(client, "/v1/chat", body, "event:", "event: answer")


def openai_stream(client: httpx.Client, question: str, pause: float = 0.0) -> tuple[str, str]:
    body = {"model": "citeqa", "stream": True, "messages": [{"role": "user", "content": question}]}
    return _streamed(client, "/v1/chat/completions", body, "data:", "data: [DONE]", pause)


def slow_reader(client: httpx.Client, question: str) -> tuple[str, str]:
    """An OpenAI stream read one line at a time with pauses: the server must not wait on it."""
    return openai_stream(client, question, pause=0.05)


def trickler(url: str, deadline: float, tally: Tally) -> None:
    """A request head sent a byte at a time, never finished: the server closes it (header deadline)."""
    host, port = url.removeprefix("http://").split(":")
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        with socket.create_connection((host, int(port))) as sock:
            sock.setblocking(False)
            closed = False
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000:
                if time.perf_counter() >= deadline:
                    break
                try:
                    sock.send(bytes([byte]))
                    if sock.recv(1) == b"":  # the server closed the connection
                        closed = True
                        break
                except BlockingIOError:  # nothing to read: still open
                    pass
                except OSError:  # reset
                    closed = True
                    break
                time.sleep(0.2)
            tally.add("trickled head", "closed by server" if closed else "still open at the end",
                      time.perf_counter() - started)


def mixed_load(clients: int, seconds: float, slow_clients: int) -> dict[str, Any]:
    tally = Tally()
    health: list[float] = []
    churn = Counter[str]()
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder) / "data")
        pid = server.process.pid
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as admin:
            assert admin.post("/v1/documents", json={"id": "churn", "text": CHURN_TEXT}).status_code == 201
            for question in QUESTIONS + CHURN_QUESTIONS:  # warm every path once before RSS is read
                admin.post("/v1/ask", json={"question": question})
        rss_start = rss_mib(pid)
        deadline = time.perf_counter() + seconds
        kinds = [("ask", ask), ("sse chat", sse_chat), ("openai stream", openai_stream)]
        questions = QUESTIONS + CHURN_QUESTIONS

        def asking_loop(kind: str, call: Any, rng: random.Random) -> None:
            """Ask with `call` until the deadline, tallying each request under `kind`."""
            with httpx.Client(base_url=server.url, timeout=120) as client:
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        status, detail = call(client, rng.choice(questions))
                    except httpx.HTTPError as error:
                        status, detail = type(error).__name__, str(error)
                    tally.add(kind, status, time.perf_counter() - started, detail)

        def churn_loop() -> None:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as admin:
                while time.perf_counter() < deadline:
                    deleted = admin.delete("/v1/documents/churn").status_code
                    churn[f"delete {deleted}"] += 1
                    time.sleep(0.2)
                    added = admin.post("/v1/documents", json={"id": "churn", "text": CHURN_TEXT}).status_code
                    churn[f"add {added}"] += 1
                    time.sleep(0.2)

        def health_loop() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        ok = client.get("/healthz").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    health.append(1000 * (time.perf_counter() - started))
                    if not ok:
                        tally.add("healthz", "failed")
                    time.sleep(0.1)

        samples: list[tuple[float, float]] = []

        def memory_loop() -> None:  # the server's RSS over the run: a plateau and a leak look different here
            begun = time.perf_counter()
            while time.perf_counter() < deadline:
                samples.append((round(time.perf_counter() - begun, 1), round(rss_mib(pid), 1)))
                time.sleep(5.0)

        threads = [threading.Thread(target=asking_loop, args=(*kinds[n % len(kinds)], random.Random(n)))
                   for n in range(clients)]
        threads += [threading.Thread(target=asking_loop, args=("slow reader", slow_reader, random.Random()))
                    for _ in range(slow_clients)]
        threads += [threading.Thread(target=trickler, args=(server.url, deadline, tally)) for _ in range(slow_clients)]
        threads += [threading.Thread(target=churn_loop), threading.Thread(target=health_loop),
                    threading.Thread(target=memory_loop)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        rss_end, peak = rss_mib(pid), rss_mib(pid, "VmHWM:")
        server.stop()
    answering = {"ask", "sse chat", "openai stream", "slow reader"}
    per_kind = {kind: {"statuses": dict(counter), **({"median_ms": round(statistics.median(tally.latencies[kind]), 1),
                                                     "p95_ms": round(percentile(tally.latencies[kind], 0.95), 1)}
                                                    if tally.latencies.get(kind) else {})}
                for kind, counter in sorted(tally.statuses.items())}
    health_failures = tally.statuses.get("healthz", Counter())["failed"]
    return {"clients": clients, "slow_readers": slow_clients, "tricklers": slow_clients, "seconds": round(elapsed, 1),
            "requests": per_kind, "errors": tally.errors(answering) + health_failures,
            "deliberate_refusals": sum(c for k, counter in tally.statuses.items() if k in answering
                                       for s, c in counter.items() if int_or_none(s) in DELIBERATE),
            "churn": dict(churn), "healthz": {"probes": len(health),
                                              "median_ms": round(statistics.median(health), 1),
                                              "p99_ms": round(percentile(health, 0.99), 1),
                                              "max_ms": round(max(health), 1)},
            "rss_mib": {"start": round(rss_start, 1), "end": round(rss_end, 1), "peak": round(peak, 1),
                        "samples": samples},
            "error_examples": tally.examples}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=20, help="SIGKILLs mid-write (0: none)")
    parser.add_argument("--sentences", type=int, default=120, help="sentences in each written document")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--slow-clients", type=int, default=4, help="slow readers, and as many trickled heads")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--name", default="faults", help="result file name in bench/results")
    args = parser.parse_args()
    result: dict[str, Any] = {"note": "the machine was shared with other work while measured"}
    if args.cycles:
        result["crash"] = crash_cycles(args.cycles, args.sentences, random.Random(args.seed))
        print(json.dumps(result["crash"], indent=2), flush=True)
    if args.clients:
        result["load"] = mixed_load(args.clients, args.seconds, args.slow_clients)
    save(args.name, result)


if __name__ == "__main__":
    main()
