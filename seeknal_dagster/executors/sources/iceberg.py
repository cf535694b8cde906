"""Iceberg tables, read through pyiceberg from the catalog the profile (or the params) names.

The current snapshot is streamed into DuckDB, only the columns ``params.query`` can use; the query runs in DuckDB
over that stream with the table under its own name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seeknal_dagster.engines.duckdb_engine import quote_identifier, write_query
from seeknal_dagster.engines.iceberg import (
    CatalogSettings,
    IcebergError,
    TableName,
    query_columns,
    shown_params,
    snapshot_state,
)
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.sources.arrow import surfacing_stream_errors
from seeknal_dagster.executors.sources.reader import SourceReader
from seeknal_dagster.project.checks.source import read_only_query
from seeknal_dagster.project.secrets import redact, scrub

#: Source params that say where an Iceberg catalog is (Seeknal's ``catalog_uri`` and ``warehouse``, plus ours).
ICEBERG_CATALOG_PARAMS = ("catalog_uri", "catalog_type", "warehouse", "bearer_token", "properties")


class IcebergReader(SourceReader):
    """``source: iceberg`` with ``table: catalog.namespace.table``, optionally narrowed by ``params.query``."""

    def plan(self) -> tuple[TableName, CatalogSettings, str | None]:
        """(table, catalog, ``params.query`` or ``None``). The table is ``catalog.namespace.table`` as Seeknal
        requires, even with a query (which names it); the catalog comes from profiles.yml's
        ``materialization.catalog``, overridden by the params (``source_defaults.iceberg``, then the node's)."""
        if not self.spec.table:
            raise ExecutorValidationError(
                self.node_id, "an iceberg source needs 'table: catalog.namespace.table', even with params.query"
            )
        try:
            name = TableName.parse(self.spec.table, require_catalog=True)
            inline = {key: self.params[key] for key in ICEBERG_CATALOG_PARAMS if key in self.params}
            settings = CatalogSettings.from_config(
                str(name.catalog), [self.context.profiles.iceberg_catalog, inline], self.context.workspace_path
            )
        except (ValueError, IcebergError) as error:
            raise ExecutorValidationError(self.node_id, str(error)) from None
        query = read_only_query(str(self.params["query"])) if self.params.get("query") else None
        return name, settings, query

    def read(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        """Stream the table's current snapshot into the output, only the columns ``params.query`` can use; the
        query runs in DuckDB over that stream, with the table under its own name (``catalog.namespace.table``,
        or ``namespace.table`` / ``table`` for short)."""
        name, settings, query = self.plan()
        cursor = self.context.get_duckdb_connection().cursor()
        [[home]] = cursor.execute("SELECT current_database()").fetchall()
        attached = False
        try:
            catalog = settings.open(must_exist=True)
            table = catalog.load(name)
            state = snapshot_state(table)
            columns = [column.name for column in table.schema().fields]
            read = query_columns(cursor, query, columns) if query else None
            reader = catalog.scan(table, name, read)
            with surfacing_stream_errors(reader.schema, iter(reader)) as stream:
                cursor.register("source_rows", stream)
                if query is None:
                    row_count = write_query(cursor, self.shaped(cursor, "source_rows"), output_path)
                else:
                    alias, namespace = quote_identifier(str(name.catalog)), quote_identifier(name.namespace)
                    cursor.execute(f"ATTACH ':memory:' AS {alias}")
                    attached = True
                    cursor.execute(f"CREATE SCHEMA {alias}.{namespace}")
                    view = f"{alias}.{namespace}.{quote_identifier(name.table)}"
                    cursor.execute(f"CREATE VIEW {view} AS SELECT * FROM source_rows")
                    cursor.execute(f"USE {alias}.{namespace}")
                    row_count = write_query(cursor, self.shaped(cursor, f"({query})"), output_path)
        except IcebergError as error:
            raise ExecutorExecutionError(self.node_id, str(error)) from None
        except Exception as error:
            reason = str(error).split("\n\nLINE ")[0].strip() or type(error).__name__
            message = f"could not read Iceberg table {name} ({settings.shown}): {reason}"
            raise ExecutorExecutionError(self.node_id, scrub(message)) from None
        finally:
            if attached:
                cursor.execute(f"USE {quote_identifier(home)}")
                cursor.execute(f"DETACH {quote_identifier(str(name.catalog))}")
            cursor.close()
        details: dict[str, Any] = {
            "location": str(name),
            "catalog": settings.shown,
            "snapshot_id": str(state["snapshot_id"] or "none (the table was never written)"),
            "params": redact(shown_params(self.executor.shown_params, settings)),
        }
        if query:
            details["sql"] = query
        if read is not None:
            details["columns_read"] = read
        return row_count, details
