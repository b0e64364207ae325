"""Shared fixtures: the real embedder and reader, loaded once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from index.embed import Embedder  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.store import PassageStore  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULT_ARTICLE = Path(__file__).resolve().parent.parent / "index" / "data" / "ukraine-retakes-bakhmut-2023-05-13.txt"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    model = Embedder(settings.embedder_path)
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def reader(settings: Settings):  # type: ignore[no-untyped-def]
    from qa.reader import Reader

    model = Reader(settings.reader_path)
    model.warm_up()
    return model


@pytest.fixture
def store(tmp_path: Path, embedder: Embedder) -> Iterator[PassageStore]:
    opened = PassageStore(tmp_path / "store", embedder).open()
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def article_text() -> str:
    return DEFAULT_ARTICLE.read_text(encoding="utf-8")
