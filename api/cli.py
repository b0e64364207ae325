"""The `citeqa` command line: serve, ask, chat, manage documents, train and evaluate the reader."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from api.console import console, errors, friendly  # noqa: E402
from api.lab_commands import app as lab_app  # noqa: E402
from api.settings import Settings, get_settings  # noqa: E402
from index.documents import DocumentError, check_encodable  # noqa: E402
from index.extract import FILE_SUFFIXES, load_path  # noqa: E402

app = typer.Typer(help="citeqa: answers from documents, with cited spans.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


# The services are imported inside the commands: `citeqa --help` and errors in arguments stay fast.
def _index(settings: Settings) -> Any:
    """The store, indexer and retriever, without the reader (document commands need no reader)."""
    from transformers.utils import logging as transformers_logging

    from api.services import build_index

    transformers_logging.disable_progress_bar()
    return build_index(settings)


def _answerer(settings: Settings) -> Any:
    from api.services import build_answerer, build_reader

    return build_answerer(settings, _index(settings), build_reader(settings))


@app.command()
@friendly
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API and the chat page."""
    import uvicorn

    from api.app import create_app
    from api.http_protocol import uvicorn_options

    settings = get_settings()
    _log_start_up_events()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", **uvicorn_options(settings.server))


def _log_start_up_events() -> None:
    """Show citeqa's own start-up lines beside uvicorn's: a first start spends half a minute building its
    optimized models while /readyz says 503, and the ready line names the backend and precision that run."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))  # uvicorn's layout
    for package in ("api", "index", "qa"):
        logger = logging.getLogger(package)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)


def _print_answer(answer: Any) -> None:
    from api.convert import where_cited

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
    where = where_cited(citation)
    console.print(Text(f"{citation.document_id}{', ' + where if where else ''} [{citation.start}:{citation.end}]",
                       style="dim"))
    console.print(marked)


@app.command()
@friendly
def ask(question: str, document: Annotated[list[str] | None, typer.Option("--document", "-d")] = None) -> None:
    """Answer one question and show the cited sentence with the answer marked."""
    # Bytes that are not UTF-8 reach argv as lone surrogates, which the tokenizer cannot take: refuse them
    # before the models load.
    check_encodable(question, "question")
    _print_answer(_answerer(get_settings()).run(question, document or None))


@app.command()
@friendly
def chat() -> None:
    """An interactive conversation; follow-ups like "what did he say?" work."""
    from qa.followup import Turn, resolve_conversation

    # Bytes that are not UTF-8 are read as lone surrogates (never a decoding error that ends the chat),
    # then refused below like any other unencodable question.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")
    answerer = _answerer(get_settings())
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
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in FILE_SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


@app.command()
@friendly
def ingest(paths: list[Path]) -> None:
    """Add or replace documents from files or folders (.pdf, .docx, .txt, .md, .html)."""
    settings = get_settings()
    documents = [load_path(path, settings.index.parse_limits) for path in _files(paths)]
    if not documents:
        raise ValueError("no .pdf, .docx, .txt, .md or .html files found")
    for document, result in zip(documents, _index(settings).indexer.run(documents, progress=len(documents) > 3),
                                strict=True):
        verb = "replaced" if result.replaced else "added"
        pages = document.layout.pages
        paged = f", {len(pages)} pages" if pages else ""
        console.print(f"{verb} {result.document_id} ({document.source_type}{paged}): {result.chunk_count} chunks, "
                      f"{result.sentence_count} sentences")
        empty = document.layout.pages_without_text
        if empty:
            console.print(f"[yellow]pages without text (not searchable; citeqa does not run OCR): "
                          f"{', '.join(map(str, empty))}[/yellow]")


@app.command()
@friendly
def documents() -> None:
    """List stored documents."""
    summaries = _index(get_settings()).store.list_documents()
    table = Table("title", "characters", "chunks")
    table.add_column("id", no_wrap=True, min_width=max((len(s.id) for s in summaries), default=2))
    for summary in summaries:
        table.add_row(summary.title, str(summary.characters), str(summary.chunk_count), summary.id)
    console.print(table)


@app.command()
@friendly
def delete(document_id: str) -> None:
    """Delete a document and its passages."""
    _index(get_settings()).store.delete(document_id)
    console.print(f"deleted {document_id}")


@app.command()
@friendly
def search(query: str, k: int = 5, mode: str = "hybrid") -> None:
    """Show the top chunks with offsets and dense, lexical and fused scores."""
    for hit in _index(get_settings()).retriever.run(query, top_k=k, mode=mode):
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


@app.command()
@friendly
def optimize(
    reader: Annotated[Path | None, typer.Option(help="reader model folder (default: the configured one)")] = None,
) -> None:
    """Derive the OpenVINO reader and embedder from their weights into the model cache (once per weights): int8
    where the CPU has int8 dot products (or CITEQA_INFERENCE_DTYPE=int8), the float models elsewhere."""
    import time

    from qa.reader import SHIPPED_MODEL
    from runtime.models import EMBEDDER, READER, optimized_embedder, optimized_reader
    from runtime.policy import resolve_precision

    settings = get_settings()
    serving = settings.reader.backend == "openvino"
    precision = settings.reader.precision if serving else resolve_precision("openvino", "auto")
    for kind, build in (
        (READER, lambda: optimized_reader(reader or settings.reader.path or SHIPPED_MODEL, settings.optimized_dir,
                                            precision)),
        (EMBEDDER, lambda: optimized_embedder(settings.index.embedder_path, settings.optimized_dir, precision)),
    ):
        started = time.perf_counter()
        xml = build()
        console.print(f"{kind} ({precision}): {xml.parent} ({time.perf_counter() - started:.1f} s)")
    if not serving:
        console.print("[dim]serving runs torch here (this CPU lacks AVX2, or CITEQA_INFERENCE_BACKEND says so); "
                      "CITEQA_INFERENCE_BACKEND=openvino uses these models[/dim]")


app.add_typer(lab_app)  # train-reader, calibrate-reader, calibrate-verifier, eval reader|squad, distil STEP
