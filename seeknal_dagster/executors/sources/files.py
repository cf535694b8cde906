"""CSV, Parquet, JSON and JSONL files (a path, a glob or a directory), read by DuckDB's built-in readers.

The data is checked before it becomes the output (:mod:`seeknal_dagster.engines.source_data`): no empty file, CSV
rows of one width, the declared schema.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Iterable

import duckdb

from seeknal_dagster.engines.duckdb_engine import csv_options, file_reader, relation_columns, write_query
from seeknal_dagster.engines.source_data import (
    SourceDataError,
    check_csv_dialect,
    declared_schema,
    duckdb_reason,
    empty_files,
    shaped_select,
)
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.sources.reader import SourceReader
from seeknal_dagster.project.checks.source import file_location


def files_matching(pattern: Path) -> list[Path]:
    """Every file a pattern reads, globs and directories expanded, in a stable order."""
    return sorted(Path(match) for match in glob.glob(str(pattern), recursive=True) if Path(match).is_file())


class FileReader(SourceReader):
    """``source: csv | parquet | json | jsonl``; paths are relative to the project root."""

    def plan(self) -> str:
        return self.relation()

    def pattern(self) -> Path:
        """The file (or glob) to read, relative to the project root; a directory means every file of the type in it."""
        path = self.readable(file_location(self.spec, self.params))
        if path.is_dir():
            path = path / "**" / f"*.{self.source_type}"
        matches = glob.glob(str(path), recursive=True)
        if not matches:
            raise ExecutorValidationError(
                self.node_id,
                f"{self.source_type} source file not found: {self.shown_path(path)} "
                f"(paths are relative to the project root {self.context.workspace_path})",
            )
        for match in matches:  # a symlink met by the glob is followed before it is read
            self.readable(match)
        return path

    def relation(self, read_as_text: Iterable[str] = ()) -> str:
        """The DuckDB table function reading the file source with its params (see :func:`file_reader`)."""
        return file_reader(self.source_type, self.pattern(), self.params, read_as_text)

    def read(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        pattern = self.pattern()
        location = self.shown_path(pattern)
        files = files_matching(pattern)
        empty = empty_files(files) if self.source_type != "parquet" else []
        if empty:
            raise ExecutorExecutionError(
                self.node_id,
                f"{self.source_type} file {self.shown_path(empty[0])} is empty: there is nothing to read, not even "
                "a header line",
            )
        declared = declared_schema(self.spec.columns)
        cursor = self.context.get_duckdb_connection().cursor()
        try:
            if self.source_type == "csv" and files:
                check_csv_dialect(cursor, files[0], csv_options(self.params), self.shown_path(files[0]))
            relation = self.relation()
            if self.source_type == "csv" and any(declared.values()):
                present = {name.lower(): name for name in relation_columns(cursor, relation)}
                typed = [present[name.lower()] for name, kind in declared.items() if kind and name.lower() in present]
                relation = self.relation(read_as_text=typed)
            row_count = write_query(cursor, shaped_select(cursor, relation, declared, location), output_path)
        except SourceDataError as error:
            raise ExecutorExecutionError(self.node_id, f"{self.source_type} file {error}") from None
        except duckdb.Error as error:
            message = f"could not read {self.source_type} file {location}: {duckdb_reason(error)}"
            raise ExecutorExecutionError(self.node_id, message, cause=error) from error
        finally:
            cursor.close()
        return row_count, {"location": location}
