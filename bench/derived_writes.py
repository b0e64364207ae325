"""Per-write time of the embedded store as it grows: adds, replaces and deletes at 10, 100 and 1,000 documents.

Only the store's write is timed (SQLite rows plus the derived FAISS and BM25 indexes saved before the
commit): documents are synthetic (3 chunks of 120 words drawn from a Zipf vocabulary of 5,000 words),
their vectors random unit vectors, so the embedder's time does not hide the index's.

add_ms is the median of the last `--sample` adds before each milestone; add_mean/max_since_last cover
every add since the previous milestone, so they include the occasional snapshot or rebuild. Replaces and
deletes: medians of `--sample` each. Searches: medians of 20 queries at depth 50.

    .venv/bin/python bench/derived_writes.py [--milestones 10 100 1000] [--sample 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from index.base import PreparedDocument  # noqa: E402
from index.chunk import Chunk, Span  # noqa: E402
from index.documents import Document  # noqa: E402
from index.store import SqliteStore  # noqa: E402

DIMENSION = 384
CHUNKS = 3
WORDS = 120
MANIFEST = {"embedding_model": "synthetic", "embedding_dimension": DIMENSION, "chunk_tokens": 160}


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocabulary = [f"w{i}x" for i in range(5000)]
        weights = 1.0 / np.arange(1, 5001)
        self.weights = weights / weights.sum()

    def document(self, number: int, version: int = 0) -> PreparedDocument:
        chunks, sentences, parts, start = [], [], [], 0
        for index in range(CHUNKS):
            words = self.rng.choice(self.vocabulary, size=WORDS, p=self.weights)
            text = " ".join(words) + "."
            chunks.append(Chunk(index, start, start + len(text), text, index, index))
            sentences.append(Span(start, start + len(text)))
            parts.append(text)
            start += len(text) + 1
        vectors = self.rng.standard_normal((CHUNKS, DIMENSION)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        document = Document(f"doc-{number}", f"Document {number} v{version}", " ".join(parts), {})
        return PreparedDocument(document, sentences, chunks, vectors)


def timed(action: object) -> float:
    begin = time.perf_counter()
    action()  # type: ignore[operator]
    return (time.perf_counter() - begin) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--milestones", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--sample", type=int, default=10, help="writes timed at each milestone, per kind")
    parser.add_argument("--label", default="", help="a name for this run in the result file")
    args = parser.parse_args()
    corpus = Corpus(7)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder), MANIFEST, exact_search_max_chunks=100_000).open()
        count = 0
        for milestone in sorted(args.milestones):
            adds, every = [], []  # the last `sample` adds; every add since the previous milestone
            while count < milestone:
                document = corpus.document(count)
                took = timed(lambda d=document: store.write([d], replace=True))
                count += 1
                every.append(took)
                if count > milestone - args.sample:
                    adds.append(took)
            replaces = [timed(lambda n=n: store.write([corpus.document(n, 1)], replace=True))
                        for n in range(min(args.sample, count))]
            deletes = []
            for n in range(min(args.sample, count)):
                deletes.append(timed(lambda n=n: store.delete(f"doc-{n}")))
            for n in range(min(args.sample, count)):  # put them back, untimed
                store.write([corpus.document(n, 2)], replace=True)
            queries = [" ".join(corpus.rng.choice(corpus.vocabulary[:500], size=6)) for _ in range(20)]
            vectors = corpus.rng.standard_normal((20, DIMENSION)).astype(np.float32)
            store.lexical_ranking(queries[0], 50, None)  # loads nothing new; warms caches
            lexical = [timed(lambda q=q: store.lexical_ranking(q, 50, None)) for q in queries]
            dense = [timed(lambda v=v: store.dense_ranking(v / np.linalg.norm(v), 50, None)) for v in vectors]
            row = {"documents": milestone, "chunks": store.counts()[1],
                   "add_ms": round(statistics.median(adds), 2),
                   "add_mean_since_last_ms": round(statistics.mean(every), 2),
                   "add_max_since_last_ms": round(max(every), 2),
                   "replace_ms": round(statistics.median(replaces), 2),
                   "delete_ms": round(statistics.median(deletes), 2),
                   "bm25_search_ms": round(statistics.median(lexical), 3),
                   "dense_search_ms": round(statistics.median(dense), 3)}
            rows.append(row)
            print(row, flush=True)
        store.close()
    save("derived_writes" + (f"-{args.label}" if args.label else ""),
         {"chunks_per_document": CHUNKS, "words_per_chunk": WORDS, "sample": args.sample, "rows": rows})


if __name__ == "__main__":
    main()
