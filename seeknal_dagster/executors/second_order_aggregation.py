"""``second_order_aggregation``: one row per ``id_col`` summarising dated rows (often an aggregation's output).

Each feature maps a name to a spec over an input column (``source_feature``, default the name): ``basic``
aggregates over rows dated at or before the application date, ``window: [lo, hi]`` adds the same aggregates over
rows ``lo``–``hi`` days before it, ``ratio`` divides two such windows, ``since`` filters by a condition. Column
names follow Seeknal: ``amount_SUM``, ``amount_SUM_1_30``, ``amount_SUM1_7_SUM8_30``, ``SINCE_COUNT_amount_GEO_D``.
"""

from __future__ import annotations

from typing import Any

from seeknal_dagster.executors.aggregation import (
    DAYS_BETWEEN,
    Aggregate,
    AggregatingExecutor,
    AggregationPlan,
    aggregate_sql,
    as_list,
    days_window,
    ensure_unique,
    normalize_function,
    partition_predicate,
)
from seeknal_dagster.executors.errors import ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.project.models import NodeKind, SecondOrderAggregationSpec
from seeknal_dagster.project.templating import TemplateError

FEATURE_KINDS = ("basic", "window", "ratio", "since")
#: Accepted by Seeknal's validation but never computed by it; rejected here rather than silently dropped.
UNSUPPORTED_KINDS = ("percentile", "delta")


