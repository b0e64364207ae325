"""The SQL layer every SQL-backed store shares: one schema's names, its statements and row mapping, its reads.

- `dialect.py`: `Dialect`, the few things SQL engines do differently, named once.
- `sqlite.py` / `postgresql.py`: the two dialects, each with its schema and numbered migrations.
- `rows.py`: the statements that read and write rows, and the records they map to, written once.
- `reads.py`: `SqlReads`, the store methods that only read (listing, documents, chunks), and the manifest check.

A new SQL backend adds a dialect module here and a store class that mixes in `SqlReads` and keeps only
what is its own (how it connects, how it writes, its rankings).
"""
