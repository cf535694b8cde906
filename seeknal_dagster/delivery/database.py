"""PostgreSQL writes: exposures' tables and transforms' targets, each in one transaction.

The connection, the schema and the DuckDB → PostgreSQL column types are the feature store's online PostgreSQL
store's (one mapping for every table this project writes to PostgreSQL). ``replace`` replaces the table's rows in
one transaction and keeps the table — its grants, indexes, comments, owner and triggers — so readers see the old
rows or the new ones, never an empty or partial table; the first run creates it. A table whose columns differ from
the data fails clearly (``on_schema_change: fail``, an exposure's default) or is altered to match (``sync``).
``append`` creates the table when it does not exist yet. :func:`upsert_rows` replaces the rows whose key comes again
and inserts the others; :func:`replace_recent_rows` rewrites the rows from the table's latest time on. A failure
anywhere rolls the whole write back: the table keeps what it had.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import quote_identifier
from seeknal_dagster.featurestore.online import PostgresOnlineStore


def split_table(table: str, default_schema: str | None) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` → (schema or ``default_schema``, table)."""
    schema, _, name = table.rpartition(".")
    return (schema or default_schema), name


def open_postgres(settings: Mapping[str, Any], connection_name: str, schema: str | None) -> PostgresOnlineStore:
    """A connection to the profiles.yml connection ``connection_name`` whose tables live in ``schema`` (the
    connection's own ``schema`` when ``None``)."""
    return PostgresOnlineStore({**settings, **({"schema": schema} if schema else {})}, connection_name)


def _definitions(store: PostgresOnlineStore, columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{quote_identifier(name)} {store.column_plan(name, kind)[1]}" for name, kind in columns)


def _copy_rows(store: PostgresOnlineStore, destination: str, names: str, batches: Iterable[pa.RecordBatch]) -> int:
    row_count = 0
    with store.connection.cursor().copy(f"COPY {destination} ({names}) FROM STDIN") as copy:
        for batch in batches:
            for row in zip(*(column.to_pylist() for column in batch.columns)):
                copy.write_row(row)
            row_count += batch.num_rows
    return row_count


def table_exists(store: PostgresOnlineStore, table: str) -> bool:
    [[found]] = store.connection.execute("SELECT to_regclass(%s) IS NOT NULL", [store.qualified(table)]).fetchall()
    return bool(found)


def _prepare_target(store: PostgresOnlineStore, table: str, columns: Sequence[tuple[str, str]], key: str = "") -> str:
    """Inside a transaction: the schema and the table (created when missing, with ``key`` as its primary key),
    locked against other writers (readers go on reading the committed rows). Returns the qualified name."""
    target = store.qualified(table)
    store.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(store.schema)}")
    primary_key = f", PRIMARY KEY ({key})" if key else ""
    store.connection.execute(f"CREATE TABLE IF NOT EXISTS {target} ({_definitions(store, columns)}{primary_key})")
    store.connection.execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
    return target


def upsert_rows(
    store: PostgresOnlineStore,
    table: str,
    columns: Sequence[tuple[str, str]],
    batches: Iterable[pa.RecordBatch],
    keys: Sequence[str],
) -> dict[str, int]:
    """Rows whose ``keys`` are already in ``table`` replace those rows, the others are inserted (the rows must
    have unique, non-null keys). A table created here gets ``keys`` as its primary key."""
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    key_list = ", ".join(map(quote_identifier, keys))
    matches = " AND ".join(f"t.{quote_identifier(key)} = s.{quote_identifier(key)}" for key in keys)
    with store.connection.transaction():
        target = _prepare_target(store, table, columns, key_list)
        store.connection.execute(
            f"CREATE TEMP TABLE seeknal_upsert ({_definitions(store, columns)}) ON COMMIT DROP"
        )
        row_count = _copy_rows(store, "seeknal_upsert", names, batches)
        updated = store.connection.execute(f"DELETE FROM {target} AS t USING seeknal_upsert AS s WHERE {matches}").rowcount
        store.connection.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM seeknal_upsert")
    return {"rows_written": row_count, "rows_updated": updated, "rows_inserted": row_count - updated}


def replace_recent_rows(
    store: PostgresOnlineStore,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows_since: Callable[[Any], Iterable[pa.RecordBatch]],
    time_column: str,
    lookback: str,
) -> dict[str, Any]:
    """Rows from the table's latest ``time_column`` value minus ``lookback`` on are replaced by
    ``rows_since(cutoff)``; older rows stay. An empty (or new) table gets ``rows_since(None)``: every row."""
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    column = quote_identifier(time_column)
    with store.connection.transaction():
        target = _prepare_target(store, table, columns)
        latest = f"max({column})" if lookback.startswith("0 ") else f"max({column}) - %s::interval"
        [[cutoff]] = store.connection.execute(
            f"SELECT {latest} FROM {target}", [] if lookback.startswith("0 ") else [lookback]
        ).fetchall()
        replaced = 0
        if cutoff is not None:
            replaced = store.connection.execute(f"DELETE FROM {target} WHERE {column} >= %s", [cutoff]).rowcount
        row_count = _copy_rows(store, target, names, rows_since(cutoff))
    return {"rows_written": row_count, "rows_replaced": replaced, "since": None if cutoff is None else str(cutoff)}


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
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    with store.connection.transaction():
        return _copy_rows(store, _prepare_target(store, table, columns), names, batches)
