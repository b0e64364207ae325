"""What differs between the SQL engines the stores run on, named in one place; the rest of index/sql is shared.

Statements are written once with `?` placeholders and one set of table and column names; a dialect says
how to bind them, how JSON columns are written and read, how a list of values is matched, how many rows
are inserted at once, how a read sees one snapshot, and how its schema is created and migrated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any


class Dialect(ABC):
    """One SQL engine's ways; `migrations` is its schema, applied in order, each once, never edited."""

    name: str
    placeholder: str = "?"
    migrations: tuple[str, ...] = ()

    def q(self, statement: str) -> str:
        """A statement written with `?` placeholders, in this engine's placeholder style."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    @abstractmethod
    def json_param(self, value: Any) -> Any:
        """What to bind for a JSON column holding `value`."""

    @abstractmethod
    def json_value(self, stored: Any) -> Any:
        """The value of a JSON column as the engine returns it."""

    @abstractmethod
    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """A condition that `column` is one of `values`, and its parameters."""

    @abstractmethod
    def insert_rows(self, connection: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows into `table` (in the caller's transaction)."""

    @abstractmethod
    def snapshot(self, connection: Any) -> AbstractContextManager[Any]:
        """A read-only transaction whose reads all see one committed state."""

    @abstractmethod
    def migrate(self, connection: Any) -> int:
        """Apply the migrations the database lacks; the schema version it has afterwards."""


def newer_schema(applied: int, known: int) -> RuntimeError:
    """The error of a database migrated by a newer citeqa than this one."""
    return RuntimeError(f"the database's schema (version {applied}) is newer than this citeqa's ({known}): "
                        "upgrade citeqa")


def statements(script: str) -> Iterator[str]:
    """The statements of a migration script (no statement of ours holds a `;` inside)."""
    return (statement.strip() for statement in script.split(";") if statement.strip())