@register_executor(NodeKind.SECOND_ORDER_AGGREGATION)
class SecondOrderAggregationExecutor(AggregatingExecutor):
    """Aggregates its ``source:`` to one row per ``id_col``; writes ``second_order_aggregation_<name>.parquet``."""

    @property
    def spec(self) -> SecondOrderAggregationSpec:
        return self.node.spec  # type: ignore[return-value]

    def source_id(self) -> str:
        if "." not in self.spec.source:
            raise ExecutorValidationError(
                self.node.id,
                f"invalid source '{self.spec.source}': expected 'kind.name' (e.g. 'aggregation.user_metrics')",
            )
        return self.upstream_for(self.spec.source)

    def window(self, feature: str, value: Any, label: str) -> tuple[int, int]:
        """``[lower, upper]`` days before the application date, with Seeknal's error when it is anything else."""
        valid = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(bound, int) and not isinstance(bound, bool) for bound in value)
        )
        if not valid:
            raise ExecutorValidationError(
                self.node.id, f"Feature '{feature}': {label} must be a list of two integers [lower, upper]"
            )
        lower, upper = value
        if lower > upper:
            raise ExecutorValidationError(self.node.id, f"Feature '{feature}': {label} {value} has lower > upper")
        return lower, upper

    def plan(self) -> AggregationPlan:
        spec = self.spec
        if not spec.application_date_col:
            raise ExecutorValidationError(
                self.node.id,
                "missing 'application_date_col': days are counted from each row's feature date back from it",
            )
        if not spec.features:
            raise ExecutorValidationError(self.node.id, "features must be a non-empty mapping of name → spec")
        plan = AggregationPlan(
            dialect=self.dialect,
            grain=[spec.id_col],
            aggregates=[],
            feature_date_col=spec.feature_date_col,
            application_date=self.dialect.quote_identifier(spec.application_date_col),
            needs={
                spec.id_col: "id_col",
                spec.feature_date_col: "feature_date_col",
                spec.application_date_col: "application_date_col",
            },
        )
        for name, feature in spec.features.items():
            plan.aggregates += self._feature_aggregates(str(name), feature, plan.needs)
        ensure_unique(self.node.id, plan.aggregates, plan.grain)
        return plan

    def _feature_aggregates(self, name: str, feature: Any, needs: dict[str, str]) -> list[Aggregate]:
        if not isinstance(feature, dict):
            raise ExecutorValidationError(self.node.id, f"Feature '{name}' must be a mapping")
        unsupported = [kind for kind in UNSUPPORTED_KINDS if kind in feature]
        if unsupported:
            raise ExecutorValidationError(
                self.node.id,
                f"Feature '{name}': {', '.join(unsupported)} is not supported (use {', '.join(FEATURE_KINDS)})",
            )
        if not any(feature.get(kind) for kind in FEATURE_KINDS):
            raise ExecutorValidationError(
                self.node.id, f"Feature '{name}' must have at least one aggregation type ({', '.join(FEATURE_KINDS)})"
            )
        column = str(feature.get("source_feature") or name)
        needs.setdefault(column, f"feature '{name}'")
        where = f"Feature '{name}'"
        basic = [(agg, normalize_function(self.node.id, agg, where)) for agg in as_list(feature.get("basic"))]
        aggregates = [
            Aggregate(f"{column}_{str(agg).upper()}", aggregate_sql(self.dialect, function, column, f"{DAYS_BETWEEN} >= 0"))
            for agg, function in basic
        ]
        if feature.get("window") is not None:
            lower, upper = self.window(name, feature["window"], "window")
            if not basic:
                raise ExecutorValidationError(self.node.id, f"{where}: a window needs 'basic' aggregations to compute")
            aggregates += [
                Aggregate(f"{column}_{str(agg).upper()}_{lower}_{upper}", aggregate_sql(self.dialect, function, column, days_window(lower, upper)))
                for agg, function in basic
            ]
        if feature.get("ratio") is not None:
            aggregates += self._ratio(name, column, feature["ratio"])
        if feature.get("since") is not None:
            aggregates += self._since(name, column, feature["since"])
        return aggregates

    def _ratio(self, name: str, column: str, ratio: Any) -> list[Aggregate]:
        if not isinstance(ratio, dict):
            raise ExecutorValidationError(
                self.node.id, f"Feature '{name}': ratio must be a mapping with numerator, denominator and aggs"
            )
        top = self.window(name, ratio.get("numerator"), "ratio.numerator")
        bottom = self.window(name, ratio.get("denominator"), "ratio.denominator")
        aggregates = []
        for agg in as_list(ratio.get("aggs") or ["sum"]):
            function = normalize_function(self.node.id, agg, f"Feature '{name}'")
            label = str(agg).upper()
            upper = aggregate_sql(self.dialect, function, column, days_window(*top))
            lower = aggregate_sql(self.dialect, function, column, days_window(*bottom))
            aggregates.append(
                Aggregate(
                    f"{column}_{label}{top[0]}_{top[1]}_{label}{bottom[0]}_{bottom[1]}",
                    f"CAST({upper} AS DOUBLE) / nullif(CAST({lower} AS DOUBLE), 0)",
                )
            )
        return aggregates

    def _since(self, name: str, column: str, since: Any) -> list[Aggregate]:
        if not isinstance(since, dict):
            raise ExecutorValidationError(
                self.node.id, f"Feature '{name}': since must be a dictionary with 'condition' and 'aggs'"
            )
        condition = since.get("condition") or f"{DAYS_BETWEEN} >= 0"
        try:
            condition = self.context.render(str(condition), self.spec.params)
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, f"Feature '{name}': {error}") from error
        return [
            Aggregate(
                f"SINCE_{str(agg).upper()}_{column}_GEO_D",
                aggregate_sql(self.dialect, normalize_function(self.node.id, agg, f"Feature '{name}'"), column, condition),
            )
            for agg in as_list(since.get("aggs") or ["count"])
        ]

    def partition_filter(self, relation: str) -> str | None:
        """Under a partition: the ids having a row whose application date falls in it (their rows are redone)."""
        window = self.context.partition_time_window
        if window is None:
            return None
        id_col = self.dialect.quote_identifier(self.spec.id_col)
        dated = partition_predicate(self.dialect, self.spec.application_date_col, window)  # type: ignore[arg-type]
        return f"{id_col} IN (SELECT {id_col} FROM {relation} WHERE {dated})"
