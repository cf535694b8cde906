"""The query an ``aggregation`` or ``second_order_aggregation`` node runs, planned from its YAML alone.

Seeknal puts its rolling and ratio windows in window functions inside a ``GROUP BY``, which always fails. Here
every window is a ``FILTER`` clause over ``_days_between`` (days from the feature date back from the application
date), so all features of a row come from one grouped scan. A window of ``n`` days holds the rows dated 0 to n-1 days
before the application date (the application day included); ``basic`` aggregates cover every row of the group,
as in Seeknal. Output columns are named as Seeknal names them: ``<name>_<agg>``, ``<name>_<agg>_<n>d``,
``<name>_<agg>_ratio_<n>d_<m>d``, ``<name>_count_if`` / ``<name>_sum_if``.

The seed dialect (``aggregations: [{column, function, window: 30d, group_by}]``) is read into the same features;
its windows count back from ``application_date_col``, else a fixed ``application_date``, else the latest
``feature_date_col`` in the input.

Second-order features map a name to a spec over an input column (``source_feature``, default the name): ``basic``
aggregates over rows dated at or before the application date, ``window: [lo, hi]`` adds the same aggregates over
rows ``lo``–``hi`` days before it, ``ratio`` divides two such windows, ``since`` filters by a condition. Column
names follow Seeknal: ``amount_SUM``, ``amount_SUM_1_30``, ``amount_SUM1_7_SUM8_30``, ``SINCE_COUNT_amount_GEO_D``.

Planning needs no data, so the loader plans every aggregation when a project loads: a wrong setting is reported
by ``seeknal-dagster validate``, with the same message the node would fail with. A plan is written in the SQL
dialect of the engine the node runs on (:class:`~seeknal_dagster.engines.node_sql.NodeSql`: DuckDB's or Spark's
quoting and date arithmetic); which dialect is planned in changes no finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from seeknal_dagster.project.checks.scope import CheckScope, SettingError, as_list
from seeknal_dagster.project.models import AggregationSpec, SecondOrderAggregationSpec

if TYPE_CHECKING:
    from seeknal_dagster.engines.node_sql import NodeSql
    from seeknal_dagster.project.loader import ProjectNode

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
SECOND_ORDER_KINDS = ("basic", "window", "ratio", "since")
#: Accepted by Seeknal's validation but never computed by it; rejected here rather than silently dropped.
UNSUPPORTED_SECOND_ORDER_KINDS = ("percentile", "delta")


@dataclass(frozen=True)
class Aggregate:
    """One output column: its name and the aggregate expression computing it."""

    alias: str
    sql: str


def normalize_function(function: Any, where: str) -> str:
    """The canonical aggregate name (``mean`` → ``avg``), or an error listing the known ones."""
    name = str(function).strip().lower()
    name = AGGREGATE_ALIASES.get(name, name)
    if name not in AGGREGATE_FUNCTIONS:
        known = ", ".join([*AGGREGATE_FUNCTIONS, *AGGREGATE_ALIASES])
        raise SettingError(f"{where}: unknown aggregate '{function}' (known: {known})", "features")
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


def window_days(value: Any, where: str) -> int:
    """A window length in days from ``7``, ``"7d"``, ``"7 days"`` or ``"1w"``."""
    readable = isinstance(value, (int, str)) and not isinstance(value, bool)
    match = _WINDOW.match(str(value)) if readable else None
    if not match or int(match.group(1)) < 1:
        raise SettingError(f"{where}: window {value!r} is not a number of days (write 7, '7d' or '2w')", "features")
    days = int(match.group(1))
    return days * 7 if (match.group(2) or "d").lower().startswith("w") else days


def ensure_unique(aggregates: Iterable[Aggregate], grain: Iterable[str]) -> None:
    seen = set(grain)
    for aggregate in aggregates:
        if aggregate.alias in seen:
            raise SettingError(
                f"two definitions produce the column '{aggregate.alias}': rename one of the features", "features"
            )
        seen.add(aggregate.alias)


@dataclass
class AggregationPlan:
    """What one aggregation computes: output grain, aggregates, and how rows are dated, in one engine's SQL."""

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


# First-order aggregations -------------------------------------------------------------------------------------


