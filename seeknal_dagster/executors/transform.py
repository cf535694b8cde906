"""``transform``: SQL over upstream outputs, one or several statements, the last one's rows persisted.

The SQL runs as written on the node's engine: DuckDB SQL by default, Spark SQL under ``engine: spark`` (as in
Seeknal, where a Spark node holds Spark SQL). On DuckDB a script of several statements runs in a transaction of
the node's own that is rolled back once the output is written (on Spark, in a session of the node's own); the
output replaces the previous one only after that: whatever the statements did, a node that fails leaves its
previous output, and the database as the next node expects it.

Its ``materialization:`` / ``materializations:`` targets (PostgreSQL and Iceberg tables) get a copy of the output
once the output downstream nodes read is written; every target is attempted, and any that fails fails the node
(Seeknal only logs a warning), its table left as it was.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from seeknal_dagster.delivery.targets import TargetError, write_target
from seeknal_dagster.engines.duckdb_engine import scan_parquet
from seeknal_dagster.engines.node_sql import names_input_aliases
from seeknal_dagster.engines.outputs import atomic_path
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import Script, SqlNodeExecutor
from seeknal_dagster.project.models import MaterializationTarget, NodeKind, TransformSpec


@register_executor(NodeKind.TRANSFORM)
class TransformExecutor(SqlNodeExecutor):
    @cached_property
    def script(self) -> Script:
        return self.render_script(self.node.spec.transform, "a transform")

    def validate(self) -> None:
        self.script  # noqa: B018 - first, so a refused statement is reported as the node's SQL shows it
        super().validate()

    def reads_input_aliases(self) -> bool:
        return names_input_aliases(self.script.statements)

    @property
    def targets(self) -> list[MaterializationTarget]:
        spec: TransformSpec = self.node.spec  # type: ignore[assignment]
        return spec.targets(bool(self.context.profiles.materialization.get("enabled")))

    def dry_run(self) -> ExecutorResult:
        metadata: dict[str, Any] = {"sql": ";\n".join(self.script.shown)}
        if self.targets:
            metadata["targets"] = [f"{target.type} {target.table} ({target.mode})" for target in self.targets]
        return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata=metadata)

    def pre_execute(self) -> None:
        """Tables and views the SQL creates are scratch space, gone once the node's output is written. A lone query
        creates nothing, so it runs without (a transaction begun and rolled back costs two statements a node)."""
        super().pre_execute()
        if len(self.script.statements) > 1:
            self.sql.begin_scratch()

    def end_scratch(self) -> None:
        """Throw away the node's scratch space; fails the node if its statements ended it some other way."""
        try:
            self.sql.end_scratch()
        except Exception as error:
            raise ExecutorExecutionError(
                self.node.id, f"its statements ended the node's own transaction: {self.sql.error_text(error)}", cause=error
            ) from error

    def execute(self) -> ExecutorResult:
        script = self.script
        count = len(script.statements)
        output_path = self.context.get_output_path(self.node)
        self.keep_settings(script)
        with atomic_path(output_path) as temporary:
            for number, (statement, shown) in enumerate(zip(script.statements, script.shown), start=1):
                try:
                    if number < count:
                        self.sql.execute(statement)
                    else:
                        row_count = self.sql.copy_query(statement, temporary)
                except Exception as error:
                    raise ExecutorExecutionError(
                        self.node.id,
                        f"statement {number} of {count} failed: {self.sql.error_text(error)}\n  Statement: {shown[:200]}",
                        cause=error,
                    ) from error
            self.end_scratch()
            self.restore_settings()
        metadata: dict[str, Any] = {"engine": self.sql.engine, "sql": ";\n".join(script.shown)}
        if self.targets:
            metadata["targets"] = self.write_targets(output_path)
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, row_count=row_count, output_path=output_path, metadata=metadata
        )

    def write_targets(self, output_path: Path) -> list[dict[str, Any]]:
        """Copy the written output to every target; fail naming each target that could not be written, after
        trying them all."""
        relation = scan_parquet(output_path)
        # A Spark node's copy is made by DuckDB in this process too, reading the part files Spark wrote.
        connection = self.connection or self.context.get_duckdb_connection().cursor()
        written, failures = [], []
        for target in self.targets:
            try:
                written.append(write_target(connection, relation, target, self.context.profiles, self.context.workspace_path))
                self.context.log.info(f"{self.node.id}: wrote {written[-1]['rows_written']} row(s) to {target.type} {target.table}")
            except TargetError as error:
                failures.append(f"{target.type} target {target.table} ({target.mode}): {error}")
        if connection is not self.connection:
            connection.close()
        if failures:
            done = f"; written: {', '.join(item['table'] for item in written)}" if written else ""
            raise ExecutorExecutionError(self.node.id, "; ".join(failures) + done)
        return written
