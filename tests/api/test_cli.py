"""The citeqa command line, run as a user would in a fresh data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CITEQA = str(Path(sys.executable).with_name("citeqa"))


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    environment = {**os.environ, "CITEQA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CITEQA, *args], capture_output=True, text=True, env=environment, timeout=300)

    return invoke


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
    bad.write_bytes(b"%PDF")
    for args, words in ((("ingest", str(bad)), "not supported"), (("delete", "missing-doc"), "no document"),
                        (("ingest", str(tmp_path / "absent.txt")), "no such file")):
        result = run(*args)
        assert result.returncode == 1
        assert words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
