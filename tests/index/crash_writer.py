"""Helper process for the crash test: ingests numbered documents until killed."""

import sys
from pathlib import Path

from index.documents import make_document
from index.embed import Embedder
from index.settings import Settings
from index.store import PassageStore

folder, first = Path(sys.argv[1]), int(sys.argv[2])
store = PassageStore(folder, Embedder(Settings().embedder_path)).open()
print("ready", flush=True)
for number in range(first, first + 1000):
    sentences = " ".join(f"Document {number} sentence {i} talks about topic {i * number}." for i in range(60))
    store.add(make_document(sentences, document_id=f"doc-{number}"))
    print(f"done {number}", flush=True)
