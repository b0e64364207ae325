"""Incremental derived indexes (issue 18): every write changes FAISS and BM25 in place and saves only its own
change, yet rankings stay those of indexes rebuilt from scratch, across snapshots, reopening, two stores on
one folder and writes that die before their commit."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path

import bm25s
import numpy as np
import pytest
from bm25s.tokenization import Tokenizer

from api.services import Index
from index import derived as derived_module
from index.base import PreparedDocument
from index.chunk import Chunk, Span
from index.documents import Document, make_document
from index.lexical import LexicalIndex
from index.store import SqliteStore

WORDS = [
    "river", "mountain", "copper", "glass", "saturn", "rings", "ice", "paprika", "soup", "bowl", "troops",
    "city", "north", "south", "lake", "sea", "engine", "bridge", "winter", "summer", "harvest", "wheat",
    "river42", "x7", "Zürich", "café", "naïve", "東京", "data", "model"]
STOP = ["the", "is", "a", "of", "and", "it", "to", "in"]
QUERIES = ["river mountain", "copper copper glass", "the of and", "unknownword", "soup in a blue bowl",
           "Zürich café 東京", "saturn rings of ice", "x7 river42 summer"]


@pytest.fixture
def backend() -> str:
    return "embedded"  # these are the embedded store's own files


def random_text(rng: random.Random, sentences: int) -> str:
    return " ".join(
        " ".join(rng.choice(WORDS + STOP) for _ in range(rng.randint(3, 14))).capitalize() + "."
        for _ in range(sentences))


def test_bm25_scores_are_bm25s_scores_of_the_live_chunks_after_adds_and_removals(tmp_path: Path) -> None:
    rng = random.Random(3)
    texts = {i: random_text(rng, 2) for i in range(60)}
    texts[60], texts[61], texts[62] = "the of and it", "", "copper copper copper"  # no words; one word thrice
    lexical = LexicalIndex.empty()
    lexical.add(list(texts)[:30], list(texts.values())[:30])
    lexical.compact()  # a base and a delta both searched
    lexical.add(list(texts)[30:], list(texts.values())[30:])
    removed = rng.sample(sorted(texts), 20)
    lexical.remove(removed, [texts[i] for i in removed])
    live = [i for i in texts if i not in removed]
    lexical.add([100, 101], ["river mountain copper", "Soup soup bowl"])
    texts.update({100: "river mountain copper", 101: "Soup soup bowl"})
    live += [100, 101]
    lexical.save(tmp_path)
    for index in (lexical, LexicalIndex.load(tmp_path)):
        tokenizer = Tokenizer(stopwords="en", stemmer=None, lower=True)
        reference = bm25s.BM25()
        reference.index(tokenizer.tokenize([texts[i] for i in live], return_as="ids", show_progress=False),
                        show_progress=False)
        for query in QUERIES:
            query_ids = tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)
            positions, scores = reference.retrieve(query_ids, k=len(live), show_progress=False, n_threads=0)
            expected = {live[p]: float(s) for p, s in zip(positions[0], scores[0], strict=True) if s > 0}
            found = dict(index.search(query, len(live)))
            assert found.keys() == expected.keys(), query
            for chunk_id, score in expected.items():
                assert found[chunk_id] == pytest.approx(score, rel=1e-5), query


def rankings(store: SqliteStore, vectors: dict[str, np.ndarray], other: SqliteStore | None = None) -> None:
    """The store's rankings equal those of indexes built from scratch from its database."""
    with store._snapshot() as connection:
        scratch = store._build_indexes(connection, store.version())
    some = [row[0] for row in store._connection().execute("SELECT id FROM documents ORDER BY id LIMIT 2")]
    for candidate in [store] + ([other] if other else []):
        for query, vector in vectors.items():
            pairs = [(candidate.dense_ranking(vector, 50, None), scratch.dense_search(vector, 50)),
                     (candidate.lexical_ranking(query, 50, None), scratch.lexical_search(query, 50, None)),
                     (candidate.lexical_ranking(query, 50, some),
                      scratch.lexical_search(query, 50, store._chunk_ids_of(some)))]
            for found, expected in pairs:
                assert [i for i, _ in found] == [i for i, _ in expected], query
                assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-5, abs=1e-6)


