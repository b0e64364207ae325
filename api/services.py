"""The one place the long-lived objects are built from settings: used by the server, the CLI and bench/."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.page_images import PageImages
from api.settings import Settings
from index.base import PassageStore, manifest
from index.chunk import Chunker, tokenizer_counter
from index.documents import load_file
from index.embed import Embedder
from index.indexer import Indexer
from index.retrieval import HybridRetriever
from index.store import SqliteStore
from qa.pipeline import QuestionAnswerer
from qa.reader import SHIPPED_MODEL, Reader
from qa.verifier import Verifier
from runtime.models import embedder_encoder, reader_forward

log = logging.getLogger(__name__)

DEFAULT_ARTICLE = Path(__file__).resolve().parent.parent / "index" / "data" / "ukraine-retakes-bakhmut-2023-05-13.txt"


@dataclass
class Index:
    """The document side: the store, how documents get in (indexer) and how passages come out (retriever)."""

    store: PassageStore
    indexer: Indexer
    retriever: HybridRetriever


@dataclass
class Services:
    """Everything a request handler needs."""

    settings: Settings
    index: Index
    reader: Reader
    answerer: QuestionAnswerer
    page_images: PageImages = field(init=False)

    def __post_init__(self) -> None:
        self.page_images = PageImages(self.settings.index.parse_limits)

    @property
    def store(self) -> PassageStore:
        return self.index.store


def default_article_path() -> Path:
    """The packaged default article (also installed as package data)."""
    from importlib.resources import files

    packaged = Path(str(files("index") / "data" / DEFAULT_ARTICLE.name))
    return packaged if packaged.exists() else DEFAULT_ARTICLE


def build_embedder(settings: Settings) -> Embedder:
    """The embedder on the configured backend, not yet loaded."""
    path = settings.index.embedder_path
    return Embedder(path, embedder_encoder(path, settings.reader.backend, settings.reader.precision,
                                           settings.optimized_dir))


def build_index(settings: Settings, *, rebuilding: bool = False, embedder: Embedder | None = None) -> Index:
    """Load the embedder and open the index (see `open_index`)."""
    embedder = embedder or build_embedder(settings)
    embedder.warm_up()
    return open_index(settings, embedder, rebuilding=rebuilding)


def open_store(settings: Settings, store_manifest: dict[str, Any], rebuilding: bool) -> PassageStore:
    """The embedded store in the data folder, or the server backend when PostgreSQL and Milvus are configured."""
    config = settings.index
    if config.database_url is not None and config.milvus_uri is not None:
        # Imported here: the embedded default never loads the database clients.
        from index.milvus import MilvusChunks
        from index.postgres import PostgresStore

        milvus = MilvusChunks(config.milvus_uri, config.milvus_collection, int(store_manifest["embedding_dimension"]),
                              token=config.milvus_token, db_name=config.milvus_db_name, shards=config.milvus_shards)
        try:
            server = PostgresStore(config.database_url, milvus, store_manifest)
        except BaseException:
            milvus.close()
            raise
        try:
            if rebuilding:
                server.adopt_manifest()
                return server
            return server.open()
        except BaseException:
            server.close()
            raise
    store = SqliteStore(config.data_dir, store_manifest, exact_search_max_chunks=config.exact_search_max_chunks)
    if rebuilding:  # the old derived indexes may not even match the running embedder: never load them
        store.adopt_manifest()
    else:
        store.open()
    return store


def open_index(settings: Settings, embedder: Embedder, *, rebuilding: bool = False) -> Index:
    """Open the store with a loaded embedder; on first start (never written) ingest the default article.

    `rebuilding`: open a store built with other settings without refusing, to re-index it.
    """
    config = settings.index
    store = open_store(settings, manifest(embedder.name, embedder.dimension, config.chunk_tokens), rebuilding)
    chunker = Chunker(tokenizer_counter(embedder.tokenizer), config.chunk_tokens)
    indexer = Indexer(store, embedder, chunker, config.max_document_chars, config.parse_limits)
    retrieval = settings.retrieval
    retriever = HybridRetriever(store, embedder, rrf_k=retrieval.rrf_k, dense_weight=retrieval.dense_weight,
                                lexical_weight=retrieval.lexical_weight, fusion_depth=retrieval.fusion_depth,
                                context_chars=retrieval.read_context_chars)
    if config.ingest_default_corpus and not rebuilding and store.counts()[0] == 0 and store.version() == 0:
        document = load_file(default_article_path())
        indexer.add(document)
        log.info("ingested the default article %s", document.id)
    return Index(store, indexer, retriever)


def build_reader(settings: Settings, path: Path | None = None) -> Reader:
    """The reader from settings (or the model folder `path`), not yet loaded."""
    config = settings.reader
    model_path = path or config.path or SHIPPED_MODEL
    forward = reader_forward(model_path, config.backend, config.precision, settings.optimized_dir)
    return Reader(model_path, forward, max_length=config.max_length, stride=config.stride)


def build_answerer(settings: Settings, index: Index, reader: Reader) -> QuestionAnswerer:
    """The question-answering pipeline as the settings describe it."""
    config = settings.pipeline
    verifier = Verifier.load(reader.model_path) if config.verify_answers else None
    return QuestionAnswerer(index.retriever, reader, threshold=config.no_answer_threshold, top_k=config.top_k,
                            rank_penalty=config.rank_penalty, early_exit_score=config.early_exit_score,
                            verifier=verifier)


def _import_model_libraries(backend: str) -> None:
    """Resolve the model libraries' lazy names in this thread, before the two loaders run in parallel.

    transformers resolves `from transformers import X` lazily, and two threads doing so at once can fail
    ("cannot import name 'AutoModel'"): seen when the OpenVINO reader and embedder were built together.
    """
    import transformers

    for name in ("AutoModel", "AutoTokenizer", "BertForQuestionAnswering"):
        getattr(transformers, name)
    if backend == "openvino":
        import openvino  # noqa: F401
    else:
        import sentence_transformers  # noqa: F401


def build_services(settings: Settings, reader: Reader | None = None) -> Services:
    """Load the models and open the store, ready to answer (the reader loads while the index opens)."""
    reader = reader or build_reader(settings)
    _import_model_libraries(settings.reader.backend)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-reader") as pool:
        loading = pool.submit(reader.warm_up)
        index = build_index(settings)
        loading.result()
    answerer = build_answerer(settings, index, reader)
    answerer.warm_up()
    return Services(settings, index, reader, answerer)
