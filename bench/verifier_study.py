"""Study the answer verifier offline: read every question once, then refit and score in seconds.

The verifier's features are computed from what the pipeline read (hits and voted spans), not from the
reader itself, so a change to a feature or to what the verifier is fitted on needs no new reading. `read`
asks every question of the training file (with its off-topic copies, as `citeqa calibrate-verifier` does)
and of the three reporting families (SQuAD v1.1, SQuAD v2.0, real text) once, at the shipped settings, and
pickles each `Reading`. `study` computes the features with today's `qa.verifier`, fits the verifier as
`calibrate-verifier` does, picks the threshold by the families rule (`lab.end_to_end.best_pipeline_threshold`
with each family's floor) and prints the three families side by side (`bench/families.py`'s figures).

    .venv/bin/python bench/verifier_study.py read /tmp/readings
    .venv/bin/python bench/verifier_study.py study /tmp/readings [--floors 72.41 57.76 74.17] [--sweep]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SQUAD_V1, SQUAD_V2  # noqa: E402
from bench.families import family_report, real_text_store  # noqa: E402

TRAIN = ROOT.parent / "shared" / "data" / "squad-v2.0-dev-train-split.json"
# SQuAD v1.1 train (answerable questions only), its first articles: what fitting on more than SQuAD 2.0 does.
TRAIN_V1 = ROOT.parent / "shared" / "data" / "squad-train-v1.1.json.gz"
TRAIN_V1_ARTICLES = 15
FAMILIES = ("v1.1", "v2.0", "real")
SWEEP = [step / 100 for step in range(5, 41)]


def _read_squad(path: Path, off_topic: bool, max_articles: int | None = None) -> list[dict[str, Any]]:
    from api.services import build_services
    from api.settings import get_settings
    from lab.end_to_end import ingest_articles, load_articles
    from lab.verifier import off_topic_questions

    documents, questions = load_articles(path, max_articles)
    if off_topic:
        questions += off_topic_questions(questions)
    with tempfile.TemporaryDirectory(prefix="citeqa-study-") as folder:
        settings = get_settings().scratch(Path(folder)).with_changes(pipeline={"verify_answers": False})
        services = build_services(settings)
        ingest_articles(services.index.indexer, documents)
        return [{"id": q.id, "question": q.question, "gold": q.answers, "family": path.stem, "source": q.document_id,
                 "reading": services.answerer.read(q.question, [q.document_id])} for q in questions]


def _read_real_text() -> list[dict[str, Any]]:
    with real_text_store(pipeline={"verify_answers": False}) as (rows, services, ids):
        return [{"id": row["id"], "question": row["question"], "gold": row["answers"],
                 "family": row.get("family", "real"), "source": row["source"],
                 "reading": services.answerer.read(row["question"], [ids[row["source"]]])} for row in rows]


def read(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("real", _read_real_text), ("train", lambda: _read_squad(TRAIN, True)),
                       ("train-v1", lambda: _read_squad(TRAIN_V1, True, TRAIN_V1_ARTICLES)),
                       ("v1.1", lambda: _read_squad(SQUAD_V1, False)), ("v2.0", lambda: _read_squad(SQUAD_V2, False))):
        if not (out / f"{name}.pkl").exists():
            (out / f"{name}.pkl").write_bytes(pickle.dumps(rows()))
            print(f"read {name}", flush=True)


def _scored(rows: list[dict[str, Any]], verifier: Any) -> list[dict[str, Any]]:
    from qa.verifier import answer_features

    scored = []
    for row in rows:
        spans = row["reading"].output.spans
        answer = spans[0].text if spans else None
        score = verifier.probability(answer_features(row["question"], spans, row["reading"].hits)) if spans else 0.0
        scored.append({**{k: v for k, v in row.items() if k != "reading"}, "answer": answer, "score": score})
    return scored


def _sweep(scored: dict[str, list[dict[str, Any]]]) -> None:
    """Each family's F1 and the AUC of 'the best span is right' (all questions) over a range of thresholds."""
    from lab.metrics import answerability_auc, is_right

    for name in FAMILIES:
        rows = scored[name]
        right = [r["answer"] is not None and bool(r["gold"]) and is_right(r["answer"], r["gold"]) for r in rows]
        print(f"{name}: AUC of right answers {answerability_auc([r['score'] for r in rows], right):.4f}")
    print("threshold " + " ".join(f"{name:>6}" for name in FAMILIES) + "   mean")
    for threshold in SWEEP:
        figures = [family_report(scored[name], threshold)["f1"] for name in FAMILIES]
        print(f"{threshold:9.2f} " + " ".join(f"{f:6.2f}" for f in figures) + f" {sum(figures) / 3:6.2f}")