def test_random_writes_keep_rankings_equal_to_a_rebuild(tmp_path: Path, make_index: Callable[..., Index],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Small thresholds, so the run passes through change files, snapshots and rebuilds for dead chunks.
    monkeypatch.setattr(derived_module, "SNAPSHOT_EVERY_WRITES", 4)
    monkeypatch.setattr(derived_module, "REBUILD_DEAD_MIN", 12)
    index = make_index(tmp_path / "store")
    store = index.store
    assert isinstance(store, SqliteStore)
    builds = 0
    build = store._build_indexes

    def counted(*args: object) -> object:
        nonlocal builds
        builds += 1
        return build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_build_indexes", counted)
    vectors = dict(zip(QUERIES, index.indexer.embedder.run(QUERIES), strict=True))
    rng = random.Random(18)
    stored: list[str] = []
    writes = 0
    for step in range(45):
        action = rng.random()
        if action < 0.5 or len(stored) < 3:
            number = f"doc-{step}"
            documents = [make_document(random_text(rng, rng.randint(1, 30)), document_id=number)]
            if rng.random() < 0.2:  # one write with two documents, or the same id twice
                twin = number if rng.random() < 0.5 else f"doc-{step}-b"
                documents.append(make_document(random_text(rng, 3), document_id=twin))
            index.indexer.run(documents)
            stored += sorted({d.id for d in documents} - set(stored))
        elif action < 0.75:
            index.indexer.add(make_document(random_text(rng, rng.randint(1, 30)), document_id=rng.choice(stored)))
        else:
            victim = rng.choice(stored)
            store.delete(victim)
            stored.remove(victim)
        writes += 1
        if step % 9 == 8:
            reopened = SqliteStore(store.data_dir, store.manifest, store.exact_search_max_chunks).open()
            rankings(store, vectors, other=reopened)  # and loaded from the files alone
            reopened.close()
    assert builds < writes / 3  # most writes changed the indexes in place
    names = sorted(p.name for p in (store.data_dir / "indexes").iterdir())
    assert any(n.startswith("base-") for n in names) and store.counts()[1] > 0


def test_two_stores_on_one_folder_see_each_others_writes(tmp_path: Path, make_index: Callable[..., Index],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "shared"
    first, second = make_index(folder), make_index(folder)
    vectors = dict(zip(QUERIES, first.indexer.embedder.run(QUERIES), strict=True))
    first.indexer.add(make_document("The soup is served in a blue bowl with paprika.", document_id="soup"))
    second.indexer.add(make_document("Saturn has rings made of ice and rock.", document_id="saturn"))
    loads = 0
    for index in (first, second):  # from here on each store follows the other's writes by their change files
        assert isinstance(index.store, SqliteStore)
        load = index.store.folders.load

        def counted(*args: object, load: Callable[..., object] = load) -> object:
            nonlocal loads
            loads += 1
            return load(*args)

        monkeypatch.setattr(index.store.folders, "load", counted)
    first.indexer.add(make_document("Copper conducts electricity; glass does not.", document_id="copper"))
    second.store.delete("soup")
    for index in (first, second):
        assert isinstance(index.store, SqliteStore)
        assert {hit.document_id for hit in index.retriever.run("soup paprika saturn copper", 5)} == \
               {"saturn", "copper"}
        rankings(index.store, vectors)
    assert loads == 0


def test_two_stores_writing_at_once_on_one_folder_end_equal_to_a_rebuild(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derived_module, "SNAPSHOT_EVERY_WRITES", 3)  # snapshots and tidying race the other's writes
    manifest = {"embedding_model": "synthetic", "embedding_dimension": 8, "chunk_tokens": 160}
    stores = [SqliteStore(tmp_path, manifest, 100_000).open() for _ in range(2)]
    failures: list[BaseException] = []

    def prepared(name: str, rng: random.Random) -> PreparedDocument:
        text = random_text(rng, 2)
        vector = np.array([rng.gauss(0, 1) for _ in range(8)], dtype=np.float32)
        return PreparedDocument(Document(name, name, text, {}), [Span(0, len(text))],
                                [Chunk(0, 0, len(text), text, 0, 0)], (vector / np.linalg.norm(vector))[None])

    def work(number: int) -> None:
        rng, store = random.Random(number), stores[number]
        try:
            for step in range(24):
                store.write([prepared(f"s{number}-{step}", rng)], replace=True)
                if step % 3 == 2:
                    store.delete(f"s{number}-{step - 1}")
                store.lexical_ranking("river copper", 10, None)  # reads between writes, each from its own memory
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    rng = np.random.default_rng(5)
    vectors = {query: vector / np.linalg.norm(vector)
               for query, vector in zip(QUERIES, rng.standard_normal((len(QUERIES), 8)).astype(np.float32),
                                        strict=True)}
    assert stores[0].counts() == (32, 32)
    rankings(stores[0], vectors, other=stores[1])


@pytest.mark.parametrize("dies_in", ["save_change", "save_snapshot"])
def test_a_write_that_dies_before_its_commit_leaves_files_that_load_as_the_old_version(
        tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch, dies_in: str) -> None:
    folder = tmp_path / "store"
    index = make_index(folder)
    store = index.store
    assert isinstance(store, SqliteStore)
    index.indexer.add(make_document("The river Alpha flows north to the sea.", document_id="alpha"))
    if dies_in == "save_snapshot":
        monkeypatch.setattr(derived_module, "SNAPSHOT_EVERY_WRITES", 1)  # the next write snapshots, then dies
    saving = getattr(store.folders, dies_in)

    def save_then_die(*args: object) -> None:
        saving(*args)
        raise KeyboardInterrupt  # as a kill would, after the files are written and before COMMIT

    monkeypatch.setattr(store.folders, dies_in, save_then_die)
    with pytest.raises(KeyboardInterrupt):
        index.indexer.add(make_document("Copper conducts electricity well.", document_id="copper"))
    monkeypatch.undo()
    vectors = dict(zip(QUERIES, index.indexer.embedder.run(QUERIES), strict=True))
    other = make_index(folder)  # another process opening the folder now
    assert [d.id for d in other.store.list_documents()] == ["alpha"]
    assert isinstance(other.store, SqliteStore)
    rankings(other.store, vectors)
    other.indexer.add(make_document("Saturn has rings of ice.", document_id="saturn"))  # takes the dead write's version
    again = make_index(folder)
    assert isinstance(again.store, SqliteStore)
    assert {hit.document_id for hit in again.retriever.run("copper electricity saturn river", 5)} == \
           {"alpha", "saturn"}
    rankings(again.store, vectors)
    rankings(store, vectors)
