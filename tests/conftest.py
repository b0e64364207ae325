"""Shared fixtures: the real embedder and reader loaded once per test session; real stores per test.

`backend` names the store `make_index` opens: "embedded" here; tests/index/conftest.py runs its tests on
"server" too (PostgreSQL + Milvus Lite, started once per session by `servers`, only when a test needs them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests.servers, whichever way pytest was started
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from api.services import Index, build_reader, open_index  # noqa: E402
from api.settings import Settings  # noqa: E402
from index.embed import Embedder  # noqa: E402
from tests.servers import Milvus, Postgres, start_milvus, start_postgres  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULT_ARTICLE = Path(__file__).resolve().parent.parent / "index" / "data" / "ukraine-retakes-bakhmut-2023-05-13.txt"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    model = Embedder(settings.index.embedder_path)
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def reader(settings: Settings):  # type: ignore[no-untyped-def]
    model = build_reader(settings)
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[Postgres, Milvus]]:
    """One PostgreSQL cluster and one Milvus Lite server for the session; each test takes its own database."""
    postgres = start_postgres()
    try:
        milvus = start_milvus()
    except BaseException:
        postgres.stop()
        raise
    yield postgres, milvus
    milvus.stop()
    postgres.stop()


@pytest.fixture
def backend() -> str:
    return "embedded"


@pytest.fixture
def server_location(request: pytest.FixtureRequest, backend: str) -> Callable[[Path], dict[str, Any]]:
    """The server settings standing for a store folder: the same folder, the same database and collection."""
    locations: dict[Path, dict[str, Any]] = {}

    def locate(folder: Path) -> dict[str, Any]:
        if backend != "server":
            return {}
        if folder not in locations:
            postgres, milvus = request.getfixturevalue("servers")
            url = postgres.database()
            locations[folder] = {"database_url": url, "milvus_uri": milvus.uri,
                                 "milvus_collection": "c_" + url.rsplit("/", 1)[1]}
        return locations[folder]

    return locate


@pytest.fixture
def make_index(tmp_path: Path, settings: Settings, embedder: Embedder,
               server_location: Callable[[Path], dict[str, Any]]) -> Iterator[Callable[..., Index]]:
    """Opens an empty index as the service would, in a folder of this test (`index=`/`retrieval=` change settings).

    On the server backend the folder stands for a database and a collection of this test.
    """
    opened: list[Index] = []

    def make(folder: Path | None = None, **changes: dict[str, Any]) -> Index:
        folder = folder or tmp_path / "store"
        index_changes = {"data_dir": folder, "ingest_default_corpus": False, **server_location(folder),
                         **changes.pop("index", {})}
        index = open_index(settings.with_changes(index=index_changes, **changes), embedder)
        opened.append(index)
        return index

    yield make
    for index in opened:
        index.store.close()


@pytest.fixture
def index(make_index: Callable[..., Index]) -> Index:
    return make_index()


@pytest.fixture(scope="session")
def article_text() -> str:
    return DEFAULT_ARTICLE.read_text(encoding="utf-8")
