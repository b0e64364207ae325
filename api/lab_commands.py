"""The lab's `citeqa` commands: train-reader, calibrate-reader, calibrate-verifier, eval, distil."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from api.console import console, errors, friendly
from api.settings import get_settings
from lab.distil_commands import app as distil_app

app = typer.Typer()  # its commands join citeqa's top level (api/cli.py adds it without a name)
eval_app = typer.Typer(help="Measure the reader and the whole pipeline.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(distil_app, name="distil")  # lab/distil_commands.py: it also runs without api/ on a GPU machine

NEGATIVE_HELP = {  # odds, per question with an answer, of adding each kind of "no answer" example
    "sibling": "odds of a random other paragraph of the article as a no-answer example",
    "retrieved": "odds of the other paragraph BM25 ranks first for the question, as a no-answer example",
    "answer_removed": "odds of the question's own paragraph without the sentences holding the answer",
    "entity_swapped": "odds of the question with a name or number swapped for one its paragraph lacks",
    "negated": "odds of the question with its auxiliary verb negated, over its own paragraph",
    "antonym": "odds of the question with a word swapped for an antonym its paragraph lacks",
}


def _progress(progress: Progress, what: str, total: int) -> Callable[[int], None]:
    task = progress.add_task(what, total=total)
    return lambda done: progress.update(task, completed=done)


@app.command("train-reader")
@friendly
def train_reader(
    data: Annotated[Path, typer.Option(help="SQuAD v1.1-format training file (.json or .json.gz)")],
    output: Annotated[Path, typer.Option(help="folder for checkpoints and exported model")] = Path("runs/reader"),
    max_length: Annotated[int | None, typer.Option(help="tokens per window (default: the reader setting)")] = None,
    stride: Annotated[int | None, typer.Option(help="window overlap (default: the reader setting)")] = None,
    batch_size: int = 24, learning_rate: float = 1e-4,
    epochs: float = 1.0, max_examples: int | None = None,
    negative_ratio: Annotated[float, typer.Option(help=NEGATIVE_HELP["sibling"])] = 0.1,
    retrieved_negative_ratio: Annotated[float, typer.Option(help=NEGATIVE_HELP["retrieved"])] = 0.0,
    answer_removed_ratio: Annotated[float, typer.Option(help=NEGATIVE_HELP["answer_removed"])] = 0.0,
    entity_swapped_ratio: Annotated[float, typer.Option(help=NEGATIVE_HELP["entity_swapped"])] = 0.0,
    negated_ratio: Annotated[float, typer.Option(help=NEGATIVE_HELP["negated"])] = 0.0,
    antonym_ratio: Annotated[float, typer.Option(help=NEGATIVE_HELP["antonym"])] = 0.0,
    unanswerable_data: Annotated[Path | None, typer.Option(
        help="SQuAD 2.0-format file with real unanswerable questions, added to --data")] = None,
    unanswerable_repeat: Annotated[int, typer.Option(help="times the --unanswerable-data examples are repeated")] = 1,
    hold_out_article: Annotated[list[str] | None, typer.Option(
        help="title of an --unanswerable-data article to leave out (repeatable)")] = None,
    skip_examples: Annotated[int, typer.Option(help="skip the first N shuffled examples (seen before)")] = 0,
    time_budget_minutes: float | None = None, seed: int = 13, device: str = "auto",
    bf16: Annotated[bool | None, typer.Option(help="bf16 autocast (default: where it runs natively)")] = None,
    base_model: Path | None = None,
    resume: Annotated[Path | None, typer.Option(help="checkpoint.pt to resume from")] = None,
    init_from: Annotated[Path | None, typer.Option(help="start from these reader weights instead")] = None,
) -> None:
    """Fine-tune the extractive reader (resumable; checkpoints every few minutes)."""
    import logging

    import torch

    from lab.negatives import NegativeMix
    from lab.training import TrainConfig
    from lab.training import train_reader as run_training
    from runtime.policy import cpu_supports_fast_bf16

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # one "Building index" line per article otherwise
    use_bf16 = bf16 if bf16 is not None else (torch.cuda.is_available() or cpu_supports_fast_bf16())
    settings = get_settings()
    base = base_model or init_from or settings.index.embedder_path
    final = run_training(TrainConfig(
        data_path=data, output_dir=output, base_model=base, max_length=max_length or settings.reader.max_length,
        stride=settings.reader.stride if stride is None else stride,
        batch_size=batch_size, learning_rate=learning_rate, epochs=epochs, max_examples=max_examples,
        negatives=NegativeMix(negative_ratio, retrieved_negative_ratio, answer_removed_ratio, entity_swapped_ratio,
                              negated_ratio, antonym_ratio),
        skip_examples=skip_examples, time_budget_minutes=time_budget_minutes, seed=seed, device=device,
        bf16=use_bf16, resume=resume, unanswerable_data=unanswerable_data,
        unanswerable_repeat=unanswerable_repeat, hold_out_articles=tuple(hold_out_article or ()),
    ))
    console.print(f"exported {final}")


BACKEND_HELP = "torch (the weights as trained) or openvino (the model `citeqa optimize` derives: int8, or float)"


def _reader(path: Path | None, dtype: str, backend: str | None = None) -> Any:
    """The reader as the service builds it (window, stride, cache), with this model folder, dtype and backend."""
    from api.services import build_reader

    settings = get_settings()
    changes = {"dtype": dtype, "backend": backend or settings.reader.backend}
    return build_reader(settings.with_changes(reader=changes), path)


@eval_app.command("reader")
@friendly
def eval_reader(
    gold_paragraph: Annotated[Path, typer.Option("--gold-paragraph", help="SQuAD v1.1/v2.0 file")],
    limit: int | None = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
    reader: Annotated[Path | None, typer.Option(help="reader model folder (default: shipped)")] = None,
    dtype: str = "auto",
    threshold: Annotated[float | None, typer.Option(help="no-answer threshold for v2.0 files")] = None,
    backend: Annotated[str | None, typer.Option(help=BACKEND_HELP + " (default: the setting)")] = None,
) -> None:
    """Exact match and F1 of the reader with each question's own paragraph."""
    from lab.evaluation import gold_questions, predict, score

    questions = gold_questions(gold_paragraph, limit)
    model = _reader(reader, dtype, backend)
    with Progress(console=errors, transient=True) as progress:
        predictions = predict(model, questions, _progress(progress, "reading", len(questions)))
    has_impossible = any(not q.answers for q in questions)
    result = score(predictions, threshold if threshold is not None else (
        get_settings().pipeline.no_answer_threshold if has_impossible else None))
    _report(result, json_output)


