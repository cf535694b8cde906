"""``transform``: DuckDB SQL over upstream outputs, one or several statements, the last one's rows persisted."""

from __future__ import annotations

from seeknal_dagster.engines.duckdb_engine import write_query
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.checks.transform import query_statements
from seeknal_dagster.project.models import NodeKind


@register_executor(NodeKind.TRANSFORM)
class TransformExecutor(SqlNodeExecutor):
    #: Whether this node's statements run in a transaction that is rolled back afterwards.
    in_scratch_transaction: bool = False

    def statements(self) -> list[str]:
        return query_statements(self.render_sql(self.node.spec.transform), "a transform", "transform")

    def validate(self) -> None:
        super().validate()
        self.statements()

    def dry_run(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata={"sql": ";\n".join(self.statements())}
        )

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
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=row_count,
            output_path=output_path,
            metadata={"engine": "duckdb", "sql": ";\n".join(statements)},
        )
