"""The server backend (PostgreSQL + Milvus) against the embedded one, and how the server backend grows.

`quality`: both backends on the shared SQuAD v1.1 dev articles 25-48, in one process with one embedder
and one reader: the chunks are embedded once and written to each store (so ingest compares the stores;
the embedding time is given apart), then retrieval recall@1/5/10 per mode, pipeline EM/F1 and the
latency of each answer.

`growth`: synthetic chunks (random unit vectors, generated sentences) written to the server backend in
batches until a count or a time limit, with search latency and memory measured at each milestone.

Both start their own PostgreSQL and `milvus-lite server` (tests/servers.py) and stop them at the end.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from common import SQUAD_V1, machine, save  # noqa: E402

from api.services import Index, build_answerer, build_embedder, build_reader, open_index  # noqa: E402
from api.settings import Settings  # noqa: E402
from index.base import PreparedDocument, manifest  # noqa: E402
from index.chunk import Chunk, Span  # noqa: E402
from index.documents import Document, make_document  # noqa: E402
from index.milvus import MilvusChunks  # noqa: E402
from index.postgres import PostgresStore  # noqa: E402
from lab.end_to_end import PipelineRow, load_articles, pipeline_report, retrieval_recall  # noqa: E402
from tests.servers import start_milvus, start_postgres  # noqa: E402

SHARED_V1 = ROOT.parent / "shared" / "eval" / "squad-v1.1-dev-articles-25-48.json"


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(np.array(values), share * 100))


def prepare(index: Index, documents: list[Document]) -> tuple[list[PreparedDocument], float]:
    """Chunk and embed once, as the indexer does (the part both backends share)."""
    started = time.perf_counter()
    items = []
    for document in documents:
        sentences, chunks = index.indexer.chunker.run(document.text)
        vectors = index.indexer.embedder.run([c.text for c in chunks])
        items.append(PreparedDocument(document, sentences, chunks, vectors))
    return items, time.perf_counter() - started


def quality(arguments: argparse.Namespace) -> dict[str, Any]:
    path = SHARED_V1 if SHARED_V1.exists() else SQUAD_V1
    articles, questions = load_articles(path)
    documents = [make_document(text, document_id=i, title=t) for i, t, text in articles]
    asked = questions[:arguments.questions] if arguments.questions else questions
    settings = Settings()
    embedder = build_embedder(settings)
    embedder.warm_up()
    reader = build_reader(settings)
    reader.warm_up()
    postgres, milvus = start_postgres(), start_milvus()
    results: dict[str, Any] = {"file": path.name, "articles": len(documents), "questions": len(asked)}
    try:
        with tempfile.TemporaryDirectory() as folder:
            backends = {
                "embedded": settings.scratch(Path(folder) / "embedded"),
                "server": settings.scratch(Path(folder) / "server").with_changes(index={
                    "database_url": postgres.database("bench"), "milvus_uri": milvus.uri}),
            }
            prepared: list[PreparedDocument] | None = None
            for name, backend_settings in backends.items():
                index = open_index(backend_settings, embedder)
                if prepared is None:
                    prepared, results["embed_seconds"] = prepare(index, documents)
                started = time.perf_counter()
                index.store.write(prepared, replace=True)
                if isinstance(index.store, PostgresStore):  # as in `growth`: let Milvus Lite index what it holds
                    index.store.milvus.client.flush(index.store.milvus.collection)
                write_seconds = time.perf_counter() - started
                chunks = index.store.counts()[1]
                started = time.perf_counter()
                recall = retrieval_recall(index.retriever, [q for q in asked if q.spans])
                recall_seconds = time.perf_counter() - started
                answerer = build_answerer(backend_settings, index, reader)
                always = answerer.with_threshold(0.0)
                rows, latencies = [], []
                for question in asked:
                    started = time.perf_counter()
                    answer = always.run(question.question, [question.document_id])
                    latencies.append(1000 * (time.perf_counter() - started))
                    rows.append(PipelineRow(question, answer.answer, answer.score))
                report = pipeline_report(rows, answerer.threshold)
                results[name] = {
                    "chunks": chunks, "store_write_seconds": round(write_seconds, 2),
                    "store_write_chunks_per_second": round(chunks / write_seconds, 1),
                    "ingest_chunks_per_second": round(chunks / (write_seconds + results["embed_seconds"]), 1),
                    "recall": recall,
                    "search_ms_per_query": round(1000 * recall_seconds / (3 * len([q for q in asked if q.spans])), 2),
                    "exact_match": round(report["exact_match"], 2), "f1": round(report["f1"], 2),
                    "f1_never_abstaining": round(report["f1_never_abstaining"], 2),
                    "answer_ms_median": round(statistics.median(latencies), 1),
                    "answer_ms_p95": round(percentile(latencies, 0.95), 1),
                }
                print(name, results[name], flush=True)
                index.store.close()
    finally:
        milvus.stop()
        postgres.stop()
    return results


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


WORDS = [f"{stem}{n}" for stem in ("alpha", "river", "tower", "copper", "garden", "signal", "harbor", "meadow")
         for n in range(2000)]


def synthetic(number: int, chunks: int, rng: random.Random, dimension: int) -> PreparedDocument:
    """A document of `chunks` one-sentence chunks of 40 random words, with random unit vectors."""
    sentences = [" ".join(rng.choice(WORDS) for _ in range(40)) + "." for _ in range(chunks)]
    text = "\n\n".join(sentences)
    spans, pieces, offset = [], [], 0
    for i, sentence in enumerate(sentences):
        spans.append(Span(offset, offset + len(sentence)))
        pieces.append(Chunk(i, offset, offset + len(sentence), sentence, i, i))
        offset += len(sentence) + 2
    vectors = np.random.default_rng(number).standard_normal((chunks, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return PreparedDocument(Document(f"synthetic-{number}", f"Synthetic {number}", text, {}), spans, pieces, vectors)


def growth(arguments: argparse.Namespace) -> dict[str, Any]:
    dimension = 384
    postgres, milvus = start_postgres(), start_milvus()
    url = postgres.database("growth")
    store = PostgresStore(url, MilvusChunks(milvus.uri, "growth", dimension),
                          manifest("synthetic", dimension, 160)).open()
    rng = random.Random(17)
    milestones = sorted(set(arguments.milestones + [arguments.chunks]))
    results: dict[str, Any] = {"milestones": [], "chunks_per_document": arguments.per_document,
                               "flush_every": arguments.flush_every}
    deadline = time.monotonic() + arguments.seconds
    written, number, write_seconds, unflushed, stopped = 0, 0, 0.0, 0, ""
    try:
        for milestone in milestones:
            while written < milestone and not stopped:
                batch = [synthetic(number + i, arguments.per_document, rng, dimension) for i in range(10)]
                number += len(batch)
                started = time.perf_counter()
                store.write(batch, replace=True)
                chunks = sum(len(item.chunks) for item in batch)
                written, unflushed = written + chunks, unflushed + chunks
                # Milvus Standalone seals and indexes a growing segment by itself; Milvus Lite keeps its rows
                # unsealed, scanned by brute force on every filtered delete and search, until a flush.
                if unflushed >= arguments.flush_every:
                    store.milvus.client.flush(store.milvus.collection)
                    unflushed = 0
                write_seconds += time.perf_counter() - started
                if time.monotonic() >= deadline:
                    stopped = f"time limit of {arguments.seconds} s reached at {written} chunks"
                elif rss_mib(milvus.process.pid) > arguments.max_rss_mib:
                    stopped = f"milvus-lite RSS over {arguments.max_rss_mib} MiB at {written} chunks"
            started = time.perf_counter()
            store.milvus.client.flush(store.milvus.collection)
            write_seconds += time.perf_counter() - started
            unflushed = 0
            queries = np.random.default_rng(5).standard_normal((50, dimension)).astype(np.float32)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            dense, lexical = [], []
            for i, vector in enumerate(queries):
                started = time.perf_counter()
                store.dense_ranking(vector, 50, None)
                dense.append(1000 * (time.perf_counter() - started))
                started = time.perf_counter()
                store.lexical_ranking(" ".join(rng.choice(WORDS) for _ in range(8)) + f" q{i}", 50, None)
                lexical.append(1000 * (time.perf_counter() - started))
            with store.pool.connection() as connection:
                size = connection.execute("SELECT pg_database_size(current_database())").fetchone()
            row = {"chunks": written, "write_seconds": round(write_seconds, 1),
                   "write_chunks_per_second": round(written / max(write_seconds, 1e-9), 1),
                   "dense_ms_median": round(statistics.median(dense), 1),
                   "dense_ms_p95": round(percentile(dense, 0.95), 1),
                   "bm25_ms_median": round(statistics.median(lexical), 1),
                   "bm25_ms_p95": round(percentile(lexical, 0.95), 1),
                   "milvus_lite_rss_mib": round(rss_mib(milvus.process.pid), 1),
                   "postgres_bytes": int(size[0]) if size else 0,
                   "milvus_data_bytes": sum(p.stat().st_size for p in milvus.folder.rglob("*") if p.is_file())}
            results["milestones"].append(row)
            print(row, flush=True)
            if stopped:
                results["stopped"] = stopped
                break
    finally:
        store.close()
        milvus.stop()
        postgres.stop()
    return results


def main() -> None:
    # A stop by SIGTERM (a time limit) still runs the `finally` blocks that stop the two servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    side = commands.add_parser("quality", help="embedded against server on SQuAD v1.1 dev 25-48")
    side.add_argument("--questions", type=int, default=0, help="ask only the first N questions (0: all)")
    grow = commands.add_parser("growth", help="synthetic chunks into the server backend")
    grow.add_argument("--chunks", type=int, default=100_000)
    grow.add_argument("--milestones", type=int, nargs="*", default=[10_000, 30_000])
    grow.add_argument("--per-document", type=int, default=100)
    grow.add_argument("--seconds", type=float, default=1800.0, help="stop writing after this long")
    grow.add_argument("--flush-every", type=int, default=10_000, help="flush (seal) Milvus Lite's rows this often")
    grow.add_argument("--max-rss-mib", type=float, default=16_384.0,
                      help="stop writing when milvus-lite grows past this")
    arguments = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    result = quality(arguments) if arguments.command == "quality" else growth(arguments)
    result.update({"measured": started, "machine": machine()})
    print(save(f"server_backend_{arguments.command}", result))


if __name__ == "__main__":
    main()
