"""Accuracy: reader with gold paragraphs, full pipeline per article (SQuAD v1.1, v2.0) and the seed questions."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SEED, SQUAD_V1, SQUAD_V2, save  # noqa: E402

from index.documents import load_file  # noqa: E402
from index.embed import Embedder  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.store import PassageStore  # noqa: E402
from qa.end_to_end import PipelineRow, best_pipeline_threshold, load_articles, pipeline_scores  # noqa: E402
from qa.evaluation import gold_questions, predict, score  # noqa: E402
from qa.pipeline import QuestionAnswerer  # noqa: E402
from qa.reader import Reader  # noqa: E402
from qa.squad_metrics import best_over, exact_match, f1  # noqa: E402

CITEQA = str(Path(sys.executable).with_name("citeqa"))
ARTICLE = Path(__file__).resolve().parents[1] / "index" / "data" / "ukraine-retakes-bakhmut-2023-05-13.txt"


def pipeline_on(path: Path, limit: int | None) -> tuple[dict[str, Any], list[PipelineRow]]:
    """`citeqa eval squad` exactly as a user runs it; returns its report and each question's best span."""
    with tempfile.TemporaryDirectory() as folder:
        answers = Path(folder) / "answers.jsonl"
        command = [CITEQA, "eval", "squad", str(path), "--json", "--answers", str(answers)]
        command += ["--limit", str(limit)] if limit else []
        printed = subprocess.run(command, check=True, capture_output=True, text=True,
                                 env={**os.environ, "CITEQA_DATA_DIR": folder}).stdout
        report = json.loads(printed.strip().splitlines()[-1])
        _, questions = load_articles(path)
        by_id = {q.id: q for q in questions}
        rows = [PipelineRow(by_id[r["id"]], r["answer"], r["score"])
                for r in map(json.loads, answers.read_text().splitlines())]
    return report, rows


def seed_questions(reader: Reader, settings: Settings) -> dict[str, object]:
    cases = [json.loads(line) for line in SEED.read_text().splitlines()]
    with tempfile.TemporaryDirectory() as folder:
        store = PassageStore(Path(folder), Embedder(settings.embedder_path), settings.chunk_tokens).open()
        store.add(load_file(ARTICLE))
        answerer = QuestionAnswerer(store, reader, settings.no_answer_threshold, settings.top_k)
        rows = []
        for case in cases:
            answer = answerer(case["question"])
            predicted = answer.answer or ""
            rows.append({"id": case["id"], "question": case["question"], "answer": answer.answer,
                         "score": round(answer.score, 3), "em": best_over(exact_match, predicted, case["answers"]),
                         "f1": round(best_over(f1, predicted, case["answers"]), 3)})
    return {"exact_match": 100 * sum(r["em"] for r in rows) / len(rows),
            "f1": 100 * sum(r["f1"] for r in rows) / len(rows), "questions": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="questions per file (default: all)")
    args = parser.parse_args()
    settings = Settings()
    reader = Reader(settings.reader_path, dtype=settings.inference_dtype)
    gold = predict(reader, gold_questions(SQUAD_V1, args.limit))
    gold_v2 = predict(reader, gold_questions(SQUAD_V2, args.limit))
    pipeline_v1, rows_v1 = pipeline_on(SQUAD_V1, args.limit)
    pipeline_v2, rows_v2 = pipeline_on(SQUAD_V2, args.limit)
    tuned = best_pipeline_threshold([rows_v1, rows_v2])
    save("accuracy", {
        "limit": args.limit, "threshold": settings.no_answer_threshold,
        "reader_gold_paragraph_v1": score(gold),
        "reader_gold_paragraph_v2": score(gold_v2, settings.no_answer_threshold),
        "reader_gold_paragraph_v2_no_threshold": score(gold_v2, None),
        "pipeline_v1": pipeline_v1, "pipeline_v2": pipeline_v2,
        "tuned_threshold": {"threshold": tuned, "rule": "maximises the mean pipeline F1 of the two dev files",
                            "pipeline_v1": pipeline_scores(rows_v1, tuned),
                            "pipeline_v2": pipeline_scores(rows_v2, tuned)},
        "seed_dev": seed_questions(reader, settings),
    })


if __name__ == "__main__":
    main()
