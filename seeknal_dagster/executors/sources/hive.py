"""Hive tables, read through the configured Spark session's catalog.

The cluster's executors write the table straight to the node's output layout: its rows never reach this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seeknal_dagster.executors.context import EngineNotConfiguredError
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.sources.reader import SourceReader
from seeknal_dagster.project.checks.source import hive_table


class HiveReader(SourceReader):
    """``source: hive``: ``table: database.table`` in the Spark catalog."""

    engine = "spark"

    def plan(self) -> str:
        return hive_table(self.spec)

    def read(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        table = self.plan()
        try:
            session = self.context.get_spark_session()
        except EngineNotConfiguredError as error:
            raise ExecutorValidationError(self.node_id, f"cannot read hive table {table}: {error}") from None
        from pyspark.errors import PySparkException

        from seeknal_dagster.engines.spark_engine import write_frame

        try:
            row_count = write_frame(session.table(table), output_path)
        except PySparkException as error:
            summary = str(error).strip().splitlines()[0]
            message = f"could not read hive table {table}: {summary}"
            raise ExecutorExecutionError(self.node_id, message, cause=error) from error
        return row_count, {"location": table}