def _report(result: dict[str, Any], json_output: bool) -> None:
    if not json_output:
        for key, value in result.items():
            if key != "curve":
                console.print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
        if "curve" in result:
            table = Table("threshold", "no-answer accuracy", "HasAns F1", "F1", "answered %",
                          title="accuracy / coverage")
            for row in result["curve"]:
                table.add_row(*(f"{row[key]:.1f}" if key != "threshold" else f"{row[key]:.2f}"
                                for key in ("threshold", "no_answer_accuracy", "has_answer_f1", "f1", "coverage")))
            console.print(table)
    print(json.dumps(result), flush=True)


@eval_app.command("squad")
@friendly
def eval_squad(
    file: Path,
    limit: int | None = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
    recall: Annotated[bool, typer.Option(help="also measure retrieval recall@1/5/10 per search mode")] = True,
    reader: Annotated[Path | None, typer.Option(help="reader model folder (default: the configured one)")] = None,
    threshold: Annotated[float | None, typer.Option(help="no-answer threshold (default: the setting)")] = None,
    answers: Annotated[Path | None, typer.Option(help="write each question's best span and score here (JSONL)")] = None,
    whole_store: Annotated[bool, typer.Option(help="ask every question of all the articles, not only its own")] = False,
) -> None:
    """Ingest each article as one document into a temporary store and ask every question (of its own article,
    or with `--whole-store` of all of them, as a user who names no document)."""
    from lab.end_to_end import answer_all, ingest_articles, load_articles, pipeline_report, retrieval_recall

    documents, questions = load_articles(file)
    if limit:
        questions = questions[:limit]
        if not whole_store:  # the other articles cannot change the answers: each question asks its own
            asked = {question.document_id for question in questions}
            documents = [document for document in documents if document[0] in asked]
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="citeqa-eval-") as folder:
        from api.services import build_services

        scratch = settings.scratch(Path(folder)).with_changes(reader={"path": reader or settings.reader.path})
        services = build_services(scratch)
        answerer = services.answerer
        ingest_articles(services.index.indexer, documents)
        with Progress(console=errors, transient=True) as progress:
            rows = answer_all(answerer, questions, _progress(progress, "answering", len(questions)), whole_store)
        result = pipeline_report(rows, settings.pipeline.no_answer_threshold if threshold is None else threshold)
        if recall:
            for mode, values in retrieval_recall(services.index.retriever, questions, whole_store=whole_store).items():
                for name, value in values.items():
                    result[f"{mode}_{name}"] = value
    if answers is not None:
        with answers.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps({"id": row.question.id, "question": row.question.question, "answer": row.answer,
                                      "score": row.score, "gold": row.question.answers}) + "\n")
    _report(result, json_output)


