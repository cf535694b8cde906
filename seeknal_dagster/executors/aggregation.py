"""``aggregation``: time-series features per entity and application date, as one DuckDB ``GROUP BY``.

Seeknal puts its rolling and ratio windows in window functions inside a ``GROUP BY``, which always fails. Here
every window is a ``FILTER`` clause over ``_days_between`` (days from the feature date back from the application
date), so all features of a row come from one grouped scan. A window of ``n`` days holds the rows dated 0 to n-1 days
before the application date (the application day included); ``basic`` aggregates cover every row of the group,
as in Seeknal. Output columns are named as Seeknal names them: ``<name>_<agg>``, ``<name>_<agg>_<n>d``,
``<name>_<agg>_ratio_<n>d_<m>d``, ``<name>_count_if`` / ``<name>_sum_if``.

The seed dialect (``aggregations: [{column, function, window: 30d, group_by}]``) is read into the same features;
its windows count back from ``application_date_col``, else a fixed ``application_date``, else the latest
``feature_date_col`` in the input.
The aggregation helpers here are shared with ``second_order_aggregation``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from seeknal_dagster.engines.duckdb_engine import relation_name
from seeknal_dagster.engines.node_sql import NodeSql
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.models import AggregationSpec, NodeKind
from seeknal_dagster.project.templating import TemplateError

#: Aggregate functions by the names users write; ``{}`` is the (quoted) column.
AGGREGATE_FUNCTIONS = {
    "count": "count({})",
    "sum": "sum({})",
    "avg": "avg({})",
    "min": "min({})",
    "max": "max({})",
    "stddev": "stddev_samp({})",
    "count_distinct": "count(DISTINCT {})",
}
AGGREGATE_ALIASES = {"mean": "avg", "std": "stddev", "average": "avg"}
#: The column holding each row's age in days at its application date (Seeknal's name, usable in conditions).
DAYS_BETWEEN = "_days_between"
_WINDOW = re.compile(r"^\s*(\d+)\s*(d|day|days|w|week|weeks)?\s*$", re.I)


@dataclass(frozen=True)
class Aggregate:
    """One output column: its name and the aggregate expression computing it."""

    alias: str
    sql: str


def normalize_function(node_id: str, function: Any, where: str) -> str:
    """The canonical aggregate name (``mean`` → ``avg``), or a validation error listing the known ones."""
    name = str(function).strip().lower()
    name = AGGREGATE_ALIASES.get(name, name)
    if name not in AGGREGATE_FUNCTIONS:
        known = ", ".join([*AGGREGATE_FUNCTIONS, *AGGREGATE_ALIASES])
        raise ExecutorValidationError(node_id, f"{where}: unknown aggregate '{function}' (known: {known})")
    return name


def aggregate_sql(dialect: type[NodeSql], function: str, column: str, condition: str | None = None) -> str:
    """``sum("amount") FILTER (WHERE …)`` for a canonical function name and an unquoted column name (both engines
    have aggregate ``FILTER`` clauses).

    A filtered sum over no rows is 0, not NULL: no orders in the last 7 days is a spend of 0 (and a ratio of 0)."""
    expression = AGGREGATE_FUNCTIONS[function].format(dialect.quote_identifier(column))
    if not condition:
        return expression
    filtered = f"{expression} FILTER (WHERE {condition})"
    return f"coalesce({filtered}, 0)" if function == "sum" else filtered


def days_window(lower: int, upper: int) -> str:
    """Rows whose feature date is ``lower`` to ``upper`` days (inclusive) before their application date."""
    return f"{DAYS_BETWEEN} BETWEEN {int(lower)} AND {int(upper)}"


def window_days(node_id: str, value: Any, where: str) -> int:
    """A window length in days from ``7``, ``"7d"``, ``"7 days"`` or ``"1w"``."""
    readable = isinstance(value, (int, str)) and not isinstance(value, bool)
    match = _WINDOW.match(str(value)) if readable else None
    if not match or int(match.group(1)) < 1:
        raise ExecutorValidationError(
            node_id, f"{where}: window {value!r} is not a number of days (write 7, '7d' or '2w')"
        )
    days = int(match.group(1))
    return days * 7 if (match.group(2) or "d").lower().startswith("w") else days


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def partition_predicate(dialect: type[NodeSql], column: str, window: tuple[datetime, datetime]) -> str:
    """SQL true for rows whose ``column`` falls in a partition's ``[start, end)`` (wall-clock time)."""
    start, end = (dialect.quote_literal(moment.replace(tzinfo=None).isoformat(sep=" ")) for moment in window)
    value = f"CAST({dialect.quote_identifier(column)} AS {dialect.local_time_type})"
    return f"({value} >= CAST({start} AS {dialect.local_time_type}) AND {value} < CAST({end} AS {dialect.local_time_type}))"


