"""torch vs openvino side by side: reader F1 and top-span agreement, embedder cosine, and (--timing) latency.

Each backend runs the precision CITEQA_INFERENCE_DTYPE resolves to on it (auto: openvino int8 where the CPU has
int8 dot products, else both run the same float format)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ARTICLE, SQUAD_V1, SQUAD_V2, percentile, save  # noqa: E402

from api.services import build_embedder, build_reader  # noqa: E402
from api.settings import Settings  # noqa: E402
from index.chunk import Chunker, tokenizer_counter  # noqa: E402
from index.documents import load_file  # noqa: E402
from index.embed import Embedder  # noqa: E402
from lab.end_to_end import load_articles  # noqa: E402
from lab.evaluation import GoldQuestion, Prediction, gold_questions, score  # noqa: E402
from qa.reader import Passage, Reader  # noqa: E402

BACKENDS = ("torch", "openvino")


def top_spans(reader: Reader, questions: list[GoldQuestion]) -> tuple[list[Prediction], list[tuple[int, int] | None]]:
    """Each question's best span over its own paragraph, as a prediction and as (start, end)."""
    predictions, spans = [], []
    for question in questions:
        best = reader.run(question.question, [Passage("gold", 0, question.context)], top_k=1).spans
        top = best[0] if best else None
        predictions.append(Prediction(question, top.text if top else "", top.margin if top else -99.0,
                                      top.score if top else 0.0))
        spans.append((top.start, top.end) if top else None)
    return predictions, spans


def reader_accuracy(readers: dict[str, Reader], limit: int, v2: bool, threshold: float) -> dict[str, Any]:
    questions = gold_questions(SQUAD_V1, limit)
    result: dict[str, Any] = {"questions": len(questions)}
    outputs = {name: top_spans(reader, questions) for name, reader in readers.items()}
    for name, (predictions, _) in outputs.items():
        result[name] = {"gold_paragraph_v1": score(predictions),
                        "calibration": vars(readers[name].calibration)}
    reference, candidate = outputs["torch"], outputs["openvino"]
    same = sum(a == b for a, b in zip(reference[1], candidate[1], strict=True))
    margins = [abs(a.margin - b.margin) for a, b in zip(reference[0], candidate[0], strict=True)]
    result["top_span_agreement"] = round(same / len(questions), 4)
    f1 = {name: result[name]["gold_paragraph_v1"]["f1"] for name in readers}
    result["f1_delta"] = round(f1["openvino"] - f1["torch"], 2)
    result["margin_abs_diff"] = {"median": round(statistics.median(margins), 3), "max": round(max(margins), 3)}
    if v2:  # no-answer accuracy at the threshold (SQuAD v2.0 public dev)
        unanswerable = gold_questions(SQUAD_V2, limit)
        for name, reader in readers.items():
            result[name]["gold_paragraph_v2"] = score(top_spans(reader, unanswerable)[0], threshold)
    return result


def real_chunks(embedder: Embedder, articles: int) -> list[str]:
    """Chunks as the indexer makes them (160 tokens): the default article and the first SQuAD dev articles."""
    chunker = Chunker(tokenizer_counter(embedder.tokenizer), 160)
    documents, _ = load_articles(SQUAD_V1)
    texts = [load_file(ARTICLE).text] + [text for _, _, text in documents[:articles]]
    return [chunk.text for text in texts for chunk in chunker.run(text)[1]]


def embedder_agreement(embedders: dict[str, Embedder], articles: int, limit: int) -> dict[str, Any]:
    chunks = real_chunks(embedders["torch"], articles)
    questions = [q.question for q in gold_questions(SQUAD_V1, limit)]
    result: dict[str, Any] = {}
    for name, texts in (("chunks", chunks), ("questions", questions)):
        cosine = np.sum(embedders["torch"].run(texts) * embedders["openvino"].run(texts), axis=1)
        result[name] = {"count": len(texts), "min_cosine": round(float(cosine.min()), 4),
                        "median_cosine": round(float(np.median(cosine)), 4)}
    return result


def timed(call: Callable[[], object], runs: int) -> dict[str, float]:
    call()  # warm
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append(1000 * (time.perf_counter() - started))
    return {"median_ms": round(statistics.median(timings), 2), "p95_ms": round(percentile(timings, 0.95), 2),
            "runs": runs}


def windows_256(reader: Reader, count: int) -> tuple[list[list[int]], list[list[int]]]:
    """`count` real SQuAD windows of exactly 256 tokens (question + paragraph, padded when shorter)."""
    ids, types = [], []
    pad = reader.tokenizer.pad_token_id
    for question in gold_questions(SQUAD_V1, 40)[::5][:count]:
        encoding = reader.tokenizer(question.question, question.context, truncation="only_second", max_length=256)
        missing = 256 - len(encoding["input_ids"])
        ids.append(encoding["input_ids"] + [pad] * missing)
        types.append(encoding["token_type_ids"] + [0] * missing)
    return ids, types


def timing(readers: dict[str, Reader], embedders: dict[str, Embedder], runs: int) -> dict[str, Any]:
    """Warm medians and p95 in this process, backends interleaved per measurement."""
    ids, types = windows_256(readers["torch"], 7)
    chunks = real_chunks(embedders["torch"], 3)[:32]
    query = gold_questions(SQUAD_V1, 1)[0].question
    result: dict[str, Any] = {}
    for name in BACKENDS:
        reader, embedder = readers[name], embedders[name]
        result[name] = {
            "reader_1x256": timed(lambda r=reader: r._forward(ids[:1], types[:1]), runs),  # type: ignore[misc]
            "reader_7x256": timed(lambda r=reader: r._forward(ids, types), max(3, runs // 3)),  # type: ignore[misc]
            "embed_one_query": timed(lambda e=embedder: e.run([query]), runs),  # type: ignore[misc]
            "embed_32_chunks": timed(lambda e=embedder: e.run(chunks), max(3, runs // 5)),  # type: ignore[misc]
        }
    return result


def load(settings: Settings) -> tuple[dict[str, Reader], dict[str, Embedder], dict[str, float]]:
    """Each backend's reader and embedder, loaded, with the seconds each pair took (a cache is built if missing)."""
    readers, embedders, seconds = {}, {}, {}
    for name in BACKENDS:
        config = settings.with_changes(reader={"backend": name})
        started = time.perf_counter()
        readers[name], embedders[name] = build_reader(config), build_embedder(config)
        readers[name].warm_up()
        embedders[name].warm_up()
        seconds[name] = round(time.perf_counter() - started, 2)
    return readers, embedders, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=300, help="gold-paragraph questions (0: skip accuracy)")
    parser.add_argument("--v2", action="store_true", help="also no-answer accuracy on SQuAD v2.0 public dev")
    parser.add_argument("--embed-articles", type=int, default=6, help="SQuAD dev articles chunked for cosine")
    parser.add_argument("--timing", action="store_true", help="latency of both backends (run on a quiet machine)")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per measurement with --timing")
    parser.add_argument("--save", action="store_true", help="also write bench/results/backends.json")
    args = parser.parse_args()
    settings = Settings()
    readers, embedders, loads = load(settings)
    result: dict[str, Any] = {"precision": {name: reader.precision for name, reader in readers.items()},
                              "model_load_seconds": loads}
    if args.limit:
        result["reader"] = reader_accuracy(readers, args.limit, args.v2, settings.pipeline.no_answer_threshold)
        result["embedder"] = embedder_agreement(embedders, args.embed_articles, args.limit)
    if args.timing:
        result["timing"] = timing(readers, embedders, args.runs)
    if args.save:
        save("backends", result)
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
