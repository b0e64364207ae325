"""The Haystack 2.x side of bench/haystack_compare.py; runs inside Haystack's own virtual environment.

Reads a job (documents, questions, model paths, top-k) as JSON, builds the Haystack pipeline that mirrors
citeqa's (sentence-aware chunks, BM25 + embedding retrieval joined by reciprocal rank fusion, the
ExtractiveReader with citeqa's reader weights), answers every question restricted to its document and
writes the answers with their in-process latency as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from haystack import Document, Pipeline
from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
from haystack.components.joiners import DocumentJoiner
from haystack.components.preprocessors import DocumentSplitter
from haystack.components.readers import ExtractiveReader
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore


def indexing(store: InMemoryDocumentStore, embedder_path: str, words_per_chunk: int) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("splitter", DocumentSplitter(
        split_by="word", split_length=words_per_chunk, split_overlap=words_per_chunk // 8,
        respect_sentence_boundary=False))
    pipeline.add_component("embedder", SentenceTransformersDocumentEmbedder(
        model=embedder_path, batch_size=32, progress_bar=False))
    pipeline.add_component("writer", DocumentWriter(document_store=store))
    pipeline.connect("splitter", "embedder")
    pipeline.connect("embedder", "writer")
    return pipeline


def querying(store: InMemoryDocumentStore, embedder_path: str, reader_path: str, top_k: int,
             max_length: int, stride: int) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("text_embedder", SentenceTransformersTextEmbedder(model=embedder_path, progress_bar=False))
    pipeline.add_component("embedding_retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=top_k))
    pipeline.add_component("bm25_retriever", InMemoryBM25Retriever(document_store=store, top_k=top_k))
    pipeline.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=top_k))
    pipeline.add_component("reader", ExtractiveReader(
        model=reader_path, top_k=1, max_seq_length=max_length, stride=stride, no_answer=False,
        model_kwargs={"dtype": torch.float32}))
    pipeline.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    pipeline.connect("bm25_retriever", "joiner")
    pipeline.connect("embedding_retriever", "joiner")
    pipeline.connect("joiner", "reader")
    return pipeline


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(job["threads"])
    store = InMemoryDocumentStore()
    documents = [Document(content=d["text"], meta={"document_id": d["id"], "title": d["title"]})
                 for d in job["documents"]]
    started = time.perf_counter()
    indexing(store, job["embedder_path"], job["words_per_chunk"]).run({"splitter": {"documents": documents}})
    ingest_seconds = time.perf_counter() - started
    pipeline = querying(store, job["embedder_path"], job["reader_path"], job["top_k"],
                        job["max_length"], job["stride"])
    pipeline.warm_up()
    answers = []
    for question in job["questions"]:
        only = {"field": "meta.document_id", "operator": "==", "value": question["document_id"]}
        started = time.perf_counter()
        result = pipeline.run({
            "text_embedder": {"text": question["question"]},
            "embedding_retriever": {"filters": only},
            "bm25_retriever": {"query": question["question"], "filters": only},
            "reader": {"query": question["question"]},
        })
        seconds = time.perf_counter() - started
        best = result["reader"]["answers"][0] if result["reader"]["answers"] else None
        text = best.data if best is not None and best.data is not None else None
        answers.append({"id": question["id"], "answer": text, "score": best.score if best else 0.0,
                        "seconds": seconds})
    Path(sys.argv[2]).write_text(json.dumps({"ingest_seconds": ingest_seconds, "chunks": store.count_documents(),
                                             "answers": answers}))


if __name__ == "__main__":
    main()
