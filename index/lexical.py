"""Lexical search with BM25, so exact names and numbers are found; updated in place, chunk by chunk.

bm25s precomputes every (term, chunk) score, and those scores depend on the whole corpus (the number of
chunks, each term's document frequency, the average length), so one added chunk changes them all and
its index can only be rebuilt. This index keeps what the scores are made of instead: each chunk's term
frequencies and length, each term's document frequency, the chunk count and the total length, all
updated by an add or a removal in work proportional to that chunk. A query computes bm25s's scores
(method "lucene", k1 1.5, b 0.75, the defaults citeqa used) from them for its own terms only, so the
results are those of a bm25s index built from scratch over the same chunks (tested against bm25s).
Words are split and stop words dropped by bm25s's own tokenizer settings.

Postings live in a compact base (arrays per term, as saved) and a small delta (lists per term) that
`compact()` folds into the base; removed chunks stay as dead positions, masked, until the next rebuild.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from bm25s.tokenization import Tokenizer

K1 = 1.5  # bm25s.BM25 defaults, method "lucene"
B = 0.75

_TOKENIZER = Tokenizer(stopwords="en", stemmer=None, lower=True)
_SPLIT = _TOKENIZER.splitter
_STOPWORDS = frozenset(_TOKENIZER.stopwords or ())
EMPTY = ""  # bm25s's token for a text with no words left: such chunks share it, and so does a query without known words


def terms_of(text: str) -> list[str]:
    """The terms bm25s's tokenizer indexes for a text (lower-cased words of 2+ characters, no stop words)."""
    words = [word for word in _SPLIT(text.lower()) if word not in _STOPWORDS]
    return words or [EMPTY]


class _Column:
    """A growable 1-d numpy array: appends are amortised O(1), `view()` is the filled part."""

    def __init__(self, values: np.ndarray) -> None:
        self.size = len(values)
        self.buffer = np.array(values)

    def view(self) -> np.ndarray:
        return self.buffer[: self.size]

    def append(self, values: Sequence[int | float | bool] | np.ndarray) -> None:
        needed = self.size + len(values)
        if needed > len(self.buffer):
            grown = np.zeros(max(needed, 2 * len(self.buffer), 16), dtype=self.buffer.dtype)
            grown[: self.size] = self.buffer[: self.size]
            self.buffer = grown
        self.buffer[self.size : needed] = values
        self.size = needed

    def grow_to(self, size: int) -> None:
        if size > self.size:
            self.append(np.zeros(size - self.size, dtype=self.buffer.dtype))


