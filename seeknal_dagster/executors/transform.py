"""``transform``: SQL over upstream outputs, one or several statements, the last one's rows persisted.

The SQL runs as written on the node's engine: DuckDB SQL by default, Spark SQL under ``engine: spark`` (as in
Seeknal, where a Spark node holds Spark SQL).
"""

from __future__ import annotations

from seeknal_dagster.engines.duckdb_engine import is_query, split_statements
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.models import NodeKind


@register_executor(NodeKind.TRANSFORM)
class TransformExecutor(SqlNodeExecutor):
    def statements(self) -> list[str]:
        statements = split_statements(self.render_sql(self.node.spec.transform))
        if not statements:
            raise ExecutorValidationError(self.node.id, "the transform SQL is empty")
        if not is_query(statements[-1]):
            raise ExecutorValidationError(
                self.node.id, "the last statement of a transform must be a query (SELECT/WITH) producing its output"
            )
        return statements

    def validate(self) -> None:
        self.statements()

    def dry_run(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata={"sql": ";\n".join(self.statements())}
        )

    def pre_execute(self) -> None:
        """Tables and views the SQL creates are scratch space, gone once the node's output is written."""
        super().pre_execute()
        self.sql.begin_scratch()

    def execute(self) -> ExecutorResult:
        statements = self.statements()
        output_path = self.context.get_output_path(self.node)
        for number, statement in enumerate(statements, start=1):
            try:
                if number < len(statements):
                    self.sql.execute(statement)
                else:
                    row_count = self.sql.write_query(statement, output_path)
            except Exception as error:
                raise ExecutorExecutionError(
                    self.node.id,
                    f"statement {number} of {len(statements)} failed: {self.sql.error_text(error)}\n  Statement: {statement[:200]}",
                    cause=error,
                ) from error
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=row_count,
            output_path=output_path,
            metadata={"engine": self.sql.engine, "sql": ";\n".join(statements)},
        )