def aggregated_input(spec: AggregationSpec) -> str:
    """The reference to the node an aggregation reads: its ``source:``, else its first input."""
    declared = spec.source or next(iter(spec.input_ids()), None)
    if not declared:
        raise SettingError("an aggregation needs 'source: kind.name' or 'inputs' naming the node it aggregates", "source")
    return declared


def aggregation_plan(node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql]) -> AggregationPlan:
    """The plan of an ``aggregation`` node, in either YAML dialect, as ``dialect``'s SQL; its ``{{ }}`` rendered
    through ``scope``."""
    spec: AggregationSpec = node.spec  # type: ignore[assignment]
    planner = _seed_plan if spec.aggregations is not None else _seeknal_plan
    plan = planner(node, scope, dialect)
    if not plan.aggregates:
        raise SettingError("the aggregation defines no aggregates", "features")
    ensure_unique(plan.aggregates, plan.grain)
    return plan


def _seeknal_plan(node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql]) -> AggregationPlan:
    spec: AggregationSpec = node.spec  # type: ignore[assignment]
    if not spec.application_date_col:
        raise SettingError(
            "missing 'application_date_col': features are computed per entity and application date "
            "(the date windows count back from)",
            "application_date_col",
        )
    grain = [spec.id_col, spec.application_date_col, *spec.group_by]
    plan = AggregationPlan(
        dialect=dialect,
        grain=grain,
        aggregates=[],
        feature_date_col=spec.feature_date_col,
        application_date=dialect.quote_identifier(spec.application_date_col),
        needs={spec.id_col: "id_col", spec.feature_date_col: "feature_date_col", spec.application_date_col: "application_date_col"},
    )
    plan.needs.update({column: "group_by" for column in spec.group_by})
    features = spec.features
    if isinstance(features, dict):
        features = [{"name": name, **(value or {})} for name, value in features.items()]
    for index, feature in enumerate(features or []):
        plan.aggregates += _feature_aggregates(node, scope, dialect, feature, f"features[{index}]", plan.needs)
    return plan


def _condition(node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql], text: Any, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise SettingError(f"{where}: 'condition' must be a SQL condition", "features")
    return scope.render_sql(node, text, "features", fragment=True, engine=dialect.engine)


def _feature_aggregates(
    node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql], feature: Any, where: str, needs: dict[str, str]
) -> list[Aggregate]:
    if not isinstance(feature, dict) or not feature.get("name"):
        raise SettingError(f"{where}: a feature needs a 'name'", "features")
    name = str(feature["name"])
    column = str(feature.get("column") or name)
    where = f"feature '{name}'"
    kinds = [kind for kind in ("basic", "rolling", "ratio", "since") if feature.get(kind)]
    if not kinds:
        raise SettingError(f"{where}: give at least one of basic, rolling, ratio, since", "features")
    aggregates: list[Aggregate] = []
    for function in as_list(feature.get("basic")):
        function = normalize_function(function, where)
        aggregates.append(Aggregate(f"{name}_{function}", aggregate_sql(dialect, function, column)))
    for rolling in as_list(feature.get("rolling")):
        if not isinstance(rolling, dict):
            raise SettingError(f"{where}: rolling items are {{window: [7, 30], aggs: [sum]}}", "features")
        functions = as_list(rolling.get("aggs") or rolling.get("functions"))
        if not functions:
            raise SettingError(f"{where}: a rolling window needs 'aggs'", "features")
        for window in as_list(rolling.get("window")):
            days = window_days(window, where)
            for function in functions:
                function = normalize_function(function, where)
                aggregates.append(
                    Aggregate(f"{name}_{function}_{days}d", aggregate_sql(dialect, function, column, days_window(0, days - 1)))
                )
    for ratio in as_list(feature.get("ratio")):
        if not isinstance(ratio, dict) or not ratio.get("numerator") or not ratio.get("denominator"):
            raise SettingError(f"{where}: ratio items are {{numerator: [7], denominator: [30], aggs: [sum]}}", "features")
        for numerator in as_list(ratio["numerator"]):
            for denominator in as_list(ratio["denominator"]):
                top, bottom = window_days(numerator, where), window_days(denominator, where)
                for function in as_list(ratio.get("aggs") or ["sum"]):
                    function = normalize_function(function, where)
                    upper = aggregate_sql(dialect, function, column, days_window(0, top - 1))
                    lower = aggregate_sql(dialect, function, column, days_window(0, bottom - 1))
                    aggregates.append(
                        Aggregate(
                            f"{name}_{function}_ratio_{top}d_{bottom}d",
                            f"CAST({upper} AS DOUBLE) / nullif(CAST({lower} AS DOUBLE), 0)",
                        )
                    )
    for since in as_list(feature.get("since")):
        condition = _condition(node, scope, dialect, since.get("condition") if isinstance(since, dict) else None, where)
        for function in as_list(since.get("aggs") or ["count"]):
            function = normalize_function(function, where)
            if function == "count":
                aggregates.append(Aggregate(f"{name}_count_if", f"count(*) FILTER (WHERE {condition})"))
                continue
            needs.setdefault(column, where)
            aggregates.append(Aggregate(f"{name}_{function}_if", aggregate_sql(dialect, function, column, condition)))
    if feature.get("basic") or feature.get("rolling") or feature.get("ratio"):
        needs.setdefault(column, where)
    return aggregates


