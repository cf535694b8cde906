"""SQLite databases, read through the stdlib ``sqlite3`` driver (no DuckDB extension needed), opened read-only."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import quote_identifier
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.sources.arrow import ArrowColumn, arrow_batches
from seeknal_dagster.executors.sources.reader import SourceReader
from seeknal_dagster.project.checks.source import read_only_query, sqlite_location


def sqlite_column(name: str, declared: str, stored: set[str]) -> ArrowColumn:
    """The Arrow column for a SQLite column, from its declared type and the storage classes its values use.

    SQLite types values, not columns. The declared type decides where the values agree with it or there are none
    (so a zero-row table keeps its types); an INTEGER column that also holds text becomes text. Text in a DATE or
    DATETIME column must be ISO 8601, as DuckDB's own SQLite reader requires.
    """
    declared = declared.upper()
    stored = stored - {"null", ""}
    if len(stored) > 1 and stored & {"text", "blob"}:
        if "blob" in stored:
            raise ValueError(f"column '{name}' mixes blob and {', '.join(sorted(stored - {'blob'}))} values")
        return ArrowColumn(name, pa.string(), str)
    if stored <= {"text"}:
        if "DATETIME" in declared or "TIMESTAMP" in declared:
            return ArrowColumn(name, pa.timestamp("us"), datetime.fromisoformat)
        if "DATE" in declared:
            return ArrowColumn(name, pa.date32(), date.fromisoformat)
        if stored or any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
            return ArrowColumn(name, pa.string())
    if stored <= {"blob"} and (stored or "BLOB" in declared):
        return ArrowColumn(name, pa.binary())
    numeric = any(word in declared for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"))
    if stored <= {"integer"} and "BOOL" in declared:
        return ArrowColumn(name, pa.bool_(), bool)
    if stored <= {"integer"} and ("INT" in declared or (stored and not numeric)):
        return ArrowColumn(name, pa.int64())
    if stored <= {"integer", "real"} and (stored or numeric):
        return ArrowColumn(name, pa.float64(), float)
    return ArrowColumn(name, pa.string(), str)


class SqliteReader(SourceReader):
    """``source: sqlite``: a table, or ``params.query``, streamed in batches into the output."""

    def plan(self) -> tuple[Path, str]:
        """(database file, query): ``table: data/x.db`` + ``params.table``, or ``params.path`` + ``table`` as
        the table name; ``params.query`` replaces the table."""
        database_path, table = sqlite_location(self.spec, self.params)
        database = self.readable(database_path)
        if not database.is_file():
            raise ExecutorValidationError(
                self.node_id,
                f"sqlite database not found: {self.shown_path(database)} "
                f"(paths are relative to the project root {self.context.workspace_path})",
            )
        if table is None:
            return database, read_only_query(str(self.params["query"]))
        return database, f"SELECT * FROM {quote_identifier(table)}"

    def read(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        database, query = self.plan()
        location = self.shown_path(database)
        try:
            # DuckDB pulls the batches on a thread of its own; only one thread ever uses the connection at a time.
            connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, check_same_thread=False)
            try:
                columns = self.columns(connection, query)
                cursor = connection.execute("SELECT * FROM temp.seeknal_source")
                row_count = self.write_batches(columns, arrow_batches(cursor, columns), output_path)
            finally:
                connection.close()
        except (sqlite3.Error, ValueError) as error:
            message = f"could not read sqlite {location}: {error}"
            raise ExecutorExecutionError(self.node_id, message, cause=error) from error
        details: dict[str, Any] = {"location": location}
        if self.params.get("query"):
            details["sql"] = query
        return row_count, details

    @staticmethod
    def columns(connection: sqlite3.Connection, query: str) -> list[ArrowColumn]:
        """Columns of the query, typed from a temporary view over it: declared types, plus one pass collecting
        the storage classes each column actually holds."""
        connection.execute(f"CREATE TEMP VIEW seeknal_source AS {query}")
        declared = [(row[1], row[2] or "") for row in connection.execute("PRAGMA temp.table_info(seeknal_source)")]
        storage_classes = ", ".join(f"group_concat(DISTINCT typeof({quote_identifier(name)}))" for name, _ in declared)
        stored = connection.execute(f"SELECT {storage_classes} FROM temp.seeknal_source").fetchone()
        return [
            sqlite_column(name, declared_type, set((classes or "").split(",")))
            for (name, declared_type), classes in zip(declared, stored)
        ]