def study(folder: Path, floors: list[float], shipped: bool, c: float | None, train: list[str],
          sweep: bool = False, fixed: float | None = None) -> None:
    import numpy as np

    from lab.end_to_end import ArticleQuestion, PipelineRow, best_pipeline_threshold
    from lab.verifier import REGULARISATION_C, fit_verifier, verifier_example
    from qa.reader import SHIPPED_MODEL
    from qa.verifier import Verifier

    data = {name: pickle.loads((folder / f"{name}.pkl").read_bytes()) for name in (*train, *FAMILIES)}
    if shipped:
        verifier = Verifier.load(SHIPPED_MODEL)
    else:
        found = (verifier_example(ArticleQuestion(r["id"], r["source"], r["question"], r["gold"], []), r["reading"])
                 for name in train for r in data[name])
        examples = [example for example in found if example is not None]
        verifier = fit_verifier(examples, REGULARISATION_C if c is None else c)
        print(json.dumps(dict(zip(json.loads(verifier.to_json(""))["features"], np.round(verifier.coef, 3).tolist(),
                                  strict=True))))
    scored = {name: _scored(data[name], verifier) for name in FAMILIES}
    files = [[PipelineRow(ArticleQuestion(r["id"], r["source"], r["question"], r["gold"], []), r["answer"], r["score"])
              for r in scored[name]] for name in FAMILIES]
    threshold = best_pipeline_threshold(files, list[float | None](floors))
    print(f"threshold {threshold}")
    if sweep:
        _sweep(scored)
    threshold = fixed if fixed is not None else threshold
    groups = {name: scored[name] for name in FAMILIES}
    for kind in sorted({r["family"] for r in scored["real"]}):
        groups[f"real: {kind}"] = [r for r in scored["real"] if r["family"] == kind]
    groups["real: the default article"] = [r for r in scored["real"] if "ukraine-retakes" in r["source"]]
    print("| family | EM | F1 | HasAns F1 | no-answer acc | wrongly refused | F1 never abstaining | AUC |")
    for name, rows in groups.items():
        figures = family_report(rows, threshold)
        shown = [figures["exact_match"], figures["f1"], figures["has_answer_f1"], figures["no_answer_accuracy"],
                 figures["wrongly_refused"], figures["f1_never_abstaining"], figures.get("auc")]
        print(f"| {name} | " + " | ".join("-" if v is None else f"{v:.3f}" if v < 1 else f"{v:.1f}"
                                          for v in shown) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    reading = commands.add_parser("read")
    reading.add_argument("folder", type=Path)
    studying = commands.add_parser("study")
    studying.add_argument("folder", type=Path)
    studying.add_argument("--floors", type=float, nargs=3, default=[72.41, 57.76, 74.17],
                          help="each family's F1 before the change (v1.1, v2.0, real)")
    studying.add_argument("--shipped", action="store_true", help="score with the shipped verifier, no refit")
    studying.add_argument("--c", type=float, default=None, help="default: lab.verifier.REGULARISATION_C")
    studying.add_argument("--sweep", action="store_true", help="also each family's F1 over thresholds")
    studying.add_argument("--threshold", type=float, default=None, help="report at this threshold")
    studying.add_argument("--direction", nargs="*", default=[], help="name=sign: fit a feature to another sign")
    studying.add_argument("--fine", type=float, nargs=2, default=None, help="sweep from A to B by 0.002")
    studying.add_argument("--train", nargs="+", default=["train"], help="the read sets to fit on")
    arguments = parser.parse_args()
    if arguments.command == "read":
        read(arguments.folder)
        return
    from qa.verifier import DIRECTION

    if arguments.fine:
        low, high = arguments.fine
        SWEEP[:] = [round(low + step * 0.002, 3) for step in range(int((high - low) / 0.002) + 1)]
    for item in arguments.direction:
        name, sign = item.split("=")
        DIRECTION[name] = int(sign)  # the dict lab.verifier.fit_verifier reads
    study(arguments.folder, arguments.floors, arguments.shipped, arguments.c, arguments.train, arguments.sweep,
          arguments.threshold)


if __name__ == "__main__":
    main()
