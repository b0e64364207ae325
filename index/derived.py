"""The derived indexes (FAISS and BM25) of one store version, and their folders' life cycle.

They are rebuilt from the database on every write and written to `indexes/v<version>` before the
write commits, so a crash at any point leaves a folder matching the committed version (or none, and
the next start rebuilds it).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.dense import DenseIndex
from index.lexical import LexicalIndex


@dataclass
class DerivedIndexes:
    """The dense and lexical indexes built from the chunks of one store version."""

    version: int
    dense: DenseIndex
    lexical: LexicalIndex

    @classmethod
    def build(cls, version: int, ids: np.ndarray, vectors: np.ndarray, texts: Sequence[str],
              exact: bool) -> DerivedIndexes:
        return cls(version, DenseIndex.build(ids, vectors, exact=exact), LexicalIndex.build(ids, texts))


class DerivedFolders:
    """Versioned folders of derived indexes under one root; a folder appears whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def load(self, version: int) -> DerivedIndexes | None:
        """The indexes saved for `version`, or None when absent or damaged (they are then rebuilt)."""
        folder = self.root / f"v{version}"
        if not folder.is_dir():
            return None
        try:
            return DerivedIndexes(version, DenseIndex.load(folder), LexicalIndex.load(folder))
        except Exception:  # a damaged derived index is rebuilt from the database, never trusted
            return None

    def save(self, derived: DerivedIndexes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"v{derived.version}"
        staging = self.root / f"v{derived.version}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        derived.dense.save(staging)
        derived.lexical.save(staging)
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)

    def drop_all_but(self, keep: int) -> None:
        for folder in self.root.glob("v*"):
            if folder.name != f"v{keep}":
                shutil.rmtree(folder, ignore_errors=True)
