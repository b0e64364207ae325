"""The API under test, two ways, each built once per session (and per store backend) with its own store.

In-process (most tests): `create_app` over real services (the session's embedder and reader, a real store)
behind a `TestClient`, through fixtures `in_process`, `locked_in_process` and `client`.
A real `citeqa serve` on loopback (`server`): only for what needs a socket, such as streaming, the
browser page, and uvicorn's own handling of bodies and connections.

Both backends: `api_backend` is the one parametrised fixture. `in_process`, `client`, `server`, the CLI's
`run` and, through `backend`, `index`/`make_index` follow it, so every test that uses them runs on the
embedded store and on the server backend (PostgreSQL + Milvus Lite, started once per session by
`servers`; each app, server or test store gets its own database and collection). Tests marked
`embedded_only` run on the embedded store alone: those that touch no stored document or ranking (input
checked before any store access, body and chat limits, tokens checked before the body, the OpenAPI
document), those whose subject is the page or the HTTP layer (the browser, generated requests, bodies
over the limit), the event-loop timing checks, a store written before input was checked (only SQLite
stores are that old) and the CLI's evaluation commands (their scratch stores are embedded). Tests using
none of these fixtures (fake answerers, settings) need no store. `locked_in_process` and `locked_server`
(tokens only) are embedded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services, build_answerer, open_index
from api.settings import Settings
from index.embed import Embedder
from qa.reader import Reader

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's probe starts it: no sandbox as root, and nothing that reaches for the (closed) network.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
ADMIN_TOKEN = "admin-secret-for-tests"
API_TOKEN = "api-secret-for-tests"
BACKENDS = ("embedded", "server")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test that uses `api_backend` (directly or through the fixtures above) runs on both backends,
    unless it is marked `embedded_only`."""
    if "api_backend" in metafunc.fixturenames:
        only_embedded = metafunc.definition.get_closest_marker("embedded_only") is not None
        metafunc.parametrize("api_backend", BACKENDS[:1] if only_embedded else BACKENDS, indirect=True,
                             scope="session")


@pytest.fixture(scope="session")
def api_backend(request: pytest.FixtureRequest) -> str:
    """The store backend of this test's app, server or CLI: "embedded" or "server" (see the module's doc)."""
    return str(request.param)


@pytest.fixture
def backend(api_backend: str) -> str:
    """`make_index`/`index` (tests/conftest.py) open the same backend as the app under test."""
    return api_backend


def server_backend(request: pytest.FixtureRequest, api_backend: str, name: str) -> dict[str, str]:
    """The server backend's settings for one app or server (a database and a collection of its own), as
    field names; nothing for the embedded store."""
    if api_backend != "server":
        return {}
    postgres, milvus = request.getfixturevalue("servers")
    url = postgres.database(name)
    return {"database_url": url, "milvus_uri": milvus.uri, "milvus_collection": "c_" + url.rsplit("/", 1)[1]}


def as_environment(fields: dict[str, str]) -> dict[str, str]:
    return {f"CITEQA_{name.upper()}": value for name, value in fields.items()}


@dataclass
class InProcess:
    """An app over real services, answering in-process on one event loop for the whole session."""

    app: FastAPI
    portal: BlockingPortal

    def client(self, token: str | None = ADMIN_TOKEN) -> TestClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = TestClient(self.app, headers=headers)
        # Every client runs the app on the session's event loop, so what the app makes on first use (its
        # answer limiter) stays on one loop; not entered, so the lifespan is not run again.
        client.portal = self.portal
        return client


def real_services(settings: Settings, embedder: Embedder, reader: Reader) -> Services:
    """What `build_services` makes on first start (a store holding the default article, the pipeline),
    over the session's embedder and reader instead of loading them again."""
    index = open_index(settings, embedder)
    answerer = build_answerer(settings, index, reader)
    answerer.warm_up()
    return Services(settings, index, reader, answerer)


@contextmanager
def serve_in_process(settings: Settings, embedder: Embedder, reader: Reader) -> Iterator[InProcess]:
    services = real_services(settings, embedder, reader)
    app = create_app(settings, services=services)
    try:
        with TestClient(app) as owner:  # runs the lifespan and holds the event loop until the session ends
            assert owner.portal is not None
            yield InProcess(app, owner.portal)
    finally:
        services.store.close()


@pytest.fixture(scope="session")
def in_process(request: pytest.FixtureRequest, api_backend: str, tmp_path_factory: pytest.TempPathFactory,
               embedder: Embedder, reader: Reader) -> Iterator[InProcess]:
    """The app with an admin token (writes enabled) and no API token, as `server` runs, on `api_backend`."""
    settings = Settings.of(data_dir=tmp_path_factory.mktemp("in-process") / "data", admin_token=ADMIN_TOKEN,
                           api_token=None, **server_backend(request, api_backend, "app"))
    with serve_in_process(settings, embedder, reader) as running:
        yield running


@pytest.fixture(scope="session")
def locked_in_process(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder,
                      reader: Reader) -> Iterator[InProcess]:
    """The app that requires the API token and has no admin token (writes disabled); embedded only."""
    settings = Settings.of(data_dir=tmp_path_factory.mktemp("locked-in-process") / "data", admin_token=None,
                           api_token=API_TOKEN)
    with serve_in_process(settings, embedder, reader) as running:
        yield running


@pytest.fixture(scope="session")
def client(in_process: InProcess) -> TestClient:
    """The admin's client of the in-process app."""
    return in_process.client()


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
def server(request: pytest.FixtureRequest, api_backend: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `citeqa serve` with an admin token, on `api_backend`, for the tests that need a socket (mark
    them slow)."""
    folder = tmp_path_factory.mktemp("server")
    running = start_server(folder / "data", folder / "server.log", CITEQA_ADMIN_TOKEN=ADMIN_TOKEN,
                           **as_environment(server_backend(request, api_backend, "serve")))
    yield running
    stop(running)


@pytest.fixture(scope="session")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `citeqa serve` with both tokens set: every /v1 route needs the API token, writes the admin's
    (embedded only)."""
    folder = tmp_path_factory.mktemp("locked-server")
    running = start_server(folder / "data", folder / "server.log", CITEQA_ADMIN_TOKEN=ADMIN_TOKEN,
                           CITEQA_API_TOKEN=API_TOKEN)
    yield running
    stop(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright, one per test module; the test is skipped where it is missing
    (`.ci/run` installs it)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (.ci/run installs it)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
