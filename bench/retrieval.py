"""Retrieval recall@1/5/10 (dense, BM25, fused), ingest throughput and store size on 24 SQuAD articles."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SQUAD_V1, save  # noqa: E402

from api.services import build_index  # noqa: E402
from api.settings import Settings  # noqa: E402
from lab.end_to_end import ingest_articles, load_articles, retrieval_recall  # noqa: E402


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    documents, questions = load_articles(SQUAD_V1)
    settings = Settings()
    with tempfile.TemporaryDirectory() as folder:
        index = build_index(settings.scratch(Path(folder)))
        started = time.perf_counter()
        ingest_articles(index.indexer, documents)
        seconds = time.perf_counter() - started
        chunks = index.store.counts()[1]
        size = folder_size(Path(folder))
        started = time.perf_counter()
        recall = retrieval_recall(index.retriever, questions)
        search_seconds = time.perf_counter() - started
    save("retrieval", {
        "file": SQUAD_V1.name, "articles": len(documents), "questions": len(questions),
        "chunk_tokens": settings.index.chunk_tokens, "chunks": chunks,
        "ingest_seconds": round(seconds, 2), "ingest_chunks_per_second": round(chunks / seconds, 1),
        "store_bytes": size, "recall": recall,
        "search_ms_per_query": round(1000 * search_seconds / (3 * len([q for q in questions if q.spans])), 2),
    })


if __name__ == "__main__":
    main()
