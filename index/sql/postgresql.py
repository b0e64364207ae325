"""The server store's SQL engine: PostgreSQL (psycopg), its schema, migrations, and the outbox's statements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from index.sql.dialect import Dialect, newer_schema

# Applied in order, each once, in one transaction per migration; schema_migrations records which ran.
# A later change to the schema is a new entry at the end, never an edit of an applied one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value JSONB NOT NULL);
    CREATE TABLE documents (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, metadata JSONB NOT NULL,
        added_at DOUBLE PRECISION NOT NULL, chunk_count INTEGER NOT NULL, sentence_count INTEGER NOT NULL);
    CREATE TABLE sentences (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
        PRIMARY KEY (document_id, idx));
    CREATE TABLE chunks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
        first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL,
        text TEXT NOT NULL, embedding BYTEA NOT NULL);
    CREATE INDEX chunks_by_document ON chunks(document_id);
    INSERT INTO meta(key, value) VALUES ('version', '0');
    """,
    # Documents written (or deleted) in PostgreSQL whose chunks Milvus may not match yet: the outbox that
    # every write fills in its own transaction and that syncing, start and `citeqa rebuild` drain.
    """
    CREATE TABLE milvus_pending (document_id TEXT PRIMARY KEY, version BIGINT NOT NULL);
    """,
    # Whether Milvus may hold rows of the document that PostgreSQL no longer has (it had chunks before the
    # write, or was deleted). A document only ever added has none, and its sync skips Milvus's filtered
    # delete, whose cost grows with the collection. Rows from before this column are taken as stale.
    """
    ALTER TABLE milvus_pending ADD COLUMN stale BOOLEAN NOT NULL DEFAULT true;
    """,
    # PDF and Word files: the original file, the pages with their character boxes, the sections.
    """
    CREATE TABLE sources (
        document_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        source_type TEXT NOT NULL, media_type TEXT NOT NULL, filename TEXT NOT NULL, sha256 TEXT NOT NULL,
        content BYTEA NOT NULL);
    CREATE TABLE pages (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        number INTEGER NOT NULL, label TEXT, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
        width DOUBLE PRECISION NOT NULL, height DOUBLE PRECISION NOT NULL, rotation INTEGER NOT NULL,
        boxes BYTEA NOT NULL, PRIMARY KEY (document_id, number));
    CREATE TABLE sections (
        document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL, path JSONB NOT NULL,
        PRIMARY KEY (document_id, idx));
    """,
)
# Serialises migrations of replicas that start together (a transaction-level advisory lock).
MIGRATION_LOCK = 7_130_017


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3 in autocommit mode: transactions are explicit (`connection.transaction()`)."""

    name = "postgresql"
    placeholder = "%s"
    migrations = MIGRATIONS

    def json_param(self, value: Any) -> Any:
        return Jsonb(value)

    def json_value(self, stored: Any) -> Any:
        return stored  # psycopg decodes JSONB

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} = ANY(%s)", (list(values),)

    def insert_rows(self, connection: Connection[Any], table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
        with connection.cursor() as cursor, cursor.copy(f"COPY {table}({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    @contextmanager
    def snapshot(self, connection: Connection[Any]) -> Iterator[Connection[Any]]:
        """A repeatable-read, read-only transaction."""
        with connection.transaction():
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield connection

    def migrate(self, connection: Connection[Any]) -> int:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                               "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            applied = int(row[0]) if row else 0
            if applied > len(MIGRATIONS):
                raise newer_schema(applied, len(MIGRATIONS))
            for number, statement in enumerate(MIGRATIONS[applied:], start=applied + 1):
                connection.execute(statement)  # type: ignore[arg-type]  # constant DDL, no parameters
                connection.execute("INSERT INTO schema_migrations(version) VALUES (%s)", (number,))
        return len(MIGRATIONS)


POSTGRES = PostgresDialect()


def bump_version(connection: Connection[Any]) -> int:
    """The next store version; the row lock this takes also orders concurrent writers, replicas included."""
    row = connection.execute("UPDATE meta SET value = to_jsonb(value::text::bigint + 1) "
                             "WHERE key = 'version' RETURNING value").fetchone()
    assert row is not None, "the meta table lost its version row"
    return int(row[0])


def mark_pending(connection: Connection[Any], changes: Mapping[str, bool], version: int) -> None:
    """Put documents in the outbox at `version`; `changes` maps each to whether this write left stale rows.

    Staleness is sticky: a row that a sync has not yet cleared keeps it, whatever later writes say.
    """
    connection.cursor().executemany(
        "INSERT INTO milvus_pending(document_id, version, stale) VALUES (%s, %s, %s) "
        "ON CONFLICT (document_id) DO UPDATE SET version = excluded.version, "
        "stale = milvus_pending.stale OR excluded.stale",
        [(document_id, version, stale) for document_id, stale in changes.items()])
