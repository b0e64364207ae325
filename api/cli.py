"""The `citeqa` command line: serve, ask, chat, manage documents, train and evaluate the reader."""

from __future__ import annotations

import functools
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from api.settings import Settings, get_settings  # noqa: E402
from index.base import StoreMismatchError, UnknownDocumentError  # noqa: E402
from index.documents import SUPPORTED_SUFFIXES, DocumentError, check_encodable, load_file  # noqa: E402

app = typer.Typer(help="citeqa: answers from documents, with cited spans.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
eval_app = typer.Typer(help="Measure the reader and the whole pipeline.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(command: F) -> F:
    """Print known failures as one clear line and exit 1, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationError as error:
            errors.print(f"[red]error:[/red] {_problems(error)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except (DocumentError, StoreMismatchError, UnknownDocumentError, FileNotFoundError, ValueError,
                PermissionError, IsADirectoryError) as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _problems(error: ValidationError) -> str:
    """One line naming each bad setting by its environment variable, not pydantic's multi-line report."""
    if not error.title.endswith("Settings"):
        return str(error)
    named = []
    for problem in error.errors():
        name = str(problem["loc"][-1]).upper() if problem["loc"] else ""
        variable = name if name.startswith("CITEQA_") else f"CITEQA_{name}"
        message = str(problem["msg"]).removeprefix("Value error, ")
        named.append(message if variable in message else f"{variable}: {message}")
    return "; ".join(named)


def open_index(settings: Settings | None = None) -> Any:
    """The store, indexer and retriever, without the reader (document commands need no reader)."""
    from transformers.utils import logging as transformers_logging

    from api.services import build_index

    transformers_logging.disable_progress_bar()
    return build_index(settings or get_settings())


def build_answerer(settings: Settings | None = None) -> Any:
    from api.services import build_answerer as build
    from api.services import build_reader

    settings = settings or get_settings()
    return build(settings, open_index(settings), build_reader(settings))


@app.command()
@friendly
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API and the chat page."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    # limit_concurrency caps open connections and requests in progress together (past it uvicorn answers a
    # plain-text 503); the graceful timeout lets answers in progress finish on shutdown, then cancels them.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                limit_concurrency=settings.server.limit_concurrency or None,
                timeout_graceful_shutdown=settings.server.graceful_shutdown_seconds)


def _print_answer(answer: Any) -> None:
    if answer.answer is None:
        console.print("[yellow]The documents do not answer this.[/yellow]")
        if answer.citations:
            console.print(Text(f"Closest passage ({answer.citations[0].document_id}): "
                               f"{answer.citations[0].passage.text}"))
        return
    citation = answer.citations[0]
    evidence = citation.passage
    marked = Text(evidence.text)
    marked.stylize("bold reverse", citation.start - evidence.start, citation.end - evidence.start)
    console.print(Text(answer.answer, style="bold green"), Text(f"(score {answer.score:.2f})", style="dim"))
    console.print(Text(f"{citation.document_id} [{citation.start}:{citation.end}]", style="dim"))
    console.print(marked)


@app.command()
@friendly
def ask(question: str, document: Annotated[list[str] | None, typer.Option("--document", "-d")] = None) -> None:
    """Answer one question and show the cited sentence with the answer marked."""
    # Bytes that are not UTF-8 reach argv as lone surrogates, which the tokenizer cannot take: refuse them
    # before the models load.
    check_encodable(question, "question")
    _print_answer(build_answerer().run(question, document or None))


@app.command()
@friendly
def chat() -> None:
    """An interactive conversation; follow-ups like "what did he say?" work."""
    from qa.followup import Turn, resolve_conversation

    # Bytes that are not UTF-8 are read as lone surrogates (never a decoding error that ends the chat),
    # then refused below like any other unencodable question.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")
    answerer = build_answerer()
    history: list[Turn] = []
    console.print("Ask about the documents (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = console.input("[bold]you>[/bold] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not question:
            break
        try:
            check_encodable(question, "question")
        except DocumentError as error:  # one bad line does not end the conversation
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            continue
        standalone = resolve_conversation(question, history)  # as /v1/chat resolves it
        if standalone != question:
            console.print(Text(f"(answering: {standalone})", style="dim"))
        answer = answerer.run(standalone)
        _print_answer(answer)
        history.append(Turn(question, answer.answer))


def _files(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


@app.command()
@friendly
def ingest(paths: list[Path]) -> None:
    """Add or replace documents from files or folders (.txt, .md, .html)."""
    settings = get_settings()
    documents = [load_file(path, max_chars=settings.index.max_document_chars) for path in _files(paths)]
    if not documents:
        raise ValueError("no .txt, .md or .html files found")
    for result in open_index(settings).indexer.run(documents, progress=len(documents) > 3):
        verb = "replaced" if result.replaced else "added"
        console.print(f"{verb} {result.document_id}: {result.chunk_count} chunks, {result.sentence_count} sentences")


@app.command()
@friendly
def documents() -> None:
    """List stored documents."""
    summaries = open_index().store.list_documents()
    table = Table("title", "characters", "chunks")
    table.add_column("id", no_wrap=True, min_width=max((len(s.id) for s in summaries), default=2))
    for summary in summaries:
        table.add_row(summary.title, str(summary.characters), str(summary.chunk_count), summary.id)
    console.print(table)


@app.command()
@friendly
def delete(document_id: str) -> None:
    """Delete a document and its passages."""
    open_index().store.delete(document_id)
    console.print(f"deleted {document_id}")


@app.command()
@friendly
def search(query: str, k: int = 5, mode: str = "hybrid") -> None:
    """Show the top chunks with offsets and dense, lexical and fused scores."""
    for hit in open_index().retriever.run(query, top_k=k, mode=mode):
        dense = f"{hit.dense_score:.3f}" if hit.dense_score is not None else "-"
        lexical = f"{hit.lexical_score:.2f}" if hit.lexical_score is not None else "-"
        console.print(Text(f"{hit.document_id} [{hit.start}:{hit.end}] fused {hit.fused_score:.4f} "
                           f"dense {dense} bm25 {lexical}", style="bold"))
        console.print(Text(hit.text[:300] + ("..." if len(hit.text) > 300 else "")))


@app.command()
@friendly
def rebuild() -> None:
    """Re-chunk and re-embed every document with the current settings."""
    from api.services import build_index

    count = build_index(get_settings(), rebuilding=True).indexer.rebuild()
    console.print(f"rebuilt {count} documents")


NEGATIVE_HELP = {  # odds, per question with an answer, of adding each kind of "no answer" example
    "sibling": "odds of a random other paragraph of the article as a no-answer example",
    "retrieved": "odds of the other paragraph BM25 ranks first for the question, as a no-answer example",
    "answer_removed": "odds of the question's own paragraph without the sentences holding the answer",
    "entity_swapped": "odds of the question with a name or number swapped for one its paragraph lacks",
    "negated": "odds of the question with its auxiliary verb negated, over its own paragraph",
    "antonym": "odds of the question with a word swapped for an antonym its paragraph lacks",
}


@app.command("train-reader")
@friendly
def train_reader(
    data: Annotated[Path, typer.Option(help="SQuAD v1.1-format training file (.json or .json.gz)")],
    output: Annotated[Path, typer.Option(help="folder for checkpoints and exported model")] = Path("runs/reader"),
    max_length: int = 256, stride: int = 128, batch_size: int = 24, learning_rate: float = 1e-4,
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

    from qa.reader import cpu_supports_fast_bf16
    from qa.training import NegativeMix, TrainConfig
    from qa.training import train_reader as run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # one "Building index" line per article otherwise
    use_bf16 = bf16 if bf16 is not None else (torch.cuda.is_available() or cpu_supports_fast_bf16())
    base = base_model or init_from or get_settings().index.embedder_path
    final = run_training(TrainConfig(
        data_path=data, output_dir=output, base_model=base, max_length=max_length, stride=stride,
        batch_size=batch_size, learning_rate=learning_rate, epochs=epochs, max_examples=max_examples,
        negatives=NegativeMix(negative_ratio, retrieved_negative_ratio, answer_removed_ratio, entity_swapped_ratio,
                              negated_ratio, antonym_ratio),
        skip_examples=skip_examples, time_budget_minutes=time_budget_minutes, seed=seed, device=device,
        bf16=use_bf16, resume=resume, unanswerable_data=unanswerable_data,
        unanswerable_repeat=unanswerable_repeat, hold_out_articles=tuple(hold_out_article or ()),
    ))
    console.print(f"exported {final}")


def _reader(path: Path | None, dtype: str) -> Any:
    from qa.reader import Reader

    return Reader(path or get_settings().reader.path, dtype=dtype)


@eval_app.command("reader")
@friendly
def eval_reader(
    gold_paragraph: Annotated[Path, typer.Option("--gold-paragraph", help="SQuAD v1.1/v2.0 file")],
    limit: int | None = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
    reader: Annotated[Path | None, typer.Option(help="reader model folder (default: shipped)")] = None,
    dtype: str = "auto",
    threshold: Annotated[float | None, typer.Option(help="no-answer threshold for v2.0 files")] = None,
) -> None:
    """Exact match and F1 of the reader with each question's own paragraph."""
    from qa.evaluation import gold_questions, predict, score

    questions = gold_questions(gold_paragraph, limit)
    model = _reader(reader, dtype)
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("reading", total=len(questions))
        predictions = predict(model, questions, lambda n: progress.update(task, completed=n))
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
) -> None:
    """Ingest each article as one document into a temporary store and ask every question."""
    from qa.end_to_end import answer_all, ingest_articles, load_articles, pipeline_report, retrieval_recall

    documents, questions = load_articles(file)
    if limit:  # the other articles cannot change the answers: every question is restricted to its own
        questions = questions[:limit]
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
            task = progress.add_task("answering", total=len(questions))
            rows = answer_all(answerer, questions, lambda n: progress.update(task, completed=n))
        result = pipeline_report(rows, settings.pipeline.no_answer_threshold if threshold is None else threshold)
        if recall:
            for mode, values in retrieval_recall(services.index.retriever, questions).items():
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
) -> None:
    """Fit the score calibration (Platt scaling) on held-out training examples (same negatives as training)."""
    from dataclasses import asdict

    from qa.evaluation import fit_calibration, held_out_questions, predict
    from qa.reader import CALIBRATION_FILE, Reader
    from qa.training import NegativeMix

    mix = NegativeMix(negative_ratio, retrieved_negative_ratio, answer_removed_ratio, entity_swapped_ratio,
                      negated_ratio, antonym_ratio)
    questions = held_out_questions(data, mix, seed, skip, count)
    model = Reader(reader, dtype="fp32")
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("reading", total=len(questions))
        predictions = predict(model, questions, lambda n: progress.update(task, completed=n))
    calibration = fit_calibration(predictions)
    record = {**asdict(calibration), "fitted_on": f"{len(questions)} held-out examples of {data.name} "
              f"(after the first {skip}; negatives: {mix.describe()}; seed {seed})"}
    (reader / CALIBRATION_FILE).write_text(json.dumps(record, indent=2))
    console.print(f"calibration: {record}")

