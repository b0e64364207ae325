"""The citeqa command line in a fresh data folder: in-process through typer's runner (the same app object the
`citeqa` script calls), and as real subprocesses where the process itself matters (argv bytes, stdin, cwd).
`run` commands use a fresh store of each backend (a database and a collection of their own on the server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.conftest import as_environment, server_backend

CITEQA = str(Path(sys.executable).with_name("citeqa"))


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(request: pytest.FixtureRequest, api_backend: str, tmp_path: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from api import cli
    from api.settings import get_settings

    monkeypatch.setenv("CITEQA_DATA_DIR", str(tmp_path / "data"))
    for name, value in as_environment(server_backend(request, api_backend, "cli")).items():
        monkeypatch.setenv(name, value)

    def invoke(*args: str) -> Ran:
        get_settings.cache_clear()  # each command reads the settings afresh, as a new process would
        result = CliRunner().invoke(cli.app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    yield invoke
    get_settings.cache_clear()


def test_ingest_list_search_ask_delete(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "docs"
    notes.mkdir()
    (notes / "volcano.md").write_text("# Volcano\n\nMount Kelra erupted in 1821 and buried the village of Osk.\n")
    (notes / "ignored.bin").write_bytes(b"\x00\x01")
    result = run("ingest", str(notes))
    assert result.returncode == 0, result.stderr
    assert "added volcano" in result.stdout
    listing = run("documents")
    assert "volcano" in listing.stdout and "ukraine-retakes-bakhmut-2023-05-13" in listing.stdout
    found = run("search", "Kelra eruption", "--k", "2")
    assert "volcano [" in found.stdout and "fused" in found.stdout
    answered = run("ask", "When did Mount Kelra erupt?", "--document", "volcano")
    assert "1821" in answered.stdout
    assert run("delete", "volcano").returncode == 0
    assert "volcano" not in run("documents").stdout


def test_errors_are_one_clear_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "paper.pdf"
    bad.write_bytes(b"%PDF")  # not even a PDF header
    unknown = tmp_path / "sheet.xlsx"
    unknown.write_bytes(b"cells")
    for args, words in ((("ingest", str(bad)), "is not a PDF"), (("ingest", str(unknown)), "not supported"),
                        (("delete", "missing-doc"), "no document"),
                        (("ingest", str(tmp_path / "absent.txt")), "no such file")):
        result = run(*args)
        assert result.returncode == 1
        assert words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


TINY_SQUAD = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-squad-v2.json"


@pytest.mark.embedded_only  # its scratch store is embedded
def test_eval_squad_reports_scores_recall_and_writes_answers(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    answers = tmp_path / "answers.jsonl"
    result = run("eval", "squad", str(TINY_SQUAD), "--json", "--answers", str(answers))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["count"] == 4
    assert 0.0 <= report["no_answer_accuracy"] <= 100.0 and 0.0 <= report["has_answer_f1"] <= 100.0
    assert report["hybrid_recall@5"] == 1.0  # a one-article store: the gold chunk is always among 5
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["k1", "k2", "k3", "k4"]
    assert rows[0]["answer"] == "1821" and rows[0]["gold"] == ["1821"]


@pytest.mark.embedded_only  # its scratch store is embedded
def test_calibrate_verifier_fits_one_for_the_reader_that_the_pipeline_then_uses(  # type: ignore[no-untyped-def]
        run, tmp_path: Path) -> None:
    from qa.reader import SHIPPED_MODEL
    from qa.verifier import VERIFIER_FILE, Verifier

    reader = tmp_path / "reader"
    reader.mkdir()
    for file in SHIPPED_MODEL.iterdir():  # the shipped weights, without the shipped verifier
        if file.name != VERIFIER_FILE:
            (reader / file.name).symlink_to(file)
    result = run("calibrate-verifier", "--data", str(TINY_SQUAD), "--reader", str(reader))
    assert result.returncode == 0, result.stderr
    assert "4 questions of tiny-squad-v2.json" in result.stdout
    verifier = Verifier.load(reader)
    assert verifier is not None and verifier.coef.shape == verifier.mean.shape


@pytest.mark.embedded_only  # the reader alone, no store
def test_eval_reader_prints_official_metrics_as_the_last_json_line(run) -> None:  # type: ignore[no-untyped-def]
    result = run("eval", "reader", "--gold-paragraph", str(TINY_SQUAD), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["count"] == 4
    assert {"exact_match", "f1", "no_answer_accuracy", "has_answer_f1"} <= set(report)
    assert report["has_answer_f1"] > 50.0


@pytest.mark.embedded_only  # refused before any store
def test_eval_of_a_missing_file_is_a_clear_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("eval", "squad", str(tmp_path / "nope.json"))
    assert result.returncode != 0
    assert "nope.json" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_blank_data_dir_is_one_clear_error_not_the_current_folder(tmp_path: Path) -> None:
    environment = {**os.environ, "CITEQA_DATA_DIR": "", "HF_HUB_OFFLINE": "1"}
    for args in (("serve", "--port", "1"), ("ask", "Who?"), ("documents",)):
        result = subprocess.run([CITEQA, *args], capture_output=True, text=True, env=environment, cwd=tmp_path,
                                timeout=300)
        assert result.returncode == 1, (args, result.stderr)
        assert "CITEQA_DATA_DIR is set but blank" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(tmp_path.iterdir())  # nothing written where the command ran


@pytest.mark.slow
def test_ask_and_chat_refuse_a_question_that_is_not_valid_unicode(tmp_path: Path) -> None:
    environment = {**os.environ, "CITEQA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    # Bytes that are not UTF-8 reach Python as lone surrogates, in argv and on stdin alike.
    asked = subprocess.run([CITEQA.encode(), b"ask", b"who said \xff?"], capture_output=True, env=environment,
                           timeout=300)
    stderr = asked.stderr.decode()
    assert asked.returncode == 1 and "lone surrogate" in stderr and "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1
    chatted = subprocess.run([CITEQA, "chat"], input=b"who said \xff?\nwho said the troops were fleeing?\n",
                             capture_output=True, env=environment, timeout=300)
    stderr = chatted.stderr.decode()
    assert chatted.returncode == 0 and "lone surrogate" in stderr and "Traceback" not in stderr, stderr
    assert "Prigozhin" in chatted.stdout.decode()  # the chat went on after the refused line


def test_serve_caps_concurrency_and_shuts_down_gracefully(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from api import cli
    from api.settings import get_settings

    passed: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: passed.update(options))
    monkeypatch.setenv("CITEQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CITEQA_LIMIT_CONCURRENCY", "40")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["serve", "--port", "8123"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert passed["port"] == 8123 and passed["limit_concurrency"] == 40
    assert passed["timeout_graceful_shutdown"] == 15
    assert passed["http"].header_seconds == 10.0  # type: ignore[attr-defined]


@pytest.mark.slow
def test_serve_logs_the_backend_and_precision_its_models_run_on(server) -> None:
    from api.settings import Settings

    reader = Settings().reader  # the server resolves the same settings on this CPU
    log = (server.data_dir.parent / "server.log").read_text()
    assert f"INFO:     citeqa ready (models on {reader.backend}, {reader.precision})" in log


def test_ingest_and_ask_about_a_pdf_and_a_word_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.documents_made import handbook_docx, handbook_pdf

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(handbook_pdf().content)
    docx = tmp_path / "manual.docx"
    docx.write_bytes(handbook_docx())
    ingested = run("ingest", str(pdf), str(docx))
    assert ingested.returncode == 0, ingested.stderr
    lines = ingested.stdout.splitlines()
    assert any(line.startswith("added report (pdf, 9 pages): ") for line in lines), ingested.stdout
    assert any(line.startswith("added manual (docx): ") for line in lines), ingested.stdout
    # Page 6 holds an image and the running header and footer only: no searchable text.
    assert "pages without text (not searchable; citeqa does not run OCR): 6" in lines, ingested.stdout
    listing = run("documents").stdout
    ids = {line.split("│")[-2].strip() for line in listing.splitlines() if line.count("│") == 5}
    assert {"report", "manual", "ukraine-retakes-bakhmut-2023-05-13"} <= ids, listing
    assert "Lighthouse" in listing and "untitled" not in listing  # titles: the Word file's own, the PDF's file name
    warden = run("ask", "Who is the storm warden?", "--document", "report")
    assert warden.returncode == 0, warden.stderr
    assert warden.stdout.splitlines()[0].startswith("Petra Lund"), warden.stdout
    assert "report, p. 7 (5) [" in warden.stdout  # the physical page, then its printed label
    keeper = run("ask", "Who is the head keeper?", "--document", "manual")
    assert keeper.returncode == 0, keeper.stderr
    assert keeper.stdout.splitlines()[0].startswith("Oskar Brandt"), keeper.stdout
    assert "manual, section " in keeper.stdout and " > 2 Scope > 2.1 Audience [" in keeper.stdout
