"""FAISS at scale: build time, single-query search latency, memory and recall of citeqa's dense indexes."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile, save  # noqa: E402

from index.dense import DenseIndex  # noqa: E402

DIMENSION = 384  # all-MiniLM-L6-v2
K = 10


def unit_vectors(count: int, seed: int) -> np.ndarray:
    """Random unit vectors, generated in blocks so 1M x 384 never needs a float64 copy."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, DIMENSION), dtype=np.float32)
    for start in range(0, count, 100_000):
        block = rng.standard_normal((min(100_000, count - start), DIMENSION), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray,
            truth: list[set[int]] | None) -> tuple[dict[str, object], list[set[int]]]:
    started = time.perf_counter()
    index = DenseIndex.build(np.arange(len(vectors), dtype=np.int64), vectors, exact=kind == "exact")
    build_seconds = time.perf_counter() - started
    # The serialised size is what the index holds in memory (vectors plus graph links); an RSS delta
    # would be blurred by pages the allocator kept from the vectors' generation.
    memory = faiss.serialize_index(index.index).nbytes / 2**20
    for query in queries[:5]:
        index.search(query, K)
    timings, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = index.search(query, K)
        timings.append(1000 * (time.perf_counter() - started))
        found.append({chunk for chunk, _ in hits})
    result: dict[str, object] = {
        "build_seconds": round(build_seconds, 1), "index_memory_mib": round(memory, 1),
        "search_median_ms": round(statistics.median(timings), 3), "search_p99_ms": round(percentile(timings, 0.99), 3),
    }
    if truth is not None:
        overlaps = [len(got & expected) / K for got, expected in zip(found, truth, strict=True)]
        result[f"recall@{K}_vs_exact"] = round(float(np.mean(overlaps)), 3)
    del index
    return result, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000], help="chunk counts to index")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--kinds", nargs="+", default=["exact", "hnsw"], choices=["exact", "hnsw"])
    args = parser.parse_args()
    queries = unit_vectors(args.queries, seed=1)
    runs: dict[str, dict[str, object]] = {}
    for size in args.sizes:
        vectors = unit_vectors(size, seed=0)
        truth = None
        for kind in args.kinds:
            print(f"{size} chunks, {kind} ...", flush=True)
            result, found = measure(kind, vectors, queries, truth)
            if kind == "exact":
                truth = found
            runs[f"{size}:{kind}"] = {"chunks": size, "kind": kind, **result}
            print(runs[f"{size}:{kind}"], flush=True)
        del vectors
    save("faiss_scale", {"dimension": DIMENSION, "k": K, "queries": args.queries,
                         "vectors": "random unit vectors (worst case for approximate search)",
                         "runs": list(runs.values())})


if __name__ == "__main__":
    main()
