"""The passage store: hybrid search, replace/delete, manifests, bad input and concurrent readers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from index.documents import Document, DocumentError, make_document
from index.embed import Embedder
from index.store import DocumentExistsError, PassageStore, StoreMismatchError, UnknownDocumentError


def test_search_finds_names_with_offsets_and_all_three_scores(store: PassageStore, article_text: str) -> None:
    store.add(make_document(article_text, document_id="bakhmut"))
    hits = store.search("Yevgeny Prigozhin Wagner troops fleeing", k=3)
    assert hits and hits[0].document_id == "bakhmut"
    assert any("Prigozhin" in hit.text for hit in hits)
    for hit in hits:
        assert article_text[hit.start : hit.end] == hit.text
        assert hit.fused_score > 0
    top = hits[0]
    assert top.dense_score is not None and top.lexical_score is not None


def test_search_modes_and_document_filter(store: PassageStore, article_text: str) -> None:
    store.add(make_document(article_text, document_id="bakhmut"))
    store.add(make_document("Paris is the capital of France. The Eiffel Tower is in Paris.", document_id="paris"))
    only_paris = store.search("Prigozhin", k=5, document_ids=["paris"])
    assert {hit.document_id for hit in only_paris} == {"paris"}
    lexical = store.search("Eiffel", k=5, mode="lexical")
    assert lexical[0].document_id == "paris" and lexical[0].dense_score is None
    dense = store.search("a famous tower in France", k=1, mode="dense")
    assert dense[0].document_id == "paris" and dense[0].lexical_score is None
    assert store.search("anything", k=3, document_ids=["nope"]) == []


def test_replace_and_delete_without_touching_other_documents(store: PassageStore) -> None:
    store.add(make_document("The river Alpha flows north to the sea.", document_id="alpha"))
    store.add(make_document("The mountain Beta is very tall and snowy.", document_id="beta"))
    result = store.add(make_document("The river Alpha now flows south into the lake.", document_id="alpha"))
    assert result.replaced
    assert store.get("alpha").text.startswith("The river Alpha now")
    texts = [hit.text for hit in store.search("river Alpha", k=5)]
    assert not any("north" in text for text in texts)
    store.delete("alpha")
    assert [d.id for d in store.list_documents()] == ["beta"]
    assert all(hit.document_id == "beta" for hit in store.search("river Alpha", k=5))
    with pytest.raises(UnknownDocumentError):
        store.delete("alpha")


def test_an_add_that_may_not_replace_changes_nothing(store: PassageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add(make_document("The river Alpha flows north to the sea.", document_id="alpha"))
    version = store.version()
    with pytest.raises(DocumentExistsError):
        store.add(make_document("The river Alpha flows south.", document_id="alpha"), replace=False)
    assert store.get("alpha").text == "The river Alpha flows north to the sea."
    assert store.version() == version
    # The check inside the write holds even when the early one missed a concurrent add.
    monkeypatch.setattr(store, "has", lambda document_id: False)
    with pytest.raises(DocumentExistsError):
        store.add(make_document("The river Alpha flows south.", document_id="alpha"), replace=False)
    assert store.get("alpha").text == "The river Alpha flows north to the sea."
    assert store.version() == version
    monkeypatch.undo()
    assert not store.add(make_document("Beta is new.", document_id="beta"), replace=False).replaced


def test_reopen_keeps_everything(tmp_path: Path, embedder: Embedder) -> None:
    first = PassageStore(tmp_path, embedder).open()
    first.add(make_document("Copper conducts electricity well. Glass does not.", document_id="metals"))
    first.close()
    again = PassageStore(tmp_path, embedder).open()
    assert again.counts() == (1, 1)
    assert again.search("conducts electricity", k=1)[0].document_id == "metals"
    assert (tmp_path / "manifest.json").exists()


def test_other_settings_fail_with_rebuild_hint(tmp_path: Path, embedder: Embedder) -> None:
    PassageStore(tmp_path, embedder, chunk_tokens=160).open().close()
    with pytest.raises(StoreMismatchError, match="`citeqa rebuild`"):  # the command the CLI really has
        PassageStore(tmp_path, embedder, chunk_tokens=64).open()


def test_oversized_document_leaves_store_unchanged(tmp_path: Path, embedder: Embedder) -> None:
    store = PassageStore(tmp_path, embedder, max_document_chars=100).open()
    store.add(make_document("Small and fine.", document_id="small"))
    before = (store.counts(), store.version())
    with pytest.raises(DocumentError, match="limit"):
        store.add(Document("big", "Big", "x " * 200))
    assert (store.counts(), store.version()) == before


def test_lost_derived_indexes_are_rebuilt(tmp_path: Path, embedder: Embedder) -> None:
    import shutil

    store = PassageStore(tmp_path, embedder).open()
    store.add(make_document("Saturn has rings made of ice.", document_id="saturn"))
    store.close()
    shutil.rmtree(tmp_path / "indexes")
    reopened = PassageStore(tmp_path, embedder).open()
    assert reopened.search("rings of ice", k=1)[0].document_id == "saturn"


@pytest.mark.slow  # the article ingested four times under concurrent reads
def test_readers_keep_working_while_a_writer_writes(store: PassageStore, article_text: str) -> None:
    store.add(make_document(article_text, document_id="bakhmut"))
    failures: list[BaseException] = []
    results: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                results.append(len(store.search("Bakhmut", k=3)))
            except BaseException as error:  # noqa: BLE001 - collected and asserted below
                failures.append(error)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    for number in range(3):
        store.add(make_document(article_text + f"\n\nAddendum {number}.", document_id=f"copy-{number}"))
    stop.set()
    for thread in readers:
        thread.join()
    assert not failures
    assert results and min(results) == 3
