"""Shared fixtures: the real embedder and reader loaded once per test session; real stores per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from api.services import Index, build_reader, open_index  # noqa: E402
from api.settings import Settings  # noqa: E402
from index.embed import Embedder  # noqa: E402

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


@pytest.fixture
def make_index(tmp_path: Path, settings: Settings, embedder: Embedder) -> Iterator[Callable[..., Index]]:
    """Opens an empty index as the service would, in a folder of this test (`index=`/`retrieval=` change settings)."""
    opened: list[Index] = []

    def make(folder: Path | None = None, **changes: dict[str, Any]) -> Index:
        index_changes = {"data_dir": folder or tmp_path / "store", "ingest_default_corpus": False,
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
