"""Database deliveries: rows written to a PostgreSQL table, replaced atomically or appended.

The connection, the schema and the DuckDB → PostgreSQL column types are the feature store's online PostgreSQL
store's (one mapping for every table this project writes to PostgreSQL). ``replace`` replaces the table's rows in
one transaction and keeps the table — its grants, indexes, comments, owner and triggers — so readers see the old
rows or the new ones, never an empty or partial table; the first run creates it. A table whose columns differ from
the data fails clearly (``on_schema_change: fail``, the default) or is altered to match (``sync``). ``append``
creates the table when it does not exist yet.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import quote_identifier
from seeknal_dagster.featurestore.online import PostgresOnlineStore

MODES = ("replace", "append")
MODE_ALIASES = {"overwrite": "replace", "full": "replace", "insert": "append"}
#: What ``replace`` does when the table exists with other columns: fail (the default), or alter it to the data's.
SCHEMA_CHANGE_POLICIES = ("fail", "sync")


def split_table(table: str, default_schema: str | None) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` → (schema or ``default_schema``, table)."""
    schema, _, name = table.rpartition(".")
    return (schema or default_schema), name


def open_postgres(settings: Mapping[str, Any], connection_name: str, schema: str | None) -> PostgresOnlineStore:
    """A connection to the profiles.yml connection ``connection_name`` whose tables live in ``schema`` (the
    connection's own ``schema`` when ``None``)."""
    return PostgresOnlineStore({**settings, **({"schema": schema} if schema else {})}, connection_name)


def write_table(
    store: PostgresOnlineStore,
    table: str,
    columns: Sequence[tuple[str, str]],
    batches: Iterable[pa.RecordBatch],
    mode: str,
    on_schema_change: str = "fail",
) -> int:
    """Write ``batches`` (already shaped by ``store.select_list(columns)``) to ``table``; returns the row count.
    ``replace`` keeps the table and replaces its rows (see :meth:`PostgresOnlineStore.replace`)."""
    if mode != "append":
        return store.replace(table, columns, (), batches, on_schema_change)
    target = store.qualified(table)
    definitions = ", ".join(f"{quote_identifier(name)} {store.column_plan(name, kind)[1]}" for name, kind in columns)
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    row_count = 0
    with store.connection.transaction():
        store.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(store.schema)}")
        store.connection.execute(f"CREATE TABLE IF NOT EXISTS {target} ({definitions})")
        with store.connection.cursor().copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for batch in batches:
                for row in zip(*(column.to_pylist() for column in batch.columns)):
                    copy.write_row(row)
                row_count += batch.num_rows
    return row_count
