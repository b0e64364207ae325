"""Both stores and the indexer: replace/delete, manifests, bad input, reopening and repair."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.services import Index, open_index
from api.settings import Settings
from index.base import DocumentExistsError, StoreMismatchError, UnknownDocumentError
from index.documents import Document, DocumentError, make_document


def test_replace_and_delete_without_touching_other_documents(index: Index) -> None:
    index.indexer.add(make_document("The river Alpha flows north to the sea.", document_id="alpha"))
    index.indexer.add(make_document("The mountain Beta is very tall and snowy.", document_id="beta"))
    result = index.indexer.add(make_document("The river Alpha now flows south into the lake.", document_id="alpha"))
    assert result.replaced
    assert index.store.get("alpha").text.startswith("The river Alpha now")
    texts = [hit.text for hit in index.retriever.run("river Alpha", 5)]
    assert not any("north" in text for text in texts)
    index.store.delete("alpha")
    assert [d.id for d in index.store.list_documents()] == ["beta"]
    assert all(hit.document_id == "beta" for hit in index.retriever.run("river Alpha", 5))
    with pytest.raises(UnknownDocumentError):
        index.store.delete("alpha")


def test_an_add_that_may_not_replace_changes_nothing(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    store, indexer = index.store, index.indexer
    indexer.add(make_document("The river Alpha flows north to the sea.", document_id="alpha"))
    version = store.version()
    with pytest.raises(DocumentExistsError):
        indexer.add(make_document("The river Alpha flows south.", document_id="alpha"), replace=False)
    assert store.get("alpha").text == "The river Alpha flows north to the sea."
    assert store.version() == version
    # The check inside the write holds even when the early one missed a concurrent add.
    monkeypatch.setattr(store, "has", lambda document_id: False)
    with pytest.raises(DocumentExistsError):
        indexer.add(make_document("The river Alpha flows south.", document_id="alpha"), replace=False)
    assert store.get("alpha").text == "The river Alpha flows north to the sea."
    assert store.version() == version
    monkeypatch.undo()
    assert not indexer.add(make_document("Beta is new.", document_id="beta"), replace=False).replaced


def test_reopen_keeps_everything(tmp_path: Path, make_index: Callable[..., Index], backend: str) -> None:
    first = make_index(tmp_path)
    first.indexer.add(make_document("Copper conducts electricity well. Glass does not.", document_id="metals"))
    first.store.close()
    again = make_index(tmp_path)
    assert again.store.counts() == (1, 1)
    assert again.retriever.run("conducts electricity", 1)[0].document_id == "metals"
    if backend == "embedded":
        assert (tmp_path / "manifest.json").exists()


def test_other_settings_fail_with_rebuild_hint_and_rebuild_repairs(
        tmp_path: Path, make_index: Callable[..., Index], settings: Settings,
        server_location: Callable[[Path], dict[str, Any]]) -> None:
    first = make_index(tmp_path)
    first.indexer.add(make_document("Copper conducts electricity well. Glass does not.", document_id="metals"))
    first.store.close()
    with pytest.raises(StoreMismatchError, match="`citeqa rebuild`"):  # the command the CLI really has
        make_index(tmp_path, index={"chunk_tokens": 64})
    # The path `citeqa rebuild` takes: open without the manifest check, re-index every document.
    changed = settings.with_changes(index={"data_dir": tmp_path, "chunk_tokens": 64, "ingest_default_corpus": False,
                                           **server_location(tmp_path)})
    rebuilt = open_index(changed, first.indexer.embedder, rebuilding=True)
    assert rebuilt.indexer.rebuild() == 1
    rebuilt.store.close()
    reopened = make_index(tmp_path, index={"chunk_tokens": 64})
    assert reopened.retriever.run("conducts electricity", 1)[0].document_id == "metals"


def test_oversized_document_leaves_store_unchanged(make_index: Callable[..., Index]) -> None:
    index = make_index(index={"max_document_chars": 100})
    index.indexer.add(make_document("Small and fine.", document_id="small"))
    before = (index.store.counts(), index.store.version())
    with pytest.raises(DocumentError, match="limit"):
        index.indexer.add(Document("big", "Big", "x " * 200))
    assert (index.store.counts(), index.store.version()) == before


def test_lost_derived_indexes_are_rebuilt(tmp_path: Path, make_index: Callable[..., Index], backend: str) -> None:
    index = make_index(tmp_path)
    index.indexer.add(make_document("Saturn has rings made of ice.", document_id="saturn"))
    if backend == "embedded":
        index.store.close()
        shutil.rmtree(tmp_path / "indexes")
    else:  # the Milvus collection is lost: the next start copies every chunk back from PostgreSQL
        milvus = index.store.milvus  # type: ignore[attr-defined]
        milvus.client.drop_collection(milvus.collection)
        index.store.close()
    reopened = make_index(tmp_path)
    assert reopened.retriever.run("rings of ice", 1)[0].document_id == "saturn"


def test_stored_chunks_carry_their_sentences_and_context(tmp_path: Path, make_index: Callable[..., Index],
                                                        article_text: str) -> None:
    plain = make_index(tmp_path)
    plain.indexer.add(make_document(article_text, document_id="bakhmut"))
    widened = make_index(tmp_path, retrieval={"read_context_chars": 300})
    for hit in widened.retriever.run("who said the troops were fleeing?", 3):
        chunk = hit.chunk
        assert chunk.context_start <= chunk.start < chunk.end <= chunk.context_end
        assert article_text[chunk.context_start : chunk.context_end] == chunk.context_text
        assert chunk.sentences and chunk.sentences[0].start == chunk.context_start
        assert chunk.sentences[-1].end == chunk.context_end
    for hit in plain.retriever.run("who said the troops were fleeing?", 3):
        assert (hit.chunk.context_start, hit.chunk.context_text) == (hit.start, hit.text)
        assert all(hit.start <= s.start < s.end <= hit.end for s in hit.chunk.sentences)
