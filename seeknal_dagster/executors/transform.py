"""``transform``: DuckDB SQL over upstream outputs, one or several statements, the last one's rows persisted.

The statements run in a transaction of the node's own that is rolled back once the output is written, and the
output replaces the previous one only after that rollback succeeded: whatever the statements did, a node that
fails leaves its previous output, and the database as the next node expects it.

Its ``materialization:`` / ``materializations:`` targets (PostgreSQL and Iceberg tables) get a copy of the output
once the Parquet file downstream nodes read is written; every target is attempted, and any that fails fails the
node (Seeknal only logs a warning), its table left as it was.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from seeknal_dagster.delivery.targets import TargetError, write_target
from seeknal_dagster.engines.duckdb_engine import copy_query, quote_literal
from seeknal_dagster.engines.outputs import atomic_path
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import Script, SqlNodeExecutor
from seeknal_dagster.project.models import MaterializationTarget, NodeKind, TransformSpec
from seeknal_dagster.project.secrets import scrub


@register_executor(NodeKind.TRANSFORM)
class TransformExecutor(SqlNodeExecutor):
    #: Whether this node's statements run in a transaction that is rolled back afterwards.
    in_scratch_transaction: bool = False

    @cached_property
    def script(self) -> Script:
        return self.render_script(self.node.spec.transform, "a transform")

    def validate(self) -> None:
        self.script  # noqa: B018 - first, so a refused statement is reported as the node's SQL shows it
        super().validate()

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
        """Tables and views the SQL creates are scratch space: the node's statements run in a transaction that
        is rolled back once its output file is written, so a name like ``staging`` never clashes with another
        node's, or with an earlier run's in a persistent ``duckdb_database``."""
        super().pre_execute()
        self.connection.execute("BEGIN TRANSACTION")
        self.in_scratch_transaction = True

    def end_scratch_transaction(self) -> None:
        """Roll the node's transaction back; fails the node if its statements ended it some other way."""
        self.in_scratch_transaction = False
        try:
            self.connection.execute("ROLLBACK")
        except duckdb.Error as error:
            raise ExecutorExecutionError(
                self.node.id, f"its statements ended the node's own transaction: {scrub(str(error))}", cause=error
            ) from error

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        if self.in_scratch_transaction:
            self.in_scratch_transaction = False
            try:
                self.connection.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the node failed already; its cursor is closed next
        return super().post_execute(result)

    def execute(self) -> ExecutorResult:
        script = self.script
        count = len(script.statements)
        output_path = self.context.get_output_path(self.node)
        self.keep_settings(script)
        with atomic_path(output_path) as temporary:
            for number, (statement, shown) in enumerate(zip(script.statements, script.shown), start=1):
                try:
                    if number < count:
                        self.connection.execute(statement)
                    else:
                        row_count = copy_query(self.connection, statement, temporary)
                except Exception as error:
                    raise ExecutorExecutionError(
                        self.node.id,
                        f"statement {number} of {count} failed: {scrub(str(error))}\n  Statement: {shown[:200]}",
                        cause=error,
                    ) from error
            self.end_scratch_transaction()
            self.restore_settings()
        metadata: dict[str, Any] = {"engine": "duckdb", "sql": ";\n".join(script.shown)}
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
