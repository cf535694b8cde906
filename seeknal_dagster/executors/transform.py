"""``transform``: DuckDB SQL over upstream outputs, one or several statements, the last one's rows persisted.

Its ``materialization:`` / ``materializations:`` targets (PostgreSQL and Iceberg tables) get a copy of the output
once the Parquet file downstream nodes read is written; every target is attempted, and any that fails fails the
node (Seeknal only logs a warning), its table left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seeknal_dagster.delivery.targets import TargetError, write_target
from seeknal_dagster.engines.duckdb_engine import quote_literal, write_query
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.checks.transform import query_statements
from seeknal_dagster.project.models import MaterializationTarget, NodeKind, TransformSpec


@register_executor(NodeKind.TRANSFORM)
class TransformExecutor(SqlNodeExecutor):
    #: Whether this node's statements run in a transaction that is rolled back afterwards.
    in_scratch_transaction: bool = False

    def statements(self) -> list[str]:
        return query_statements(self.render_sql(self.node.spec.transform), "a transform", "transform")

    def validate(self) -> None:
        super().validate()
        self.statements()

    @property
    def targets(self) -> list[MaterializationTarget]:
        spec: TransformSpec = self.node.spec  # type: ignore[assignment]
        return spec.targets(bool(self.context.profiles.materialization.get("enabled")))

    def dry_run(self) -> ExecutorResult:
        metadata: dict[str, Any] = {"sql": ";\n".join(self.statements())}
        if self.targets:
            metadata["targets"] = [f"{target.type} {target.table} ({target.mode})" for target in self.targets]
        return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata=metadata)

    def pre_execute(self) -> None:
        """Tables and views the SQL creates are scratch space: the node's statements run in a transaction that
        is rolled back once its output file is written, so a name like ``staging`` never clashes with another
        node's, or with an earlier run's in a persistent ``duckdb_database``."""
        super().pre_execute()
        self.connection.execute("BEGIN TRANSACTION")
        self.in_scratch_transaction = True

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        if self.in_scratch_transaction:
            self.connection.execute("ROLLBACK")
            self.in_scratch_transaction = False
        return super().post_execute(result)

    def execute(self) -> ExecutorResult:
        statements = self.statements()
        output_path = self.context.get_output_path(self.node)
        for number, statement in enumerate(statements, start=1):
            try:
                if number < len(statements):
                    self.connection.execute(statement)
                else:
                    row_count = write_query(self.connection, statement, output_path)
            except Exception as error:
                raise ExecutorExecutionError(
                    self.node.id,
                    f"statement {number} of {len(statements)} failed: {error}\n  Statement: {statement[:200]}",
                    cause=error,
                ) from error
        metadata: dict[str, Any] = {"engine": "duckdb", "sql": ";\n".join(statements)}
        if self.targets:
            metadata["targets"] = self.write_targets(output_path)
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, row_count=row_count, output_path=output_path, metadata=metadata
        )

    def write_targets(self, output_path: Path) -> list[dict[str, Any]]:
        """Copy the written output to every target; fail naming each target that could not be written, after
        trying them all."""
        relation = f"read_parquet({quote_literal(output_path)})"
        written, failures = [], []
        for target in self.targets:
            try:
                written.append(write_target(self.connection, relation, target, self.context.profiles, self.context.workspace_path))
                self.context.log.info(f"{self.node.id}: wrote {written[-1]['rows_written']} row(s) to {target.type} {target.table}")
            except TargetError as error:
                failures.append(f"{target.type} target {target.table} ({target.mode}): {error}")
        if failures:
            done = f"; written: {', '.join(item['table'] for item in written)}" if written else ""
            raise ExecutorExecutionError(self.node.id, "; ".join(failures) + done)
        return written
