"""Helper process for the crash test: ingests numbered documents until killed."""

import sys
from pathlib import Path

from api.services import build_index
from api.settings import Settings
from index.documents import make_document

folder, first = Path(sys.argv[1]), int(sys.argv[2])
indexer = build_index(Settings().with_changes(index={"data_dir": folder, "ingest_default_corpus": False})).indexer
print("ready", flush=True)
for number in range(first, first + 1000):
    sentences = " ".join(f"Document {number} sentence {i} talks about topic {i * number}." for i in range(60))
    indexer.add(make_document(sentences, document_id=f"doc-{number}"))
    print(f"done {number}", flush=True)
