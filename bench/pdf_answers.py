"""Answers on the two real NIST PDFs as a user meets them: both uploaded to one store with the shipped
settings, every question in tests/fixtures/pdf/questions.jsonl asked over all documents.

Reports SQuAD-style EM/F1 (unanswerable questions count right when withheld), F1 on the answerable ones,
the share of answerable questions refused, and how often the cited page is right among those answered.

    .venv/bin/python bench/pdf_answers.py [--json bench/results/pdf_answers.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.services import build_answerer, build_index, build_reader  # noqa: E402
from api.settings import Settings  # noqa: E402
from index.extract import load_path  # noqa: E402
from lab.pdf_questions import evaluate, read_questions  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "pdf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threshold", type=float, default=None, help="another no-answer threshold (0: never abstain)")
    parser.add_argument("--questions", type=Path, default=FIXTURES / "questions.jsonl",
                        help="a question file (lab/pdf_questions.py's format) on PDFs in --pdfs")
    parser.add_argument("--pdfs", type=Path, default=FIXTURES, help="the folder of the questions' PDFs")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings().scratch(Path(folder))
        index = build_index(settings)
        reader = build_reader(settings)
        reader.warm_up()
        answerer = build_answerer(settings, index, reader)
        if arguments.threshold is not None:
            answerer = answerer.with_threshold(arguments.threshold)
        questions = read_questions(arguments.questions)
        ids = {}
        for name in sorted({q.file for q in questions}):
            document = load_path(arguments.pdfs / name, settings.index.parse_limits)
            index.indexer.add(document)
            ids[name] = document.id
        results = {"all documents": evaluate(lambda q: answerer.run(q.question), questions)}
        for name in sorted(ids):
            subset = [q for q in questions if q.file == name]
            results[name] = evaluate(lambda q: answerer.run(q.question, [ids[q.file]]), subset)
        index.store.close()
    print(f"backend {settings.reader.backend} ({settings.reader.precision}); threshold {answerer.threshold}")
    print("| asked over | questions | EM | F1 | answerable F1 | no-answer accuracy | refused answerable | "
          "cited page right: of answered / of right answers |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['count']} | {r['exact_match']:.1f} | {r['f1']:.1f} | {r['has_answer_f1']:.1f} | "
              f"{r['no_answer_accuracy']:.1f} | {r['refused_answerable']:.1f}% | {r['page_right']:.1f}% of "
              f"{r['answered']} / {r['page_right_when_right']:.1f}% of {r['right']} |")
    for r in results["all documents"]["wrong_pages"]:
        print("wrong page:", r)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
