"""SIGKILL a writer mid-ingest many times: the store is always as before or after a write (both backends).

On the server backend the kill can also land after PostgreSQL committed and before Milvus has the chunks:
the next open finishes the copy, so the counts below must match there too.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.services import open_index
from api.settings import Settings
from index.embed import Embedder

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def raw_count(store: Any, table: str, document_id: str) -> int:
    """Rows of a table for one document, read straight from the store's database."""
    if hasattr(store, "pool"):
        with store.pool.connection() as connection:
            return int(connection.execute(f"SELECT count(*) FROM {table} WHERE document_id = %s",
                                          (document_id,)).fetchone()[0])
    return int(store._connection().execute(f"SELECT count(*) FROM {table} WHERE document_id = ?",
                                           (document_id,)).fetchone()[0])


def check_consistent(settings: Settings, embedder: Embedder) -> set[str]:
    index = open_index(settings, embedder)
    store = index.store
    for document in store.list_documents():
        assert raw_count(store, "chunks", document.id) == document.chunk_count > 0
        assert raw_count(store, "sentences", document.id) == document.sentence_count > 0
        text = store.get(document.id).text
        number = document.id.split("-")[1]
        assert text.startswith(f"Document {number} sentence 0")
        assert text.endswith(f"topic {59 * int(number)}.")
    total_chunks = store.counts()[1]
    if hasattr(store, "milvus"):
        assert store.milvus.count() == total_chunks  # what was committed is searchable after the restart
        with store.pool.connection() as connection:
            assert connection.execute("SELECT count(*) FROM milvus_pending").fetchone()[0] == 0
            ids = {row[0] for row in connection.execute("SELECT id FROM chunks")}
    else:
        derived = store._current_indexes()
        assert len(derived.dense) == total_chunks == len(derived.lexical)
        ids = {row[0] for row in store._connection().execute("SELECT id FROM chunks")}
    for hit in index.retriever.run("sentence talks about topic", 10):
        assert hit.chunk.chunk_id in ids
    names = {d.id for d in store.list_documents()}
    store.close()
    return names


@pytest.mark.slow  # many writer subprocesses
def test_sigkill_mid_ingest_never_leaves_a_half_write(tmp_path: Path, embedder: Embedder,
                                                       server_location: Callable[[Path], dict[str, Any]]) -> None:
    rng = random.Random(7)
    servers = server_location(tmp_path)
    settings = Settings().with_changes(index={"data_dir": tmp_path, "ingest_default_corpus": False, **servers})
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   **{f"CITEQA_{name.upper()}": value for name, value in servers.items()}}
    stored: set[str] = set()
    next_number = 0
    kills = 0
    rounds = 5 if servers else 8  # each round loads the embedder in a new writer; the server half stays shorter
    for _ in range(rounds):
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
        names = check_consistent(settings, embedder)
        assert stored | finished <= names  # every acknowledged write survived
        extra = names - stored - finished
        assert len(extra) <= 1  # at most the write in flight, committed before the kill reached it
        stored = names
        next_number += len(finished) + 1
    assert kills == rounds and len(stored) > 0
