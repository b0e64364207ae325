"""The derived indexes (FAISS and BM25) of the embedded store, kept in step with SQLite write by write.

On disk, under `indexes/`, the indexes of version v are a snapshot `base-<b>/` (b <= v) and one change
file per later write, `log-<b+1>.npz` ... `log-<v>.npz`: the chunks that write removed (ids, texts) and
added (ids, texts, vectors). A write saves its change file before its SQLite transaction commits, and
then applies the change to the indexes in memory: work proportional to the write, not to the store.
Every `SNAPSHOT_EVERY_WRITES` writes (or when the changes since the snapshot grow past a share of it)
the write first saves the indexes of the committed version as a new snapshot; when removed chunks
pile up past `REBUILD_DEAD_SHARE` of the live ones, the write rebuilds both indexes from SQLite instead
(what happens anyway when the files are missing or damaged). A store object that finds the database at
a later version than its indexes (another process wrote) applies the change files in between, or loads
the snapshot and change files when those are gone.

Every file appears whole or not at all (written under a temporary name, then renamed), and files for
versions above the committed one (left by a write that died before its commit) are deleted by the
next write before it saves its own, so a crash at any point leaves files that load as the committed
version, or that fail to load and are rebuilt from SQLite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.dense import DenseIndex
from index.lexical import LexicalIndex

SNAPSHOT_EVERY_WRITES = 64
SNAPSHOT_CHANGED_SHARE = 0.25  # chunks added since the snapshot, as a share of it, that also calls for one
REBUILD_DEAD_SHARE = 0.25
REBUILD_DEAD_MIN = 256  # below this many dead chunks, never rebuild for them

STALE_STAGING_SECONDS = 3600  # a staging file this old belongs to a writer that died (others are still writing)

_NAME = re.compile(r"(base|log)-(\d+)(\.npz)?$")


class Change:
    """The chunks one write removed and added (a chunk added and removed within the write is in neither)."""

    def __init__(self) -> None:
        self.removed: dict[int, str] = {}  # chunk id -> text
        self.added: dict[int, tuple[str, np.ndarray]] = {}  # chunk id -> text, vector

    def remove(self, chunk_id: int, text: str) -> None:
        if self.added.pop(chunk_id, None) is None:
            self.removed[chunk_id] = text

    def add(self, chunk_id: int, text: str, vector: np.ndarray) -> None:
        self.added[chunk_id] = (text, vector)

    @property
    def removed_ids(self) -> list[int]:
        return list(self.removed)

    @property
    def removed_texts(self) -> list[str]:
        return list(self.removed.values())

    @property
    def added_ids(self) -> list[int]:
        return list(self.added)

    @property
    def added_texts(self) -> list[str]:
        return [text for text, _ in self.added.values()]

    def vectors(self, dimension: int) -> np.ndarray:
        if not self.added:
            return np.zeros((0, dimension), dtype=np.float32)
        return np.stack([vector for _, vector in self.added.values()]).astype(np.float32)

    def save(self, path: Path, dimension: int) -> None:
        texts = json.dumps({"removed": self.removed_texts, "added": self.added_texts}).encode()
        with path.open("wb") as file:
            np.savez(file, removed_ids=np.array(self.removed_ids, dtype=np.int64),
                     added_ids=np.array(self.added_ids, dtype=np.int64), vectors=self.vectors(dimension),
                     texts=np.frombuffer(texts, dtype=np.uint8))

    @classmethod
    def load(cls, path: Path) -> Change:
        change = cls()
        with np.load(path, allow_pickle=False) as saved:
            texts = json.loads(saved["texts"].tobytes())
            removed_ids, added_ids, vectors = saved["removed_ids"], saved["added_ids"], saved["vectors"]
        if len(removed_ids) != len(texts["removed"]) or not len(added_ids) == len(texts["added"]) == len(vectors):
            raise ValueError(f"damaged change file {path}")
        change.removed = {int(i): text for i, text in zip(removed_ids, texts["removed"], strict=True)}
        change.added = {int(i): (text, vector) for i, text, vector in zip(added_ids, texts["added"], vectors,
                                                                         strict=True)}
        return change


@dataclass
class DerivedIndexes:
    """The dense and lexical indexes of one store version, changed in place by `apply` (under `lock`)."""

    version: int
    dense: DenseIndex
    lexical: LexicalIndex
    writes_since_snapshot: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, version: int, ids: np.ndarray, vectors: np.ndarray, texts: Sequence[str],
              exact: bool) -> DerivedIndexes:
        return cls(version, DenseIndex.build(ids, vectors, exact=exact), LexicalIndex.build(ids, texts))

    def __len__(self) -> int:
        return len(self.lexical)

    def apply(self, change: Change, version: int) -> None:
        """Bring the indexes from `version - 1` to `version`."""
        if version != self.version + 1:
            raise ValueError(f"a change to version {version} applied to version {self.version}")
        with self.lock:
            self.dense.remove(change.removed_ids)
            self.lexical.remove(change.removed_ids, change.removed_texts)
            self.dense.add(np.array(change.added_ids, dtype=np.int64), change.vectors(self.dense.dimension))
            self.lexical.add(change.added_ids, change.added_texts)
            self.version = version
            self.writes_since_snapshot += 1

    def dense_search(self, vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        with self.lock:
            return self.dense.search(vector, depth)

    def lexical_search(self, query: str, depth: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        with self.lock:
            return self.lexical.search(query, depth, allowed)

    def wants_snapshot(self) -> bool:
        since = self.lexical.delta_chunks
        return self.writes_since_snapshot >= SNAPSHOT_EVERY_WRITES or \
            since > SNAPSHOT_CHANGED_SHARE * max(len(self.lexical) - since, 0) + 64

    def wants_rebuild(self, change: Change, exact_search_max_chunks: int) -> bool:
        """Whether, after `change`, removed chunks are too many to keep skipping, or the store crossed the
        size where dense search changes between exact and HNSW."""
        dead = self.lexical.dead + len(change.removed_ids)
        live = len(self.lexical) - len(change.removed_ids) + len(change.added_ids)
        return (dead >= REBUILD_DEAD_MIN and dead > REBUILD_DEAD_SHARE * live) or \
            self.dense.exact != (live <= exact_search_max_chunks)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


class DerivedFolders:
    """Snapshots and change files of derived indexes under one root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _versions(self, kind: str) -> list[int]:
        if not self.root.is_dir():
            return []
        found = (_NAME.match(entry.name) for entry in self.root.iterdir())
        return sorted(int(m.group(2)) for m in found if m is not None and m.group(1) == kind)

    def _log(self, version: int) -> Path:
        return self.root / f"log-{version}.npz"

    def load(self, version: int, dimension: int) -> DerivedIndexes | None:
        """The indexes of `version` from the newest snapshot at or below it and the change files after it,
        or None when they are absent or damaged (they are then rebuilt from the database)."""
        for base in reversed([b for b in self._versions("base") if b <= version]):
            if not all(self._log(v).is_file() for v in range(base + 1, version + 1)):
                continue
            try:
                folder = self.root / f"base-{base}"
                dense = DenseIndex.load(folder)
                lexical = LexicalIndex.load(folder)
                if dense.dimension != dimension or len(dense) != len(lexical):
                    continue
                derived = DerivedIndexes(base, dense, lexical)
                for later in range(base + 1, version + 1):
                    derived.apply(Change.load(self._log(later)), later)
                derived.writes_since_snapshot = version - base
                return derived
            except Exception:  # a damaged or vanished file: try an older snapshot, else rebuild from the database
                continue
        return None

    def catch_up(self, derived: DerivedIndexes, version: int) -> bool:
        """Bring `derived` to `version` with the change files after its own version, when they are all
        there (another process's writes; a snapshot since may have deleted them). False leaves `derived`
        as it was, or in an unknown state when a change failed to apply: then it must be dropped."""
        try:
            changes = [Change.load(self._log(later)) for later in range(derived.version + 1, version + 1)]
        except Exception:  # missing or damaged: load the whole indexes instead
            return False
        for later, change in enumerate(changes, start=derived.version + 1):
            derived.apply(change, later)
        return True

    def save_snapshot(self, derived: DerivedIndexes) -> None:
        """Save `derived` whole as `base-<its version>`; the change files after it stay valid."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"base-{derived.version}"
        staging = self.root / f".base-{derived.version}.tmp-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        with derived.lock:
            derived.dense.save(staging)
            derived.lexical.save(staging)  # compacts the lexical delta: same results, faster searches
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        derived.writes_since_snapshot = 0

    def save_change(self, change: Change, version: int, dimension: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".log-{version}.tmp-{os.getpid()}-{threading.get_ident()}"
        change.save(staging, dimension)
        staging.replace(self._log(version))

    def drop_after(self, version: int) -> None:
        """Delete files for versions above `version`: left by a write that died before committing."""
        for kind in ("base", "log"):
            for later in (v for v in self._versions(kind) if v > version):
                self._remove(self.root / (f"base-{later}" if kind == "base" else f"log-{later}.npz"))

    def drop_before(self, version: int) -> None:
        """Delete what loading `version` no longer needs: older snapshots and their change files,
        files of the earlier layout, and staging files of writers that died."""
        bases = [b for b in self._versions("base") if b <= version]
        keep = bases[-1] if bases else version
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            match = _NAME.match(entry.name)
            if match is not None:
                if int(match.group(2)) < keep or (match.group(1) == "log" and int(match.group(2)) == keep):
                    self._remove(entry)
            elif re.fullmatch(r"v\d+(\.tmp)?", entry.name) or (
                    entry.name.startswith(".") and ".tmp-" in entry.name and _older_than(entry, STALE_STAGING_SECONDS)):
                self._remove(entry)

    @staticmethod
    def _remove(path: Path) -> None:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
