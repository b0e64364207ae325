"""Write bench/RESULTS.md from the JSON files the benchmarks saved in bench/results/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def load(name: str) -> dict[str, Any] | None:
    path = BENCH / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def pct(value: float) -> str:
    return f"{value:.1f}"


def main() -> None:
    lines = ["# citeqa benchmark results", "",
             "Written by `bench/report.py` from `bench/results/*.json`; rerun with `make bench` "
             "(quick set) or `.venv/bin/python bench/run.py --full`.", ""]
    sections = [load(n) for n in ("retrieval", "reader", "http", "accuracy")]
    machine = next((s["machine"] for s in sections if s), None)
    if machine:
        lines += [f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}.", ""]
    retrieval, reader, http, accuracy = sections
    if retrieval:
        lines += [f"## Retrieval ({retrieval['file']}, {retrieval['articles']} articles as one document each, "
                  f"{retrieval['questions']} questions; measured {retrieval['measured_at']})", "",
                  "A hit: a top-k chunk of the question's article contains the gold answer span.", "",
                  "| search | recall@1 | recall@5 | recall@10 |", "|---|---|---|---|"]
        for mode, values in retrieval["recall"].items():
            lines.append(f"| {mode} | {values['recall@1']:.3f} | {values['recall@5']:.3f} | {values['recall@10']:.3f} |")
        lines += ["", f"Ingest: {retrieval['chunks']} chunks ({retrieval['chunk_tokens']} tokens max) in "
                  f"{retrieval['ingest_seconds']} s = {retrieval['ingest_chunks_per_second']} chunks/s; store size "
                  f"{retrieval['store_bytes'] / 1e6:.1f} MB; search {retrieval['search_ms_per_query']} ms/query.", ""]
    if reader:
        lines += [f"## Reader (measured {reader['measured_at']})", "",
                  f"One question over 5 passages of {reader['passage_tokens']} tokens: fp32 median "
                  f"{reader['fp32']['median_ms']} ms, bf16 median {reader['bf16']['median_ms']} ms "
                  f"(CPU has native bf16: {reader['cpu_native_bf16']}).",
                  f"bf16/fp32 top-span agreement: {reader['agreement']['top_span_agreement']:.1%} "
                  f"of {reader['agreement']['questions']} dev questions.",
                  f"Batching 4 questions' passages into one forward pass: {reader['batching_fp32']['one_batch_of_four_ms']} ms "
                  f"vs {reader['batching_fp32']['four_separate_ms']} ms for 4 separate passes (fp32).", ""]
    if http:
        one = http["one_client"]
        lines += [f"## HTTP, default article (measured {http['measured_at']})", "",
                  f"- `POST /v1/ask`, one client, {one['asks']} asks: median {one['median_ms']} ms, "
                  f"p95 {one['p95_ms']} ms, p99 {one['p99_ms']} ms",
                  f"- cold start (process start to `/readyz` 200): {http['cold_start_seconds']} s",
                  f"- peak RSS of the server: {http['peak_rss_mib']} MiB"]
        if "concurrent" in http:
            many = http["concurrent"]
            lines.append(f"- {many['clients']} concurrent clients for {many['seconds']} s: "
                         f"{many['answers_per_second']} answers/s, median {many['median_ms']} ms, "
                         f"p95 {many['p95_ms']} ms, {many['errors']} errors")
        lines.append("")
    if accuracy:
        limit = accuracy["limit"] or "all"
        gold, gold2 = accuracy["reader_gold_paragraph_v1"], accuracy["reader_gold_paragraph_v2"]
        pipe, pipe2 = accuracy["pipeline_v1"], accuracy["pipeline_v2"]
        lines += [f"## Accuracy ({limit} questions per file; threshold {accuracy['threshold']}; "
                  f"measured {accuracy['measured_at']})", "",
                  "| what | EM | F1 | no-answer acc. | HasAns F1 |", "|---|---|---|---|---|",
                  f"| reader, gold paragraph, SQuAD v1.1 dev 25-48 | {pct(gold['exact_match'])} | {pct(gold['f1'])} | | |",
                  f"| reader, gold paragraph, SQuAD v2.0 Victoria | {pct(gold2['exact_match'])} | {pct(gold2['f1'])} | "
                  f"{pct(gold2['no_answer_accuracy'])} | {pct(gold2['has_answer_f1'])} |",
                  f"| pipeline, whole article, SQuAD v1.1 dev 25-48 | {pct(pipe['exact_match'])} | {pct(pipe['f1'])} | | |",
                  f"| pipeline, whole article, SQuAD v2.0 Victoria | {pct(pipe2['exact_match'])} | {pct(pipe2['f1'])} | "
                  f"{pct(pipe2['no_answer_accuracy'])} | {pct(pipe2['has_answer_f1'])} |",
                  f"| pipeline, default article, seed questions | {pct(accuracy['seed_dev']['exact_match'])} | "
                  f"{pct(accuracy['seed_dev']['f1'])} | | |", ""]
    lines += ["## Not measured yet", "", "- Haystack 2.x side by side (issue 6).",
              "- FAISS at 100k / 1M chunks (issue 6).", ""]
    (BENCH / "RESULTS.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