def ensure_unique(node_id: str, aggregates: Iterable[Aggregate], grain: Iterable[str]) -> None:
    seen = set(grain)
    for aggregate in aggregates:
        if aggregate.alias in seen:
            raise ExecutorValidationError(
                node_id, f"two definitions produce the column '{aggregate.alias}': rename one of the features"
            )
        seen.add(aggregate.alias)


@dataclass
class AggregationPlan:
    """What one aggregation computes: output grain, aggregates, and how rows are dated."""

    dialect: type[NodeSql]
    grain: list[str]
    aggregates: list[Aggregate]
    feature_date_col: str | None = None
    #: SQL giving each row's application date: a quoted column, a date literal, or the input's latest date.
    application_date: str | None = None
    #: Input columns the plan reads, with why (for clear errors).
    needs: dict[str, str] = field(default_factory=dict)

    def query(self, relation: str, row_filter: str | None = None) -> str:
        dated = f", {self._days_between(relation)} AS {DAYS_BETWEEN}" if self.feature_date_col else ""
        where = f"\n    WHERE {row_filter}" if row_filter else ""
        quote = self.dialect.quote_identifier
        grain = ", ".join(quote(column) for column in self.grain)
        features = ",\n    ".join(f"{aggregate.sql} AS {quote(aggregate.alias)}" for aggregate in self.aggregates)
        select = f"{grain},\n    {features}" if grain else features
        grouped = f"\nGROUP BY {grain}\nORDER BY {grain}" if grain else ""
        return (
            f"WITH _rows AS (\n    SELECT *{dated}\n    FROM {relation}{where}\n)\n"
            f"SELECT\n    {select}\nFROM _rows{grouped}"
        )

    def _days_between(self, relation: str) -> str:
        feature_date = f"CAST({self.dialect.quote_identifier(self.feature_date_col)} AS DATE)"
        application_date = self.application_date or f"(SELECT max({feature_date}) FROM {relation})"
        return self.dialect.days_between(feature_date, f"CAST({application_date} AS DATE)")


