"""What every source family's reader shares: the node it reads for, its paths, and the write to the output.

A reader is created by :class:`~seeknal_dagster.executors.source.SourceExecutor` for the node's source type and
reads through the executor's rendered params and context, so the params are rendered once and the executor stays
the one place the node's run starts from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import duckdb
import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import write_query
from seeknal_dagster.engines.source_data import declared_schema, shaped_select
from seeknal_dagster.executors.errors import ExecutorValidationError
from seeknal_dagster.executors.sources.arrow import ArrowColumn, arrow_schema, surfacing_stream_errors
from seeknal_dagster.project.models import SourceSpec

if TYPE_CHECKING:
    from seeknal_dagster.executors.context import ExecutionContext
    from seeknal_dagster.executors.source import SourceExecutor


class SourceReader(ABC):
    """Reads one family of sources into the node's Parquet output.

    :meth:`plan` locates what will be read without reading a row (validation and fingerprints use it);
    :meth:`read` writes the rows and returns the row count with what metadata should say about the read.
    """

    #: The engine the rows pass through, as metadata names it.
    engine = "duckdb"

    def __init__(self, executor: "SourceExecutor") -> None:
        self.executor = executor
        self.node_id: str = executor.node.id
        self.spec: SourceSpec = executor.spec
        self.source_type: str = executor.source_type
        self.context: "ExecutionContext" = executor.context

    @property
    def params(self) -> dict[str, Any]:
        """The executor's rendered params, rendered when a reader first needs them (a Hive source never does)."""
        return self.executor.params

    @abstractmethod
    def plan(self) -> Any:
        """What will be read (a path, a query, a table), checked; raises :class:`ExecutorValidationError`."""

    @abstractmethod
    def read(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        """Write the source's rows to ``output_path``: (row count, metadata about the read)."""

    def shown_path(self, path: Path) -> str:
        """A path as the user wrote it: relative to the project root when it is inside it."""
        try:
            return str(path.relative_to(self.context.workspace_path))
        except ValueError:
            return str(path)

    def readable(self, written: str) -> Path:
        """``written`` resolved, once the project's path policy lets this source read it."""
        path = self.context.path_policy.resolve(written)
        problem = self.context.path_policy.read_problem(path)
        if problem:
            raise ExecutorValidationError(self.node_id, problem)
        return path

    def shaped(self, cursor: duckdb.DuckDBPyConnection, relation: str) -> str:
        """The query writing ``relation`` (rows read from a database or table) with the declared ``columns:``
        enforced; see :mod:`seeknal_dagster.engines.source_data`."""
        return shaped_select(cursor, relation, declared_schema(self.spec.columns), "the data")

    def write_arrow(self, data: pa.Table | pa.RecordBatchReader, output_path: Path) -> int:
        """Write Arrow data (a table, or a stream read once) to the node's Parquet output, atomically."""
        cursor = self.context.get_duckdb_connection().cursor()
        try:
            cursor.register("source_rows", data)
            return write_query(cursor, self.shaped(cursor, "source_rows"), output_path)
        finally:
            cursor.close()

    def write_batches(self, columns: list[ArrowColumn], batches: Iterator[pa.RecordBatch], output_path: Path) -> int:
        """Stream batches to the output (see :func:`surfacing_stream_errors`)."""
        with surfacing_stream_errors(arrow_schema(columns), batches) as reader:
            return self.write_arrow(reader, output_path)
