"""The embedded store's SQL engine: SQLite, its schema and migrations (the version is `PRAGMA user_version`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from index.sql.dialect import Dialect, newer_schema, statements

# Applied in order, each once, in one transaction; `PRAGMA user_version` records how many ran. A later
# change to the schema is a new entry at the end, never an edit of an applied one.
MIGRATIONS: tuple[str, ...] = (
    # The schema as it was before it was numbered (stores made then have it: IF NOT EXISTS keeps them).
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS documents (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, metadata TEXT NOT NULL,
        added_at REAL NOT NULL, chunk_count INTEGER NOT NULL, sentence_count INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS sentences (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
        PRIMARY KEY (document_id, idx));
    CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
        first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL,
        text TEXT NOT NULL, embedding BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
    CREATE TABLE IF NOT EXISTS sources (
        document_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        source_type TEXT NOT NULL, media_type TEXT NOT NULL, filename TEXT NOT NULL, sha256 TEXT NOT NULL,
        content BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS pages (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        number INTEGER NOT NULL, label TEXT, start INTEGER NOT NULL, end INTEGER NOT NULL,
        width REAL NOT NULL, height REAL NOT NULL, rotation INTEGER NOT NULL, boxes BLOB NOT NULL,
        PRIMARY KEY (document_id, number));
    CREATE TABLE IF NOT EXISTS sections (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, path TEXT NOT NULL,
        PRIMARY KEY (document_id, idx));
    """,
    # The PostgreSQL schema's column names (`end` is reserved there), so both stores share one SQL layer.
    """
    ALTER TABLE sentences RENAME COLUMN start TO start_char;
    ALTER TABLE sentences RENAME COLUMN end TO end_char;
    ALTER TABLE chunks RENAME COLUMN start TO start_char;
    ALTER TABLE chunks RENAME COLUMN end TO end_char;
    ALTER TABLE pages RENAME COLUMN start TO start_char;
    ALTER TABLE pages RENAME COLUMN end TO end_char;
    ALTER TABLE sections RENAME COLUMN start TO start_char;
    ALTER TABLE sections RENAME COLUMN end TO end_char;
    """,
)


class SqliteDialect(Dialect):
    """SQLite through `sqlite3` in autocommit mode (`isolation_level=None`): transactions are explicit."""

    name = "sqlite"
    placeholder = "?"
    migrations = MIGRATIONS

    def json_param(self, value: Any) -> Any:
        return json.dumps(value)

    def json_value(self, stored: Any) -> Any:
        return json.loads(stored)

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} IN ({','.join('?' * len(values))})", tuple(values)

    def insert_rows(self, connection: sqlite3.Connection, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        connection.executemany(f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                               rows)

    @contextmanager
    def snapshot(self, connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """WAL gives each read transaction a snapshot."""
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def migrate(self, connection: sqlite3.Connection) -> int:
        """Migrations run under the write lock (BEGIN IMMEDIATE), so processes opening one store together
        apply each once; an up-to-date store is only read."""
        if self._applied(connection) == len(MIGRATIONS):
            return len(MIGRATIONS)
        connection.execute("BEGIN IMMEDIATE")
        try:
            applied = self._applied(connection)
            for script in MIGRATIONS[applied:]:
                for statement in statements(script):
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return len(MIGRATIONS)

    @staticmethod
    def _applied(connection: sqlite3.Connection) -> int:
        applied = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if applied > len(MIGRATIONS):
            raise newer_schema(applied, len(MIGRATIONS))
        return applied


SQLITE = SqliteDialect()
