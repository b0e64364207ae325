"""Reader latency (one question over 5 passages of about 200 tokens) and bf16/fp32 top-span agreement."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SQUAD_V1, save  # noqa: E402

from lab.evaluation import gold_questions  # noqa: E402
from qa.reader import SHIPPED_MODEL, Passage, Reader  # noqa: E402
from runtime.models import reader_forward  # noqa: E402
from runtime.policy import cpu_supports_fast_bf16  # noqa: E402


def five_passages(reader: Reader) -> tuple[str, list[Passage]]:
    questions = gold_questions(SQUAD_V1)
    passages: list[Passage] = []
    seen: set[str] = set()
    for question in questions:
        if question.context in seen:
            continue
        seen.add(question.context)
        ids = reader.tokenizer(question.context, add_special_tokens=False)["input_ids"]
        if 170 <= len(ids) <= 230:
            passages.append(Passage(f"p{len(passages)}", 0, question.context))
        if len(passages) == 5:
            break
    return questions[0].question, passages


def latency(reader: Reader, question: str, passages: list[Passage], runs: int) -> dict[str, float]:
    reader.run(question, passages)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        reader.run(question, passages)
        timings.append(1000 * (time.perf_counter() - started))
    return {"median_ms": round(statistics.median(timings), 1), "min_ms": round(min(timings), 1), "runs": runs}


def batching(reader: Reader, question: str, passages: list[Passage], runs: int) -> dict[str, float]:
    """Would batching 4 concurrent questions into one forward pass beat 4 separate passes?"""
    encoding = reader.tokenizer([question] * len(passages), [p.text for p in passages], truncation="only_second",
                                max_length=reader.max_length)
    ids, types = encoding["input_ids"], encoding["token_type_ids"]
    separate, together = [], []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(4):
            reader._forward(ids, types)
        separate.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        reader._forward(ids * 4, types * 4)
        together.append(1000 * (time.perf_counter() - started))
    return {"four_separate_ms": round(statistics.median(separate), 1),
            "one_batch_of_four_ms": round(statistics.median(together), 1)}


def agreement(fp32: Reader, bf16: Reader, count: int) -> dict[str, float]:
    same = 0
    questions = gold_questions(SQUAD_V1, count)
    for question in questions:
        passages = [Passage("gold", 0, question.context)]
        first = fp32.run(question.question, passages, top_k=1).spans
        second = bf16.run(question.question, passages, top_k=1).spans
        same += int(bool(first and second) and (first[0].start, first[0].end) == (second[0].start, second[0].end))
    return {"questions": len(questions), "top_span_agreement": round(same / len(questions), 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--agreement-questions", type=int, default=300)
    args = parser.parse_args()
    fp32 = Reader(forward=reader_forward(SHIPPED_MODEL, precision="fp32"))
    bf16 = Reader(forward=reader_forward(SHIPPED_MODEL, precision="bf16"))
    question, passages = five_passages(fp32)
    result = {
        "cpu_native_bf16": cpu_supports_fast_bf16(),
        "passage_tokens": [len(fp32.tokenizer(p.text, add_special_tokens=False)["input_ids"]) for p in passages],
        "fp32": latency(fp32, question, passages, args.runs),
        "bf16": latency(bf16, question, passages, max(5, args.runs // 3)),
        "batching_fp32": batching(fp32, question, passages, max(3, args.runs // 5)),
        "agreement": agreement(fp32, bf16, args.agreement_questions),
    }
    save("reader", result)


if __name__ == "__main__":
    main()
