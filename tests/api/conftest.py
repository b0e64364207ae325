"""Real citeqa servers on loopback, started once per session with their own data folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-secret-for-tests"
API_TOKEN = "api-secret-for-tests"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def client(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, log_path: Path, **env: str) -> Server:
    port = free_port()
    environment = {**os.environ, "CITEQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **env}
    for key in ("CITEQA_ADMIN_TOKEN", "CITEQA_API_TOKEN"):
        if key not in env:
            environment.pop(key, None)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("citeqa")), "serve", "--port", str(port)],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return Server(url, process, data_dir)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server not ready: {log_path.read_text()[-2000:]}")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server")
    running = start_server(folder / "data", folder / "server.log", CITEQA_ADMIN_TOKEN=ADMIN_TOKEN)
    yield running
    stop(running)


@pytest.fixture(scope="session")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that requires CITEQA_API_TOKEN and has no admin token (writes disabled)."""
    folder = tmp_path_factory.mktemp("locked")
    running = start_server(folder / "data", folder / "server.log", CITEQA_API_TOKEN=API_TOKEN)
    yield running
    stop(running)
