"""``source``: read external data (files, SQLite, PostgreSQL, Hive) into the node's Parquet output.

Every reader works offline: files through DuckDB's built-in readers, databases through Python drivers (stdlib
``sqlite3``, ``psycopg``) or the configured Spark catalog, never through DuckDB extensions downloaded at run time.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Callable

from seeknal_dagster.engines.duckdb_engine import quote_literal, write_query
from seeknal_dagster.executors.base import BaseExecutor, ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.project.models import NodeKind, SourceSpec
from seeknal_dagster.project.profiles import redact

FILE_TYPES = ("csv", "parquet", "json", "jsonl")
SOURCE_TYPES = (*FILE_TYPES, "sqlite", "postgresql", "hive")


def _sql_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return quote_literal(str(value))


@register_executor(NodeKind.SOURCE)
class SourceExecutor(BaseExecutor):
    @property
    def spec(self) -> SourceSpec:
        return self.node.spec  # type: ignore[return-value]

    @property
    def source_type(self) -> str:
        declared = self.spec.source.lower()
        return "postgresql" if declared == "postgres" else declared

    def params(self) -> dict[str, Any]:
        """Profile ``source_defaults`` for the type, overridden by the node's own (rendered) params."""
        defaults = self.context.profiles.defaults_for(self.source_type)
        return {**defaults, **self.context.renderer.render_params(self.spec.params)}

    def location(self) -> str:
        return str(self.spec.table or self.params().get("path") or "")

    def validate(self) -> None:
        if self.source_type not in SOURCE_TYPES:
            raise ExecutorValidationError(
                self.node.id,
                f"unsupported source type '{self.spec.source}' (supported: {', '.join(SOURCE_TYPES)}, postgres)",
            )
        if self.source_type in (*FILE_TYPES, "sqlite"):
            path = self.context.resolve_path(self.params().get("path") or self.location())
            if not glob.glob(str(path), recursive=True):
                raise ExecutorValidationError(self.node.id, f"{self.source_type} source file not found: {path}")

    def execute(self) -> ExecutorResult:
        reader = self.readers()[self.source_type]
        output_path = self.context.get_output_path(self.node)
        row_count = reader(output_path)
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=row_count,
            output_path=output_path,
            metadata={
                "engine": "spark" if self.source_type == "hive" else "duckdb",
                "source_type": self.source_type,
                "location": self.location() if self.source_type != "postgresql" else self.spec.table or "query",
                "params": redact(self.spec.params),
            },
        )

    def readers(self) -> dict[str, Callable[[Path], int]]:
        return {
            "csv": self._read_with_duckdb,
            "parquet": self._read_with_duckdb,
            "json": self._read_with_duckdb,
            "jsonl": self._read_with_duckdb,
            "sqlite": self._read_sqlite,
            "postgresql": self._read_postgresql,
            "hive": self._read_hive,
        }

    def duckdb_relation(self) -> str:
        """The DuckDB table function reading a file source with its params."""
        params = self.params()
        path = quote_literal(self.context.resolve_path(self.location()))
        if self.source_type == "csv":
            options = {"delim": params.get("delimiter", params.get("delim")), "header": params.get("header"), "skip": params.get("skip")}
            rendered = "".join(f", {key} = {_sql_value(value)}" for key, value in options.items() if value is not None)
            return f"read_csv({path}, auto_detect = true{rendered})"
        if self.source_type == "parquet":
            return f"read_parquet({path}, union_by_name = true)"
        json_format = {"newline": "newline_delimited", "array": "array"}.get(str(params.get("format", "auto")), "auto")
        if self.source_type == "jsonl" and json_format == "auto":
            json_format = "newline_delimited"
        return f"read_json_auto({path}, format = {quote_literal(json_format)})"

    def _read_with_duckdb(self, output_path: Path) -> int:
        connection = self.context.get_duckdb_connection().cursor()
        try:
            return write_query(connection, f"SELECT * FROM {self.duckdb_relation()}", output_path)
        finally:
            connection.close()

    def _write_arrow(self, table: Any, output_path: Path) -> int:
        connection = self.context.get_duckdb_connection().cursor()
        try:
            connection.register("source_rows", table)
            return write_query(connection, "SELECT * FROM source_rows", output_path)
        finally:
            connection.close()

    def _read_sqlite(self, output_path: Path) -> int:
        import sqlite3

        import pyarrow as pa

        params = self.params()
        database = self.context.resolve_path(params.get("path") or self.spec.table)
        table = params.get("table") or (self.spec.table if params.get("path") else None)
        if not table:
            raise ExecutorValidationError(self.node.id, "a sqlite source needs params.table (the table to read)")
        query = params.get("query") or f'SELECT * FROM "{params.get("schema", "main")}"."{table}"'
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            cursor = connection.execute(query)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        arrow_table = pa.table({name: [row[index] for row in rows] for index, name in enumerate(names)})
        return self._write_arrow(arrow_table, output_path)

    def _read_postgresql(self, output_path: Path) -> int:
        raise NotImplementedError("PostgreSQL sources are not implemented yet")

    def _read_hive(self, output_path: Path) -> int:
        raise NotImplementedError("Hive sources are not implemented yet")

