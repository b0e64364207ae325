"""The long-lived objects of a running service: store, reader and pipeline, loaded once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from index.documents import load_file
from index.embed import Embedder
from index.settings import Settings
from index.store import PassageStore
from qa.pipeline import QuestionAnswerer
from qa.reader import Reader

log = logging.getLogger(__name__)

DEFAULT_ARTICLE = Path(__file__).resolve().parent.parent / "index" / "data" / "ukraine-retakes-bakhmut-2023-05-13.txt"


@dataclass
class Services:
    """Everything a request handler needs."""

    settings: Settings
    store: PassageStore
    reader: Reader
    answerer: QuestionAnswerer
    ready: bool = False


def default_article_path() -> Path:
    """The packaged default article (also installed as package data)."""
    from importlib.resources import files

    packaged = Path(str(files("index") / "data" / DEFAULT_ARTICLE.name))
    return packaged if packaged.exists() else DEFAULT_ARTICLE


def new_store(settings: Settings) -> PassageStore:
    """A store configured from settings, not yet opened."""
    return PassageStore(
        settings.data_dir,
        Embedder(settings.embedder_path),
        chunk_tokens=settings.chunk_tokens,
        exact_search_max_chunks=settings.exact_search_max_chunks,
        max_document_chars=settings.max_document_chars,
    )


def open_store(settings: Settings) -> PassageStore:
    """Open the store; on first start (never written) ingest the default article."""
    store = new_store(settings).open()
    if settings.ingest_default_corpus and store.counts()[0] == 0 and store.version() == 0:
        document = load_file(default_article_path())
        store.add(document)
        log.info("ingested the default article %s", document.id)
    return store


def build_answerer(settings: Settings, store: PassageStore, reader: Reader) -> QuestionAnswerer:
    """The question-answering pipeline as the settings describe it."""
    return QuestionAnswerer(store, reader, threshold=settings.no_answer_threshold, top_k=settings.top_k,
                            rank_penalty=settings.rank_penalty, early_exit_score=settings.early_exit_score,
                            read_context_chars=settings.read_context_chars)


def build_services(settings: Settings) -> Services:
    """Load models and open the store; ingest the default article into an empty store."""
    store = open_store(settings)
    reader = Reader(settings.reader_path, dtype=settings.inference_dtype)
    answerer = build_answerer(settings, store, reader)
    answerer.warm_up()
    return Services(settings, store, reader, answerer, ready=True)
