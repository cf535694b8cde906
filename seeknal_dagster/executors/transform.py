"""``transform``: DuckDB SQL over upstream outputs, one or several statements, the last one's rows persisted.

The statements run in a transaction of the node's own that is rolled back once the output is written, and the
output replaces the previous one only after that rollback succeeded: whatever the statements did, a node that
fails leaves its previous output, and the database as the next node expects it.
"""

from __future__ import annotations

from functools import cached_property

import duckdb

from seeknal_dagster.engines.duckdb_engine import copy_query, is_query
from seeknal_dagster.engines.outputs import atomic_path
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import Script, SqlNodeExecutor
from seeknal_dagster.project.models import NodeKind
from seeknal_dagster.project.secrets import scrub


@register_executor(NodeKind.TRANSFORM)
class TransformExecutor(SqlNodeExecutor):
    #: Whether this node's statements run in a transaction that is rolled back afterwards.
    in_scratch_transaction: bool = False

    @cached_property
    def script(self) -> Script:
        script = self.render_script(self.node.spec.transform)
        if not script.statements:
            raise ExecutorValidationError(self.node.id, "the transform SQL is empty")
        if not is_query(script.statements[-1]):
            raise ExecutorValidationError(
                self.node.id, "the last statement of a transform must be a query (SELECT/WITH) producing its output"
            )
        return script

    def validate(self) -> None:
        self.script  # noqa: B018 - rendered and checked now, so nothing runs when a statement is refused

    def dry_run(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata={"sql": ";\n".join(self.script.shown)}
        )

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
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=row_count,
            output_path=output_path,
            metadata={"engine": "duckdb", "sql": ";\n".join(script.shown)},
        )