def _seed_plan(node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql]) -> AggregationPlan:
    spec: AggregationSpec = node.spec  # type: ignore[assignment]
    grain = [column for column in (spec.id_col, spec.application_date_col) if column] + list(spec.group_by)
    needs = {column: "group_by" for column in grain}
    aggregates: list[Aggregate] = []
    windowed = False
    for index, item in enumerate(spec.aggregations or []):
        where = f"aggregations[{index}]"
        if not isinstance(item, dict) or not item.get("column"):
            raise SettingError(f"{where}: an aggregation needs 'column'", where)
        column = item["column"]
        function = normalize_function(item.get("function") or item.get("agg") or "", where)
        for extra in as_list(item.get("group_by")):
            if extra not in grain:
                grain.append(extra)
                needs[extra] = f"{where}.group_by"
        needs.setdefault(column, where)
        if item.get("window") is None:
            alias, condition = f"{column}_{function}", None
        else:
            days = window_days(item["window"], where)
            alias, condition = f"{column}_{function}_{days}d", days_window(0, days - 1)
            windowed = True
        aggregates.append(Aggregate(str(item.get("name") or alias), aggregate_sql(dialect, function, column, condition)))
    if windowed and not spec.feature_date_col:
        raise SettingError(
            "a windowed aggregation needs 'feature_date_col', the date the window counts back from", "feature_date_col"
        )
    if spec.feature_date_col:
        needs[spec.feature_date_col] = "feature_date_col"
    return AggregationPlan(
        dialect=dialect,
        grain=grain,
        aggregates=aggregates,
        feature_date_col=spec.feature_date_col,
        application_date=_seed_application_date(node, scope, dialect),
        needs=needs,
    )


def _seed_application_date(node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql]) -> str | None:
    """The application date of the seed form: a column, a fixed ``application_date``, or the latest date."""
    spec: AggregationSpec = node.spec  # type: ignore[assignment]
    if spec.application_date_col:
        return dialect.quote_identifier(spec.application_date_col)
    fixed = spec.extra_fields().get("application_date")
    if fixed is None:
        return None
    return f"DATE {dialect.quote_literal(scope.render(node, str(fixed), 'application_date'))}"


# Second-order aggregations ------------------------------------------------------------------------------------


def second_order_plan(node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql]) -> AggregationPlan:
    """The plan of a ``second_order_aggregation`` node, as ``dialect``'s SQL: one row per ``id_col``."""
    spec: SecondOrderAggregationSpec = node.spec  # type: ignore[assignment]
    if "." not in spec.source:
        raise SettingError(
            f"invalid source '{spec.source}': expected 'kind.name' (e.g. 'aggregation.user_metrics')", "source"
        )
    if not spec.application_date_col:
        raise SettingError(
            "missing 'application_date_col': days are counted from each row's feature date back from it",
            "application_date_col",
        )
    if not spec.features:
        raise SettingError("features must be a non-empty mapping of name → spec", "features")
    plan = AggregationPlan(
        dialect=dialect,
        grain=[spec.id_col],
        aggregates=[],
        feature_date_col=spec.feature_date_col,
        application_date=dialect.quote_identifier(spec.application_date_col),
        needs={
            spec.id_col: "id_col",
            spec.feature_date_col: "feature_date_col",
            spec.application_date_col: "application_date_col",
        },
    )
    for name, feature in spec.features.items():
        plan.aggregates += _second_order_aggregates(node, scope, dialect, str(name), feature, plan.needs)
    ensure_unique(plan.aggregates, plan.grain)
    return plan