class LexicalIndex:
    """BM25 over chunk texts, returning chunk ids; chunks are added and removed in place.

    Not thread-safe: the store serialises changes and searches on one index object.
    """

    FILE = "lexical.npz"

    def __init__(self, terms: list[str], ids: np.ndarray, lengths: np.ndarray, alive: np.ndarray,
                 document_frequency: np.ndarray, indptr: np.ndarray, positions: np.ndarray,
                 frequencies: np.ndarray) -> None:
        self.terms = list(terms)
        self.vocabulary = {term: number for number, term in enumerate(self.terms)}
        self.ids = _Column(ids.astype(np.int64))  # position -> chunk id
        self.lengths = _Column(lengths.astype(np.int64))  # position -> number of terms
        self.alive = _Column(alive.astype(bool))
        self.document_frequency = _Column(document_frequency.astype(np.int64))  # term -> live chunks with it
        # The base postings, by term (CSC): term t's chunk positions and frequencies are [indptr[t], indptr[t+1]).
        self.indptr = indptr.astype(np.int64)
        self.positions = positions.astype(np.int64)
        self.frequencies = frequencies.astype(np.int64)
        self.delta: dict[int, tuple[list[int], list[int]]] = {}  # term -> positions, frequencies since compact()
        self.delta_chunks = 0
        alive_now = self.alive.view()
        self.position_of = {int(i): p for p, i in enumerate(self.ids.view()) if alive_now[p]}
        self.live = int(alive_now.sum())
        self.total_length = int(self.lengths.view()[alive_now].sum())

    # ------------------------------------------------------------------ build
    @classmethod
    def empty(cls) -> LexicalIndex:
        nothing = np.zeros(0, dtype=np.int64)
        return cls([], nothing, nothing, np.zeros(0, dtype=bool), nothing, np.zeros(1, dtype=np.int64),
                   nothing, nothing)

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str]) -> LexicalIndex:
        index = cls.empty()
        index.add(ids, texts)
        index.compact()
        return index

    def __len__(self) -> int:
        """Live chunks."""
        return self.live

    @property
    def dead(self) -> int:
        return self.ids.size - self.live

    # ---------------------------------------------------------------- changes
    def add(self, ids: Iterable[int], texts: Iterable[str]) -> None:
        for chunk_id, text in zip(ids, texts, strict=True):
            chunk_id = int(chunk_id)
            if chunk_id in self.position_of:
                raise ValueError(f"chunk {chunk_id} is already indexed")
            words = terms_of(text)
            position = self.ids.size
            self.ids.append([chunk_id])
            self.lengths.append([len(words)])
            self.alive.append([True])
            self.position_of[chunk_id] = position
            for term, frequency in Counter(words).items():
                number = self.vocabulary.get(term)
                if number is None:
                    number = self.vocabulary[term] = len(self.terms)
                    self.terms.append(term)
                    self.document_frequency.grow_to(len(self.terms))
                self.document_frequency.buffer[number] += 1
                entry = self.delta.setdefault(number, ([], []))
                entry[0].append(position)
                entry[1].append(frequency)
            self.live += 1
            self.total_length += len(words)
            self.delta_chunks += 1

    def remove(self, ids: Iterable[int], texts: Iterable[str]) -> None:
        """Remove chunks, given the texts they were added with (their terms are not kept per chunk)."""
        for chunk_id, text in zip(ids, texts, strict=True):
            position = self.position_of.pop(int(chunk_id))
            words = terms_of(text)
            if len(words) != self.lengths.buffer[position]:
                raise ValueError(f"chunk {chunk_id} was indexed with another text")
            self.alive.buffer[position] = False
            for term in set(words):
                self.document_frequency.buffer[self.vocabulary[term]] -= 1
            self.live -= 1
            self.total_length -= len(words)

    def compact(self) -> None:
        """Fold the delta postings into the base arrays (same results, faster searches, and what is saved)."""
        if not self.delta:
            self.delta_chunks = 0
            return
        vocabulary = len(self.terms)
        base_terms = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        numbers = sorted(self.delta)
        delta_terms = np.repeat(np.array(numbers, dtype=np.int64),
                                [len(self.delta[n][0]) for n in numbers])
        delta_positions = np.fromiter((p for n in numbers for p in self.delta[n][0]), dtype=np.int64)
        delta_frequencies = np.fromiter((f for n in numbers for f in self.delta[n][1]), dtype=np.int64)
        all_terms = np.concatenate([base_terms, delta_terms])
        order = np.argsort(all_terms, kind="stable")  # base postings first, each in position order
        self.positions = np.concatenate([self.positions, delta_positions])[order]
        self.frequencies = np.concatenate([self.frequencies, delta_frequencies])[order]
        self.indptr = np.zeros(vocabulary + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_terms, minlength=vocabulary), out=self.indptr[1:])
        self.delta = {}
        self.delta_chunks = 0

    # ----------------------------------------------------------------- search
    def _postings(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        positions, frequencies = [], []
        if number + 1 < len(self.indptr):
            start, end = self.indptr[number], self.indptr[number + 1]
            positions.append(self.positions[start:end])
            frequencies.append(self.frequencies[start:end])
        if number in self.delta:
            extra_positions, extra_frequencies = self.delta[number]
            positions.append(np.array(extra_positions, dtype=np.int64))
            frequencies.append(np.array(extra_frequencies, dtype=np.int64))
        if not positions:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(positions), np.concatenate(frequencies)

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids with a positive BM25 score for the query, and the scores (unordered)."""
        if not self.live:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        frequency_of = self.document_frequency.view()
        numbers = [self.vocabulary[word] for word in _SPLIT(query.lower())
                   if word in self.vocabulary and frequency_of[self.vocabulary[word]] > 0]
        if not numbers and EMPTY in self.vocabulary:  # as bm25s: a query without known words asks for empty chunks
            numbers = [self.vocabulary[EMPTY]]
        alive, lengths = self.alive.view(), self.lengths.view()
        average = self.total_length / self.live
        totals = np.zeros(self.ids.size)
        for number in numbers:  # a repeated query word counts each time, as in bm25s
            frequency = int(frequency_of[number])
            if frequency <= 0:
                continue
            idf = math.log(1 + (self.live - frequency + 0.5) / (frequency + 0.5))
            positions, counts = self._postings(number)
            keep = alive[positions]
            positions, counts = positions[keep], counts[keep].astype(np.float64)
            norm = K1 * (1 - B + B * lengths[positions] / average)
            np.add.at(totals, positions, idf * counts / (counts + norm))
        found = np.flatnonzero(totals > 0)
        return self.ids.view()[found], totals[found]

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Up to k chunk ids with a positive BM25 score, best first (ties: lower chunk id first)."""
        ids, scores = self.scores(query)
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, scores = ids[keep], scores[keep]
        order = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    # ------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        """Write the index (compacted first) into `folder`."""
        self.compact()
        np.savez(folder / self.FILE, terms=np.frombuffer(json.dumps(self.terms).encode(), dtype=np.uint8),
                 ids=self.ids.view(), lengths=self.lengths.view(), alive=self.alive.view(),
                 document_frequency=self.document_frequency.view(), indptr=self.indptr,
                 positions=self.positions, frequencies=self.frequencies)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        with np.load(folder / cls.FILE, allow_pickle=False) as saved:
            index = cls(json.loads(saved["terms"].tobytes()), saved["ids"], saved["lengths"], saved["alive"],
                        saved["document_frequency"], saved["indptr"], saved["positions"], saved["frequencies"])
        if len(index.document_frequency.view()) != len(index.terms) or index.indptr[-1] != len(index.positions):
            raise ValueError("damaged lexical index")
        return index
