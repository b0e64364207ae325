"""Answering on three families side by side, at one threshold: SQuAD v1.1, SQuAD v2.0 and real text.

Every change to answering is reported this way (no family may pay for another). The SQuAD families come
from `citeqa eval squad FILE --answers OUT.jsonl` (each question's best span, never withheld, and its score);
the real-text family is asked here, from `bench/data/real-text/questions.jsonl` (news, reports, manuals:
the default article, the NIST PDFs read as uploads are, and texts written for the set), each question of
its own document. For each family and threshold it reports EM and F1, no-answer accuracy, HasAns F1, the
AUC of the answer/no-answer decision, and the wrongly refused rate: of the answerable questions whose best
span is right (F1 > 0.5), the share withheld, the costliest error for a user.

    .venv/bin/python bench/families.py ask-real-text --out bench/results/answers-real-text.jsonl
    .venv/bin/python bench/families.py report v1.1=A.jsonl v2.0=B.jsonl real=C.jsonl [--threshold T ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.metrics import answerability_auc, best_over, exact_match, f1, is_right  # noqa: E402

REAL_TEXT = ROOT / "bench" / "data" / "real-text" / "questions.jsonl"


@contextlib.contextmanager
def real_text_store(questions_path: Path = REAL_TEXT, **changes: Any) -> Iterator[tuple[list[dict[str, Any]], Any,
                                                                                      dict[str, str]]]:
    """The set's questions, services (shipped settings but `changes`) over a scratch store holding every document
    they ask about, read as uploads are, and each source's document id."""
    from api.services import build_services
    from api.settings import get_settings
    from index.extract import load_path

    rows = [json.loads(line) for line in questions_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="citeqa-real-text-") as folder:
        settings = get_settings().scratch(Path(folder)).with_changes(**changes)
        services = build_services(settings)
        ids: dict[str, str] = {}
        for source in sorted({row["source"] for row in rows}):
            document = load_path(ROOT / source, settings.index.parse_limits)
            services.index.indexer.add(document)
            ids[source] = document.id
        yield rows, services, ids


def ask_real_text(out: Path, questions_path: Path = REAL_TEXT) -> None:
    with real_text_store(questions_path) as (rows, services, ids), out.open("w", encoding="utf-8") as written:
        always = services.answerer.with_threshold(0.0)
        for row in rows:
            answer = always.run(row["question"], [ids[row["source"]]])
            written.write(json.dumps({"id": row["id"], "question": row["question"], "answer": answer.answer,
                                      "score": answer.score, "gold": row["answers"],
                                      "family": row.get("family", "real"), "source": row["source"]}) + "\n")


def family_report(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """The figures of one family's answers at `threshold` (the pipeline withholds scores under it)."""
    exact, overlap, has_f1, no_right, wrongly_refused, right_best = [], [], [], [], 0, 0
    for row in rows:
        best = row["answer"]
        given = best if best is not None and row["score"] >= threshold else None
        gold = row["gold"]
        exact.append(best_over(exact_match, given or "", gold))
        overlap.append(best_over(f1, given or "", gold))
        if gold:
            has_f1.append(overlap[-1])
            if best is not None and is_right(best, gold):
                right_best += 1
                wrongly_refused += given is None
        else:
            no_right.append(float(given is None))
    answerable = [bool(row["gold"]) for row in rows]
    result: dict[str, Any] = {
        "questions": len(rows), "exact_match": 100 * sum(exact) / len(rows), "f1": 100 * sum(overlap) / len(rows),
        "has_answer_f1": 100 * sum(has_f1) / len(has_f1) if has_f1 else None,
        "no_answer_accuracy": 100 * sum(no_right) / len(no_right) if no_right else None,
        "wrongly_refused": 100 * wrongly_refused / right_best if right_best else 0.0,
        "f1_never_abstaining": 100 * sum(best_over(f1, r["answer"] or "", r["gold"]) for r in rows) / len(rows),
    }
    if any(answerable) and not all(answerable):
        result["auc"] = answerability_auc([r["score"] if r["answer"] is not None else 0.0 for r in rows], answerable)
    return result


def report(files: dict[str, Path], thresholds: list[float], split: bool = False) -> list[dict[str, Any]]:
    """Each file's figures at each threshold; with `split`, a real-text file also per kind of text."""
    table = []
    for name, path in files.items():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        groups = {name: rows}
        if split and rows and "family" in rows[0]:
            for kind in sorted({row["family"] for row in rows}):
                groups[f"{name}: {kind}"] = [row for row in rows if row["family"] == kind]
            article = [row for row in rows if "ukraine-retakes" in row.get("source", "")]
            if article:
                groups[f"{name}: the default article"] = article
        for group, members in groups.items():
            for threshold in thresholds:
                table.append({"family": group, "threshold": threshold, **family_report(members, threshold)})
    print("| family | threshold | questions | EM | F1 | HasAns F1 | no-answer acc | wrongly refused "
          "| F1 never abstaining | AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def show(value: object) -> str:
        return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)

    for row in table:
        auc = f"{row['auc']:.3f}" if "auc" in row else "-"
        print(f"| {row['family']} | {row['threshold']} | {row['questions']} | {show(row['exact_match'])} | "
              f"{show(row['f1'])} | {show(row['has_answer_f1'])} | {show(row['no_answer_accuracy'])} | "
              f"{show(row['wrongly_refused'])}% | {show(row['f1_never_abstaining'])} | {auc} |")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    asking = commands.add_parser("ask-real-text")
    asking.add_argument("--out", type=Path, required=True)
    asking.add_argument("--questions", type=Path, default=REAL_TEXT)
    reporting = commands.add_parser("report")
    reporting.add_argument("files", nargs="+", help="name=answers.jsonl")
    reporting.add_argument("--threshold", type=float, action="append", default=None)
    reporting.add_argument("--json", type=Path, default=None)
    reporting.add_argument("--split", action="store_true", help="real text also per kind of text")
    arguments = parser.parse_args()
    if arguments.command == "ask-real-text":
        ask_real_text(arguments.out, arguments.questions)
        return
    from api.settings import Settings

    files = dict(item.split("=", 1) for item in arguments.files)
    table = report({name: Path(path) for name, path in files.items()},
                   arguments.threshold or [Settings().pipeline.no_answer_threshold], arguments.split)
    if arguments.json:
        arguments.json.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
