"""``second_order_aggregation``: one row per ``id_col`` summarising dated rows (often an aggregation's output).

The query is planned from the node's YAML (:func:`seeknal_dagster.engines.aggregation_plan.second_order_plan`,
which documents the features and their column names) and run like a first-order aggregation's.
"""

from __future__ import annotations

from seeknal_dagster.engines.aggregation_plan import AggregationPlan, second_order_plan
from seeknal_dagster.executors.aggregation import AggregatingExecutor, partition_predicate
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.project.models import NodeKind, SecondOrderAggregationSpec


@register_executor(NodeKind.SECOND_ORDER_AGGREGATION)
class SecondOrderAggregationExecutor(AggregatingExecutor):
    """Aggregates its ``source:`` to one row per ``id_col``; writes ``second_order_aggregation_<name>.parquet``."""

    intermediate_as_seeknal_writes_it = True

    @property
    def spec(self) -> SecondOrderAggregationSpec:
        return self.node.spec  # type: ignore[return-value]

    def source_id(self) -> str:
        return self.upstream_for(self.spec.source)

    def plan(self) -> AggregationPlan:
        return second_order_plan(self.node, self.check_scope(), self.dialect)

    def partition_filter(self, relation: str) -> str | None:
        """Under a partition: the ids having a row whose application date falls in it (their rows are redone)."""
        window = self.context.partition_time_window
        if window is None:
            return None
        id_col = self.dialect.quote_identifier(self.spec.id_col)
        dated = partition_predicate(self.dialect, self.spec.application_date_col, window)  # type: ignore[arg-type]
        return f"{id_col} IN (SELECT {id_col} FROM {relation} WHERE {dated})"
