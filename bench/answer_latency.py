"""Whole-answer latency of two reader folders side by side, in one process, on one store (or, with
--without-verifier, of the configured reader with and without the answer verifier).

Questions alternate between the two pipelines, so both see the same machine state; each answer is
timed from question to cited answer (retrieval, reading with early exit, citing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SQUAD_V2, save  # noqa: E402

from api.services import build_answerer, build_index, build_reader  # noqa: E402
from api.settings import Settings  # noqa: E402
from lab.end_to_end import ingest_articles, load_articles  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, default=None, help="reader folder to compare against")
    parser.add_argument("--without-verifier", action="store_true",
                        help="compare against the same reader with the answer verifier off")
    parser.add_argument("--reader", type=Path, default=None, help="reader folder (default: the configured one)")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--max-articles", type=int, default=4)
    args = parser.parse_args()
    if (args.baseline is None) == (not args.without_verifier):
        parser.error("give exactly one of --baseline and --without-verifier")
    settings = Settings()
    documents, questions = load_articles(SQUAD_V2, args.max_articles)
    step = max(1, len(questions) // args.questions)
    asked = questions[::step][: args.questions]
    with tempfile.TemporaryDirectory() as folder:
        index = build_index(settings.scratch(Path(folder)))
        ingest_articles(index.indexer, documents)
        reader = build_reader(settings, args.reader)
        if args.without_verifier:  # one reader object: the two pipelines differ only in the verifier
            unverified = settings.with_changes(pipeline={"verify_answers": False})
            pipelines = {"baseline": build_answerer(unverified, index, reader),
                         "reader": build_answerer(settings, index, reader)}
        else:
            pipelines = {"baseline": build_answerer(settings, index, build_reader(settings, args.baseline)),
                         "reader": build_answerer(settings, index, reader)}
        timings: dict[str, list[float]] = {name: [] for name in pipelines}
        for pipeline in pipelines.values():
            pipeline.warm_up()
            pipeline(asked[0].question, [asked[0].document_id])
        for question in asked:
            for name, pipeline in pipelines.items():
                started = time.perf_counter()
                pipeline(question.question, [question.document_id])
                timings[name].append(1000 * (time.perf_counter() - started))
        index.store.close()
    result = {name: {"median_ms": round(statistics.median(values), 1),
                     "p95_ms": round(sorted(values)[int(0.95 * (len(values) - 1))], 1),
                     "mean_ms": round(statistics.fmean(values), 1)} for name, values in timings.items()}
    save("answer_latency", {"questions": len(asked), "articles": len(documents), "data": SQUAD_V2.name,
                            "baseline_name": "without verifier" if args.without_verifier else str(args.baseline),
                            "reader_name": str(args.reader or "shipped"),
                            **result, "median_ratio": round(result["reader"]["median_ms"]
                                                            / result["baseline"]["median_ms"], 3)})


if __name__ == "__main__":
    main()