@app.command("calibrate-reader")
@friendly
def calibrate_reader(
    data: Annotated[Path, typer.Option(help="SQuAD training file the reader was trained on")],
    reader: Annotated[Path, typer.Option(help="reader model folder to calibrate (calibration.json is written)")],
    skip: Annotated[int, typer.Option(help="examples the reader trained on (held-out ones follow)")] = 0,
    count: int = 2000, negative_ratio: float = 0.1, retrieved_negative_ratio: float = 0.0,
    answer_removed_ratio: float = 0.0, entity_swapped_ratio: float = 0.0, negated_ratio: float = 0.0,
    antonym_ratio: float = 0.0, seed: int = 13,
    backend: Annotated[str, typer.Option(
        help=BACKEND_HELP + "; openvino calibrates its int8 model (calibration-openvino.json)")] = "torch",
) -> None:
    """Fit the score calibration (Platt scaling) on held-out training examples (same negatives as training)."""
    from dataclasses import asdict

    from lab.calibration import fit_calibration, held_out_questions
    from lab.evaluation import predict
    from lab.negatives import NegativeMix
    from qa.reader import CALIBRATION_FILE, OPENVINO_CALIBRATION_FILE

    mix = NegativeMix(negative_ratio, retrieved_negative_ratio, answer_removed_ratio, entity_swapped_ratio,
                      negated_ratio, antonym_ratio)
    questions = held_out_questions(data, mix, seed, skip, count)
    model = _reader(reader, "int8" if backend == "openvino" else "fp32", backend)
    with Progress(console=errors, transient=True) as progress:
        predictions = predict(model, questions, _progress(progress, "reading", len(questions)))
    calibration = fit_calibration(predictions)
    record = {**asdict(calibration), "fitted_on": f"{len(questions)} held-out examples of {data.name} "
              f"(after the first {skip}; negatives: {mix.describe()}; seed {seed})", "backend": backend}
    name = OPENVINO_CALIBRATION_FILE if backend == "openvino" else CALIBRATION_FILE
    (reader / name).write_text(json.dumps(record, indent=2))
    console.print(f"calibration: {record}")



@app.command("calibrate-verifier")
@friendly
def calibrate_verifier(
    data: Annotated[list[Path], typer.Option(help="SQuAD 2.0-format file(s) with unanswerable questions, never "
                                                  "used for evaluation")],
    reader: Annotated[Path | None, typer.Option(help="reader model folder (verifier.json is written there; "
                                                     "default: the configured reader)")] = None,
    c: Annotated[float | None, typer.Option(help="inverse regularisation strength of the logistic fit "
                                                 "(default: lab.verifier.REGULARISATION_C)")] = None,
    off_topic_every: Annotated[int, typer.Option(help="also ask every n-th question of another article, where it "
                                                      "has no answer (0: never)")] = 5,
) -> None:
    """Fit the answer verifier: ask every question of its own article, learn which best spans are right."""
    from api.services import build_services
    from lab.end_to_end import ingest_articles, load_articles
    from lab.verifier import REGULARISATION_C, fit_verifier, off_topic_questions, verifier_examples
    from qa.reader import SHIPPED_MODEL
    from qa.verifier import VERIFIER_FILE

    settings = get_settings()
    folder = reader or settings.reader.path or SHIPPED_MODEL
    examples = []
    for path in data:
        documents, questions = load_articles(path)
        questions += off_topic_questions(questions, off_topic_every)
        with tempfile.TemporaryDirectory(prefix="citeqa-verifier-") as scratch_dir:
            # The verifier is off while its examples are read: their features never depend on an older fit.
            scratch = settings.scratch(Path(scratch_dir)).with_changes(reader={"path": folder},
                                                                      pipeline={"verify_answers": False})
            services = build_services(scratch)
            ingest_articles(services.index.indexer, documents)
            with Progress(console=errors, transient=True) as progress:
                examples += verifier_examples(services.answerer, questions,
                                              _progress(progress, f"reading {path.name}", len(questions)))
    c = REGULARISATION_C if c is None else c
    verifier = fit_verifier(examples, c)
    right = sum(example.right for example in examples)
    off_topic = f", every {off_topic_every}th also of the next article" if off_topic_every else ""
    fitted_on = (f"{len(examples)} questions of {', '.join(p.name for p in data)} asked of their whole "
                 f"article{off_topic} ({right} best spans right; logistic regression, C={c})")
    (folder / VERIFIER_FILE).write_text(verifier.to_json(fitted_on))
    console.print(f"verifier written to {folder / VERIFIER_FILE}: {fitted_on}")