def _days_range(feature: str, value: Any, label: str) -> tuple[int, int]:
    """``[lower, upper]`` days before the application date, with Seeknal's error when it is anything else."""
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(bound, int) and not isinstance(bound, bool) for bound in value)
    )
    if not valid:
        raise SettingError(f"Feature '{feature}': {label} must be a list of two integers [lower, upper]", "features")
    lower, upper = value
    if lower > upper:
        raise SettingError(f"Feature '{feature}': {label} {value} has lower > upper", "features")
    return lower, upper


def _second_order_aggregates(
    node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql], name: str, feature: Any, needs: dict[str, str]
) -> list[Aggregate]:
    if not isinstance(feature, dict):
        raise SettingError(f"Feature '{name}' must be a mapping", "features")
    unsupported = [kind for kind in UNSUPPORTED_SECOND_ORDER_KINDS if kind in feature]
    if unsupported:
        raise SettingError(
            f"Feature '{name}': {', '.join(unsupported)} is not supported (use {', '.join(SECOND_ORDER_KINDS)})",
            "features",
        )
    if not any(feature.get(kind) for kind in SECOND_ORDER_KINDS):
        raise SettingError(
            f"Feature '{name}' must have at least one aggregation type ({', '.join(SECOND_ORDER_KINDS)})", "features"
        )
    column = str(feature.get("source_feature") or name)
    needs.setdefault(column, f"feature '{name}'")
    where = f"Feature '{name}'"
    basic = [(agg, normalize_function(agg, where)) for agg in as_list(feature.get("basic"))]
    aggregates = [
        Aggregate(f"{column}_{str(agg).upper()}", aggregate_sql(dialect, function, column, f"{DAYS_BETWEEN} >= 0"))
        for agg, function in basic
    ]
    if feature.get("window") is not None:
        lower, upper = _days_range(name, feature["window"], "window")
        if not basic:
            raise SettingError(f"{where}: a window needs 'basic' aggregations to compute", "features")
        aggregates += [
            Aggregate(f"{column}_{str(agg).upper()}_{lower}_{upper}", aggregate_sql(dialect, function, column, days_window(lower, upper)))
            for agg, function in basic
        ]
    if feature.get("ratio") is not None:
        aggregates += _ratio(dialect, name, column, feature["ratio"])
    if feature.get("since") is not None:
        aggregates += _since(node, scope, dialect, name, column, feature["since"])
    return aggregates


def _ratio(dialect: type[NodeSql], name: str, column: str, ratio: Any) -> list[Aggregate]:
    if not isinstance(ratio, dict):
        raise SettingError(f"Feature '{name}': ratio must be a mapping with numerator, denominator and aggs", "features")
    top = _days_range(name, ratio.get("numerator"), "ratio.numerator")
    bottom = _days_range(name, ratio.get("denominator"), "ratio.denominator")
    aggregates = []
    for agg in as_list(ratio.get("aggs") or ["sum"]):
        function = normalize_function(agg, f"Feature '{name}'")
        label = str(agg).upper()
        upper = aggregate_sql(dialect, function, column, days_window(*top))
        lower = aggregate_sql(dialect, function, column, days_window(*bottom))
        aggregates.append(
            Aggregate(
                f"{column}_{label}{top[0]}_{top[1]}_{label}{bottom[0]}_{bottom[1]}",
                f"CAST({upper} AS DOUBLE) / nullif(CAST({lower} AS DOUBLE), 0)",
            )
        )
    return aggregates


def _since(
    node: "ProjectNode", scope: CheckScope, dialect: type[NodeSql], name: str, column: str, since: Any
) -> list[Aggregate]:
    if not isinstance(since, dict):
        raise SettingError(f"Feature '{name}': since must be a dictionary with 'condition' and 'aggs'", "features")
    text = str(since.get("condition") or f"{DAYS_BETWEEN} >= 0")
    condition = scope.render_sql(node, text, "features", fragment=True, engine=dialect.engine)
    return [
        Aggregate(
            f"SINCE_{str(agg).upper()}_{column}_GEO_D",
            aggregate_sql(dialect, normalize_function(agg, f"Feature '{name}'"), column, condition),
        )
        for agg in as_list(since.get("aggs") or ["count"])
    ]
