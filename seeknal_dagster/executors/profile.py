"""``profile``: Seeknal's column statistics of the first input, as an asset of their own.

The output is Seeknal's long format — ``column_name, metric, value (VARCHAR), detail`` — in
``target/intermediate/profile_<name>.parquet``, where ``profile_check`` rules read it. The statistics are Seeknal's,
value for value: the table's ``row_count``; per column ``null_count``, ``null_percent`` and (but for binary columns)
``distinct_count``; for numbers ``min``, ``max``, ``avg``, ``sum`` (as a double), ``stddev`` (sample) and ``p25`` /
``p50`` / ``p75`` from DuckDB's ``approx_quantile`` (exact, Hazen-interpolated, up to about a hundred values, and
of the column's own type, so integers round half to even); for dates and timestamps ``min``, ``max`` and
``freshness_hours`` (unrounded); for every other type ``top_values``, whose value is NULL and whose detail is a JSON
list of ``{"value", "count", "percent"}`` (percent of the non-null rows, rounded to 2 places), most frequent first.

Two deliberate differences from Seeknal: equally frequent top values come in the order they first appear in the
input (Seeknal leaves ties in the order DuckDB's parallel grouping yields, which changes with the thread count and
from run to run), and an empty column has a ``null_count`` of 0 (Seeknal's is NULL, beside a ``null_percent`` of 0).

Every scalar statistic comes from one scan of the input; ``top_values`` needs one grouped query per column.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import quote_identifier, relation_columns, write_query
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult, Table
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.featurestore.definition import type_family
from seeknal_dagster.project.checks.profile import profile_settings
from seeknal_dagster.project.models import NodeKind, ProfileSpec

TABLE_LEVEL = "_table_"
OUTPUT_SCHEMA = pa.schema([(name, pa.string()) for name in ("column_name", "metric", "value", "detail")])
#: Column order of the metadata table.
_SHOWN_METRICS = (
    "null_count", "null_percent", "distinct_count", "min", "max", "avg", "sum", "stddev", "p25", "p50", "p75",
    "freshness_hours", "top_values",
)

Statistic = tuple[str, str, "str | None", "str | None"]


def column_category(duckdb_type: str) -> str:
    """Seeknal's families: numeric, temporal (dates and timestamps), binary, and categorical (everything else:
    text, booleans, times, lists, …), which is profiled by its most frequent values."""
    family = type_family(duckdb_type)
    if family in ("int", "float"):
        return "numeric"
    if family in ("date", "timestamp"):
        return "temporal"
    if family in ("BLOB", "BYTEA"):
        return "binary"
    return "categorical"


def column_metrics(column: str, duckdb_type: str) -> list[tuple[str, str]]:
    """(metric, SQL aggregate) of the scalar statistics of one column."""
    quoted = quote_identifier(column)
    nulls = f"(count(*) - count({quoted}))"
    metrics = [
        ("null_count", nulls),
        ("null_percent", f"CASE WHEN count(*) = 0 THEN 0.0 ELSE 100.0 * {nulls} / count(*) END"),
    ]
    category = column_category(duckdb_type)
    if category == "binary":
        return metrics
    metrics.append(("distinct_count", f"count(DISTINCT {quoted})"))
    if category == "numeric":
        quartiles = f"approx_quantile({quoted}, [0.25, 0.5, 0.75])"  # computed once, indexed three times
        metrics += [
            ("min", f"min({quoted})"),
            ("max", f"max({quoted})"),
            ("avg", f"avg({quoted})"),
            ("sum", f"CAST(sum({quoted}) AS DOUBLE)"),
            ("stddev", f"stddev_samp({quoted})"),
            ("p25", f"{quartiles}[1]"),
            ("p50", f"{quartiles}[2]"),
            ("p75", f"{quartiles}[3]"),
        ]
    elif category == "temporal":
        metrics += [
            ("min", f"min({quoted})"),
            ("max", f"max({quoted})"),
            # A naive timestamp is read in the session's time zone, as Seeknal reads it.
            ("freshness_hours", f"epoch(current_timestamp - CAST(max({quoted}) AS TIMESTAMP)) / 3600.0"),
        ]
    return metrics


@register_executor(NodeKind.PROFILE)
class ProfileExecutor(SqlNodeExecutor):
    @property
    def spec(self) -> ProfileSpec:
        return self.node.spec  # type: ignore[return-value]

    def execute(self) -> ExecutorResult:
        wanted, top_values = profile_settings(self.spec)
        relation = self.relations[self.upstream_for(self.spec.input_ids()[0])]
        available = relation_columns(self.connection, relation)
        skipped = [column for column in wanted or [] if column not in available]
        chosen = {name: kind for name, kind in available.items() if wanted is None or name in wanted}
        rows = self._statistics(relation, chosen, top_values)
        output_path = self.context.get_output_path(self.node)
        statistics = pa.Table.from_pylist([dict(zip(OUTPUT_SCHEMA.names, row)) for row in rows], schema=OUTPUT_SCHEMA)
        self.connection.register("profile_statistics", statistics)
        try:
            row_count = write_query(self.connection, "SELECT * FROM profile_statistics", output_path)
        finally:
            self.connection.unregister("profile_statistics")
        metadata: dict[str, Any] = {
            "statistics": self._table(rows),
            "profiled_rows": int(rows[0][2]),
            "columns_profiled": len(chosen),
        }
        if skipped:
            metadata["skipped_columns"] = ", ".join(skipped)
            self.context.log.warning(f"{self.node.id}: profile.columns not in the input, skipped: {', '.join(skipped)}")
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, row_count=row_count, output_path=output_path, metadata=metadata
        )

    def _statistics(self, relation: str, columns: dict[str, str], top_values: int) -> list[Statistic]:
        """Every statistic in Seeknal's row order: the row count, then each column's statistics in turn."""
        plan = [(TABLE_LEVEL, "row_count", "count(*)")] + [
            (name, metric, sql) for name, kind in columns.items() for metric, sql in column_metrics(name, kind)
        ]
        select = ", ".join(f"CAST(({sql}) AS VARCHAR)" for _, _, sql in plan)
        [values] = self.connection.execute(f"SELECT {select} FROM {relation}").fetchall()
        scalars: dict[str, list[Statistic]] = {}
        for (name, metric, _), value in zip(plan, values):
            scalars.setdefault(name, []).append((name, metric, value, None))
        rows = scalars.pop(TABLE_LEVEL)
        for name, kind in columns.items():
            rows += scalars[name]
            if column_category(kind) == "categorical":
                rows.append((name, "top_values", None, self._top_values(relation, name, top_values)))
        return rows

    def _top_values(self, relation: str, column: str, limit: int) -> str | None:
        """The most frequent non-null values as Seeknal's JSON list of ``{value, count, percent}`` (NULL when the
        column has no value); equally frequent values in the order they first appear."""
        quoted = quote_identifier(column)
        [(detail,)] = self.connection.execute(
            f"""
            SELECT CAST(list(json_object('value', CAST(value AS VARCHAR), 'count', frequency,
                                         'percent', round(100.0 * frequency / total, 2))
                             ORDER BY frequency DESC, first_seen) AS VARCHAR)
            FROM (
                SELECT value, count(*) AS frequency, min(position) AS first_seen, sum(count(*)) OVER () AS total
                -- row_number() OVER () streams in input order: each row's position in the upstream output
                FROM (SELECT {quoted} AS value, row_number() OVER () AS position FROM {relation})
                WHERE value IS NOT NULL GROUP BY value
                ORDER BY frequency DESC, first_seen LIMIT {int(limit)}
            )
            """
        ).fetchall()
        return detail

    @staticmethod
    def _table(rows: list[Statistic]) -> Table:
        """The statistics pivoted to one row per column, for reading in the UI (top values as ``value (count)``)."""
        by_column: dict[str, dict[str, str | None]] = {}
        for column, metric, value, detail in rows:
            if metric == "top_values":
                found = json.loads(detail) if detail else []
                value = ", ".join(f"{item['value']} ({item['count']})" for item in found)
            by_column.setdefault(column, {})[metric] = value
        by_column.pop(TABLE_LEVEL, None)
        shown = [metric for metric in _SHOWN_METRICS if any(metric in values for values in by_column.values())]
        return Table.of(
            ["column", *shown],
            [(column, *(values.get(metric, "") for metric in shown)) for column, values in by_column.items()],
        )
