"""``source``: read external data (files, SQLite, PostgreSQL, Iceberg, Hive) into the node's Parquet output.

This module is where a source node's run starts: it renders the params, picks the reader for the source type
(one module per family in :mod:`seeknal_dagster.executors.sources`), and describes what was read. Every reader
works offline: files through DuckDB's built-in readers, databases through Python drivers (stdlib ``sqlite3``,
``psycopg``), Iceberg tables through pyiceberg, Hive through the configured Spark catalog, never through DuckDB
extensions downloaded at run time.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from seeknal_dagster.executors.base import BaseExecutor, ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sources.files import FileReader
from seeknal_dagster.executors.sources.hive import HiveReader
from seeknal_dagster.executors.sources.iceberg import IcebergReader
from seeknal_dagster.executors.sources.postgresql import PostgresReader
from seeknal_dagster.executors.sources.reader import SourceReader
from seeknal_dagster.executors.sources.sqlite import SqliteReader
from seeknal_dagster.project.checks.source import SOURCE_PARAM_USES, source_params
from seeknal_dagster.project.models import FILE_SOURCE_TYPES, NodeKind, SourceSpec
from seeknal_dagster.project.secrets import redact
from seeknal_dagster.project.templating import TemplateError

#: The reader of each source type seeknal-dagster reads.
READERS: dict[str, type[SourceReader]] = {
    **dict.fromkeys(FILE_SOURCE_TYPES, FileReader),
    "sqlite": SqliteReader,
    "postgresql": PostgresReader,
    "iceberg": IcebergReader,
    "hive": HiveReader,
}


@register_executor(NodeKind.SOURCE)
class SourceExecutor(BaseExecutor):
    @property
    def spec(self) -> SourceSpec:
        return self.node.spec  # type: ignore[return-value]

    @property
    def source_type(self) -> str:
        return self.spec.source_type

    @cached_property
    def params(self) -> dict[str, Any]:
        """Profile ``source_defaults`` for the type, overridden by the node's own (rendered) params."""
        try:
            inline = self.context.renderer.render_params(self.spec.params, SOURCE_PARAM_USES)
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error
        return source_params(self.spec, self.check_scope(), inline)

    @property
    def shown_params(self) -> dict[str, Any]:
        """The params as metadata shows them: rendered, ``{{ env… }}`` values as their expression (secret-named
        keys are masked by :func:`redact`)."""
        return source_params(self.spec, self.check_scope(), self.context.renderer.display_params(self.spec.params))

    @cached_property
    def reader(self) -> SourceReader:
        """The reader of this node's source type."""
        if self.source_type not in READERS:  # a type only Seeknal reads: it loaded with a warning, and cannot run
            raise ExecutorValidationError(self.node.id, f"seeknal-dagster does not read '{self.spec.source}' sources")
        return READERS[self.source_type](self)

    def validate(self) -> None:
        super().validate()
        self.reader.plan()

    def execute(self) -> ExecutorResult:
        output_path = self.context.get_output_path(self.node)
        row_count, details = self.reader.read(output_path)
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=row_count,
            output_path=output_path,
            metadata={
                "engine": self.reader.engine,
                "source_type": self.source_type,
                "params": redact(self.shown_params),
                **details,
            },
        )
