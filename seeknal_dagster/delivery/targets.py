"""Transform targets: copies of a transform's output in PostgreSQL and Iceberg tables.

Seeknal's ``materialization:`` / ``materializations:`` entries (:class:`MaterializationTarget`) name tables a
transform's rows are also written to; the node's Parquet output stays what downstream nodes read, and the copies
are made from it once it is written. Each copy is one transaction (PostgreSQL) or one commit (Iceberg): a failure
leaves the table as it was. Connections come from profiles.yml as Seeknal reads them: a ``connections:`` entry for
PostgreSQL, ``materialization.catalog`` for Iceberg.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import pyarrow as pa

from seeknal_dagster.delivery.database import (
    open_postgres,
    replace_recent_rows,
    split_table,
    table_exists,
    upsert_rows,
    write_table,
)
from seeknal_dagster.engines.duckdb_engine import quote_identifier, relation_columns
from seeknal_dagster.engines.iceberg import BATCH_ROWS, CatalogSettings, IcebergError, TableName
from seeknal_dagster.project.secrets import scrub

if TYPE_CHECKING:
    import duckdb

    from seeknal_dagster.project.models import MaterializationTarget
    from seeknal_dagster.project.profiles import Profiles


class TargetError(Exception):
    """A target that could not be written; the message names the table and holds no secret."""


def write_target(
    connection: "duckdb.DuckDBPyConnection",
    relation: str,
    target: "MaterializationTarget",
    profiles: "Profiles",
    workspace: Path,
) -> dict[str, Any]:
    """Copy the rows of ``relation`` to ``target``; returns what metadata shows of it (where, how, how many)."""
    columns = relation_columns(connection, relation)
    needed = {column: purpose for column, purpose in [(target.time_column, "time_column")] if column}
    needed.update({key: "unique_keys" for key in target.unique_keys})
    missing = [f"'{column}' ({purpose})" for column, purpose in needed.items() if column not in columns]
    if missing:
        raise TargetError(f"the output has no column {', '.join(missing)}; available: {', '.join(columns)}")
    if target.type == "iceberg":
        return _write_iceberg(connection, relation, target, profiles, workspace)
    return _write_postgres(connection, relation, list(columns.items()), target, profiles)


def _write_postgres(
    connection: "duckdb.DuckDBPyConnection",
    relation: str,
    columns: list[tuple[str, str]],
    target: "MaterializationTarget",
    profiles: "Profiles",
) -> dict[str, Any]:
    import psycopg

    name = str(target.connection)
    try:
        settings = profiles.connection(name)
    except KeyError as error:
        raise TargetError(str(error.args[0])) from None
    schema, table = split_table(target.table, None)
    if target.mode == "upsert_by_key":
        _check_keys(connection, relation, target.unique_keys)
    try:
        store = open_postgres(settings, name, schema)
    except psycopg.Error as error:
        raise TargetError(scrub(f"could not connect to {name}: {str(error).strip()}")) from None
    shown = f"{store.schema}.{table}"

    def rows(condition: str = "", parameters: Iterable[Any] = ()) -> pa.RecordBatchReader:
        query = f"SELECT {store.select_list(columns)} FROM {relation} {condition}"
        return connection.sql(query, params=list(parameters)).to_arrow_reader(BATCH_ROWS)

    try:
        if not target.create_table and not table_exists(store, table):
            raise TargetError(f"table {shown} does not exist and create_table is false")
        if target.mode == "upsert_by_key":
            counts: dict[str, Any] = upsert_rows(store, table, columns, rows(), target.unique_keys)
        elif target.mode == "incremental_by_time":
            time_column = quote_identifier(str(target.time_column))

            def rows_since(cutoff: Any) -> pa.RecordBatchReader:
                return rows() if cutoff is None else rows(f"WHERE {time_column} >= ?", [cutoff])

            counts = replace_recent_rows(
                store, table, columns, rows_since, str(target.time_column), target.lookback_interval
            )
        else:
            mode = "replace" if target.mode == "full" else "append"
            # A transform's table follows its output: changed columns alter the table, which keeps its grants.
            counts = {"rows_written": write_table(store, table, columns, rows(), mode, on_schema_change="sync")}
    except psycopg.Error as error:
        message = f"writing {shown} ({store.location}) failed: {str(error).strip()}"
        raise TargetError(scrub(message)) from None
    finally:
        store.close()
    return {"type": "postgresql", "table": shown, "mode": target.mode, "connection": name, **counts}


def _check_keys(connection: "duckdb.DuckDBPyConnection", relation: str, keys: list[str]) -> None:
    """An upsert needs every row to name one key: NULL or repeated keys would leave duplicates behind."""
    quoted = [quote_identifier(key) for key in keys]
    any_null = " OR ".join(f"{key} IS NULL" for key in quoted)
    [[nulls, repeated]] = connection.execute(
        f"SELECT count(*) FILTER (WHERE {any_null}), count(*) - count(DISTINCT ({', '.join(quoted)})) FROM {relation}"
    ).fetchall()
    if nulls or repeated:
        problems = [f"{nulls} row(s) with a NULL key"] * bool(nulls) + [f"{repeated} repeated key(s)"] * bool(repeated)
        raise TargetError(f"unique_keys ({', '.join(keys)}) do not identify one row each: {' and '.join(problems)}")


def _write_iceberg(
    connection: "duckdb.DuckDBPyConnection",
    relation: str,
    target: "MaterializationTarget",
    profiles: "Profiles",
    workspace: Path,
) -> dict[str, Any]:
    overrides = {"catalog_uri": target.catalog_uri, "warehouse": target.warehouse}
    try:
        name = TableName.parse(target.table, require_catalog=False)
        settings = CatalogSettings.from_config(name.catalog or "default", [profiles.iceberg_catalog, overrides], workspace)
        catalog = settings.open(must_exist=False)
        if not target.create_table and not catalog.catalog.table_exists(name.identifier):
            raise TargetError(f"Iceberg table {name} does not exist and create_table is false")
        written = catalog.write(name, connection.sql(f"SELECT * FROM {relation}").to_arrow_reader(BATCH_ROWS), target.mode)
    except (ValueError, IcebergError) as error:
        raise TargetError(str(error)) from None
    return {
        "type": "iceberg",
        "table": str(name),
        "mode": target.mode,
        "catalog": settings.shown,
        "rows_written": written["rows"],
        "snapshot_id": str(written["snapshot_id"]),
    }
