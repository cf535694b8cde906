"""``aggregation``: time-series features per entity and application date, as one ``GROUP BY`` on the node's engine.

The query is planned from the node's YAML alone (:mod:`seeknal_dagster.engines.aggregation_plan`, shared with the
loader, so ``validate`` reports what would stop the node). Here it runs: over the ``source:`` (or first input),
writing ``target/intermediate/aggregation_<name>.parquet``, or under a partition replacing only the rows the
partition owns. The execution helpers here are shared with ``second_order_aggregation``.

Both kinds also leave their result where ``seeknal run`` leaves it, ``target/<kind>/<name>/result.parquet``, with
the column types Seeknal's file has (its results pass through pandas: a DATE is a TIMESTAMP there, a DECIMAL or a
128-bit sum a DOUBLE), so code reading Seeknal's files keeps working. A second-order aggregation's
``target/intermediate`` output, which Seeknal writes the same way, has those types too; an aggregation's, which
Seeknal does not write, keeps its engine's. On Spark each of them is a directory of part files, as Spark writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seeknal_dagster.engines.aggregation_plan import AggregationPlan, aggregated_input, aggregation_plan
from seeknal_dagster.engines.node_sql import NodeSql
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.models import AggregationSpec, NodeKind


def partition_predicate(dialect: type[NodeSql], column: str, window: tuple[datetime, datetime]) -> str:
    """SQL true for rows whose ``column`` falls in a partition's ``[start, end)`` (wall-clock time)."""
    start, end = (dialect.quote_literal(moment.replace(tzinfo=None).isoformat(sep=" ")) for moment in window)
    value = f"CAST({dialect.quote_identifier(column)} AS {dialect.local_time_type})"
    return f"({value} >= CAST({start} AS {dialect.local_time_type}) AND {value} < CAST({end} AS {dialect.local_time_type}))"


class AggregatingExecutor(SqlNodeExecutor):
    """What both aggregation kinds share: plan the query, check the source's columns, and write the output, or
    under a partition replace only the rows the partition owns."""

    #: Whether the ``target/intermediate`` output has the types of Seeknal's file (Seeknal writes one).
    intermediate_as_seeknal_writes_it = False

    def plan(self) -> AggregationPlan:
        raise NotImplementedError

    def source_id(self) -> str:
        raise NotImplementedError

    def partition_filter(self, relation: str) -> str | None:
        """The input rows (and output rows) a partitioned run recomputes; ``None`` outside a partition."""
        raise NotImplementedError

    def validate(self) -> None:
        super().validate()
        self.partition_filter(self.dialect.relation_name(self.source_id()))

    def dry_run(self) -> ExecutorResult:
        relation = self.dialect.relation_name(self.source_id())
        sql = self.plan().query(relation, self.partition_filter(relation))
        return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata={"sql": sql})

    def execute(self) -> ExecutorResult:
        plan = self.plan()
        source_id = self.source_id()
        relation = self.relations[source_id]
        self.require_columns(relation, source_id, plan.needs)
        row_filter = self.partition_filter(relation)
        query = plan.query(relation, row_filter)
        output_path = self.context.get_output_path(self.node)
        result_path = self.context.target_path / self.kind.value / self.node.name / "result.parquet"
        try:
            written = self.sql.as_seeknal_writes_it(query) if self.intermediate_as_seeknal_writes_it else query
            if row_filter is None:
                row_count = self.sql.write_query(written, output_path)
            else:
                order = ", ".join(self.dialect.quote_identifier(column) for column in plan.grain)
                row_count = self.sql.replace_rows(written, output_path, row_filter, order)
            output = f"SELECT * FROM {self.sql.scan(output_path)}"
            self.sql.write_query(self.sql.as_seeknal_writes_it(output), result_path)
        except Exception as error:
            message = f"the {self.kind.value} query failed: {self.sql.error_text(error)}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error
        metadata: dict[str, Any] = {
            "engine": self.sql.engine,
            "sql": query,
            "source": source_id,
            "features": [aggregate.alias for aggregate in plan.aggregates],
            "result_path": str(result_path),
        }
        window = self.context.partition_time_window
        if window is not None:
            metadata["replaced_window"] = f"{window[0].isoformat()} .. {window[1].isoformat()}"
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, row_count=row_count, output_path=output_path, metadata=metadata
        )


@register_executor(NodeKind.AGGREGATION)
class AggregationExecutor(AggregatingExecutor):
    """Aggregates the rows of its ``source:`` (or first input) and writes ``target/intermediate/aggregation_<name>``."""

    @property
    def spec(self) -> AggregationSpec:
        return self.node.spec  # type: ignore[return-value]

    def source_id(self) -> str:
        return self.upstream_for(aggregated_input(self.spec))

    def plan(self) -> AggregationPlan:
        return aggregation_plan(self.node, self.check_scope(), self.dialect)

    def partition_filter(self, relation: str) -> str | None:
        window = self.context.partition_time_window
        if window is None:
            return None
        if not self.spec.application_date_col:
            raise ExecutorValidationError(
                self.node.id, "a partitioned aggregation needs 'application_date_col' to know which rows a partition holds"
            )
        return partition_predicate(self.dialect, self.spec.application_date_col, window)
