"""SIGKILL a writer mid-ingest many times: the store is always as before or after a write."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.services import open_index
from api.settings import Settings
from index.embed import Embedder

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def check_consistent(folder: Path, embedder: Embedder) -> set[str]:
    index = open_index(Settings().with_changes(index={"data_dir": folder, "ingest_default_corpus": False}), embedder)
    store = index.store
    connection = store._connection()
    for document in store.list_documents():
        chunks = connection.execute(
            "SELECT count(*) FROM chunks WHERE document_id = ?", (document.id,)).fetchone()
        sentences = connection.execute(
            "SELECT count(*) FROM sentences WHERE document_id = ?", (document.id,)).fetchone()
        assert chunks[0] == document.chunk_count > 0
        assert sentences[0] == document.sentence_count > 0
        text = store.get(document.id).text
        number = document.id.split("-")[1]
        assert text.startswith(f"Document {number} sentence 0")
        assert text.endswith(f"topic {59 * int(number)}.")
    derived = store._current_indexes()
    total_chunks = store.counts()[1]
    assert len(derived.dense) == total_chunks == len(derived.lexical.ids)
    ids = {row[0] for row in connection.execute("SELECT id FROM chunks")}
    for hit in index.retriever.run("sentence talks about topic", 10):
        assert hit.chunk.chunk_id in ids
    names = {d.id for d in store.list_documents()}
    store.close()
    return names


@pytest.mark.slow  # many writer subprocesses
def test_sigkill_mid_ingest_never_leaves_a_half_write(tmp_path: Path, embedder: Embedder) -> None:
    rng = random.Random(7)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    stored: set[str] = set()
    next_number = 0
    kills = 0
    for _ in range(8):
        process = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path), str(next_number)],
                                   stdout=subprocess.PIPE, text=True, env=environment)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        early = [process.stdout.readline()]  # let one write land, then kill at a random moment of the next
        time.sleep(rng.uniform(0.0, 1.0))
        process.send_signal(signal.SIGKILL)
        output = "".join(early) + process.communicate()[0]
        kills += 1
        finished = {f"doc-{line.split()[1]}" for line in output.splitlines() if line.startswith("done")}
        names = check_consistent(tmp_path, embedder)
        assert stored | finished <= names  # every acknowledged write survived
        extra = names - stored - finished
        assert len(extra) <= 1  # at most the write in flight, committed before the kill reached it
        stored = names
        next_number += len(finished) + 1
    assert kills == 8 and len(stored) > 0