class AggregatingExecutor(SqlNodeExecutor):
    """What both aggregation kinds share: plan the query, check the source's columns, and write the output, or
    under a partition replace only the rows the partition owns."""

    def plan(self) -> AggregationPlan:
        raise NotImplementedError

    def source_id(self) -> str:
        raise NotImplementedError

    def partition_filter(self, relation: str) -> str | None:
        """The input rows (and output rows) a partitioned run recomputes; ``None`` outside a partition."""
        raise NotImplementedError

    def planned_relation(self) -> str:
        """The source's relation before inputs are registered (for validation and dry runs)."""
        return relation_name(self.source_id())

    def validate(self) -> None:
        self.plan()
        self.partition_filter(self.planned_relation())

    def dry_run(self) -> ExecutorResult:
        relation = self.planned_relation()
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
        try:
            if row_filter is None:
                row_count = self.sql.write_query(query, output_path)
            else:
                order = ", ".join(self.dialect.quote_identifier(column) for column in plan.grain)
                row_count = self.sql.replace_rows(query, output_path, row_filter, order)
        except Exception as error:
            message = f"the {self.kind.value} query failed: {self.sql.error_text(error)}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error
        metadata: dict[str, Any] = {
            "engine": self.sql.engine,
            "sql": query,
            "source": source_id,
            "features": [aggregate.alias for aggregate in plan.aggregates],
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
        if self.spec.source:
            return self.upstream_for(self.spec.source)
        declared = self.spec.input_ids()
        if not declared:
            raise ExecutorValidationError(
                self.node.id, "an aggregation needs 'source: kind.name' or 'inputs' naming the node it aggregates"
            )
        return self.upstream_for(declared[0])

    def condition(self, text: Any, where: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ExecutorValidationError(self.node.id, f"{where}: 'condition' must be a SQL condition")
        try:
            return self.context.render(text, self.spec.params)
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, f"{where}: {error}") from error

    def plan(self) -> AggregationPlan:
        plan = self._seed_plan() if self.spec.aggregations is not None else self._seeknal_plan()
        if not plan.aggregates:
            raise ExecutorValidationError(self.node.id, "the aggregation defines no aggregates")
        ensure_unique(self.node.id, plan.aggregates, plan.grain)
        return plan

    def _seeknal_plan(self) -> AggregationPlan:
        spec = self.spec
        if not spec.application_date_col:
            raise ExecutorValidationError(
                self.node.id,
                "missing 'application_date_col': features are computed per entity and application date "
                "(the date windows count back from)",
            )
        grain = [spec.id_col, spec.application_date_col, *spec.group_by]
        plan = AggregationPlan(
            dialect=self.dialect,
            grain=grain,
            aggregates=[],
            feature_date_col=spec.feature_date_col,
            application_date=self.dialect.quote_identifier(spec.application_date_col),
            needs={spec.id_col: "id_col", spec.feature_date_col: "feature_date_col", spec.application_date_col: "application_date_col"},
        )
        plan.needs.update({column: "group_by" for column in spec.group_by})
        features = spec.features
        if isinstance(features, dict):
            features = [{"name": name, **(value or {})} for name, value in features.items()]
        for index, feature in enumerate(features or []):
            plan.aggregates += self._feature_aggregates(feature, f"features[{index}]", plan.needs)
        return plan

    def _feature_aggregates(self, feature: Any, where: str, needs: dict[str, str]) -> list[Aggregate]:
        if not isinstance(feature, dict) or not feature.get("name"):
            raise ExecutorValidationError(self.node.id, f"{where}: a feature needs a 'name'")
        name = str(feature["name"])
        column = str(feature.get("column") or name)
        where = f"feature '{name}'"
        kinds = [kind for kind in ("basic", "rolling", "ratio", "since") if feature.get(kind)]
        if not kinds:
            raise ExecutorValidationError(self.node.id, f"{where}: give at least one of basic, rolling, ratio, since")
        aggregates: list[Aggregate] = []
        for function in as_list(feature.get("basic")):
            function = normalize_function(self.node.id, function, where)
            aggregates.append(Aggregate(f"{name}_{function}", aggregate_sql(self.dialect, function, column)))
        for rolling in as_list(feature.get("rolling")):
            if not isinstance(rolling, dict):
                raise ExecutorValidationError(self.node.id, f"{where}: rolling items are {{window: [7, 30], aggs: [sum]}}")
            functions = as_list(rolling.get("aggs") or rolling.get("functions"))
            if not functions:
                raise ExecutorValidationError(self.node.id, f"{where}: a rolling window needs 'aggs'")
            for window in as_list(rolling.get("window")):
                days = window_days(self.node.id, window, where)
                for function in functions:
                    function = normalize_function(self.node.id, function, where)
                    aggregates.append(
                        Aggregate(f"{name}_{function}_{days}d", aggregate_sql(self.dialect, function, column, days_window(0, days - 1)))
                    )
        for ratio in as_list(feature.get("ratio")):
            if not isinstance(ratio, dict) or not ratio.get("numerator") or not ratio.get("denominator"):
                raise ExecutorValidationError(
                    self.node.id, f"{where}: ratio items are {{numerator: [7], denominator: [30], aggs: [sum]}}"
                )
            for numerator in as_list(ratio["numerator"]):
                for denominator in as_list(ratio["denominator"]):
                    top, bottom = window_days(self.node.id, numerator, where), window_days(self.node.id, denominator, where)
                    for function in as_list(ratio.get("aggs") or ["sum"]):
                        function = normalize_function(self.node.id, function, where)
                        upper = aggregate_sql(self.dialect, function, column, days_window(0, top - 1))
                        lower = aggregate_sql(self.dialect, function, column, days_window(0, bottom - 1))
                        aggregates.append(
                            Aggregate(
                                f"{name}_{function}_ratio_{top}d_{bottom}d",
                                f"CAST({upper} AS DOUBLE) / nullif(CAST({lower} AS DOUBLE), 0)",
                            )
                        )
        for since in as_list(feature.get("since")):
            condition = self.condition(since.get("condition") if isinstance(since, dict) else None, where)
            for function in as_list(since.get("aggs") or ["count"]):
                function = normalize_function(self.node.id, function, where)
                if function == "count":
                    aggregates.append(Aggregate(f"{name}_count_if", f"count(*) FILTER (WHERE {condition})"))
                    continue
                needs.setdefault(column, where)
                aggregates.append(Aggregate(f"{name}_{function}_if", aggregate_sql(self.dialect, function, column, condition)))
        if feature.get("basic") or feature.get("rolling") or feature.get("ratio"):
            needs.setdefault(column, where)
        return aggregates

    def _seed_plan(self) -> AggregationPlan:
        spec = self.spec
        grain = [column for column in (spec.id_col, spec.application_date_col) if column] + list(spec.group_by)
        needs = {column: "group_by" for column in grain}
        aggregates: list[Aggregate] = []
        windowed = False
        for index, item in enumerate(spec.aggregations or []):
            where = f"aggregations[{index}]"
            column = item.get("column")
            if not column:
                raise ExecutorValidationError(self.node.id, f"{where}: an aggregation needs 'column'")
            function = normalize_function(self.node.id, item.get("function") or item.get("agg") or "", where)
            for extra in as_list(item.get("group_by")):
                if extra not in grain:
                    grain.append(extra)
                    needs[extra] = f"{where}.group_by"
            needs.setdefault(column, where)
            if item.get("window") is None:
                alias, condition = f"{column}_{function}", None
            else:
                days = window_days(self.node.id, item["window"], where)
                alias, condition = f"{column}_{function}_{days}d", days_window(0, days - 1)
                windowed = True
            aggregates.append(Aggregate(str(item.get("name") or alias), aggregate_sql(self.dialect, function, column, condition)))
        if windowed and not spec.feature_date_col:
            raise ExecutorValidationError(
                self.node.id, "a windowed aggregation needs 'feature_date_col', the date the window counts back from"
            )
        if spec.feature_date_col:
            needs[spec.feature_date_col] = "feature_date_col"
        return AggregationPlan(
            dialect=self.dialect,
            grain=grain,
            aggregates=aggregates,
            feature_date_col=spec.feature_date_col,
            application_date=self._seed_application_date(),
            needs=needs,
        )

    def _seed_application_date(self) -> str | None:
        """The application date of the seed form: a column, a fixed ``application_date``, or the latest date."""
        if self.spec.application_date_col:
            return self.dialect.quote_identifier(self.spec.application_date_col)
        fixed = self.spec.extra_fields().get("application_date")
        if fixed is None:
            return None
        try:
            return f"DATE {self.dialect.quote_literal(self.context.render(str(fixed), self.spec.params))}"
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, f"application_date: {error}") from error

    def partition_filter(self, relation: str) -> str | None:
        window = self.context.partition_time_window
        if window is None:
            return None
        if not self.spec.application_date_col:
            raise ExecutorValidationError(
                self.node.id, "a partitioned aggregation needs 'application_date_col' to know which rows a partition holds"
            )
        return partition_predicate(self.dialect, self.spec.application_date_col, window)
