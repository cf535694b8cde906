"""What ``aggregation`` and ``second_order_aggregation`` nodes may say: checked by planning their query, which
needs no data (:mod:`seeknal_dagster.engines.aggregation_plan`, the planner the executors run). The plan is made in
DuckDB's SQL whatever the node's engine: the dialect changes the query's spelling, never what is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from seeknal_dagster.engines.aggregation_plan import aggregated_input, aggregation_plan, second_order_plan
from seeknal_dagster.engines.duckdb_engine import DuckDBSql
from seeknal_dagster.project.checks.scope import CheckScope, Finding

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode


def check_aggregation(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    aggregated_input(node.spec)  # type: ignore[arg-type]
    aggregation_plan(node, scope, DuckDBSql)
    return iter(())


def check_second_order_aggregation(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    second_order_plan(node, scope, DuckDBSql)
    return iter(())
