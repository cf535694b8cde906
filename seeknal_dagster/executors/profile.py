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

A profile of a Spark node's output runs on Spark (see :meth:`SeeknalProject.engine_of`), with Spark's functions:
quartiles are Spark's ``percentile`` (exact, linearly interpolated, as doubles), and numbers become text as Spark
writes them (``1.0E20`` where DuckDB writes ``1e+20``); the statistics are otherwise the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from seeknal_dagster.engines.node_sql import NodeSql
from seeknal_dagster.engines.outputs import atomic_path
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


def write_statistics(rows: list[Statistic], path: Path) -> int:
    """The statistics (a few rows) as the profile's Parquet output, atomically."""
    import pyarrow.parquet as pq

    statistics = pa.Table.from_pylist([dict(zip(OUTPUT_SCHEMA.names, row)) for row in rows], schema=OUTPUT_SCHEMA)
    with atomic_path(path) as temporary:
        pq.write_table(statistics, temporary)
    return statistics.num_rows


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


def column_metrics(dialect: type[NodeSql], column: str, duckdb_type: str) -> list[tuple[str, str]]:
    """(metric, SQL aggregate) of the scalar statistics of one column, in the SQL of ``dialect``."""
    quoted = dialect.quote_identifier(column)
    nulls = f"(count(*) - count({quoted}))"
    metrics = [
        ("null_count", nulls),
        ("null_percent", f"CASE WHEN count(*) = 0 THEN 0.0 ELSE CAST(100.0 * {nulls} / count(*) AS DOUBLE) END"),
    ]
    category = column_category(duckdb_type)
    if category == "binary":
        return metrics
    metrics.append(("distinct_count", f"count(DISTINCT {quoted})"))
    if category == "numeric":
        metrics += [
            ("min", f"min({quoted})"),
            ("max", f"max({quoted})"),
            ("avg", f"avg({quoted})"),
            ("sum", f"CAST(sum({quoted}) AS DOUBLE)"),
            ("stddev", f"stddev_samp({quoted})"),
            *quartiles(dialect, quoted),
        ]
    elif category == "temporal":
        metrics += [
            ("min", f"min({quoted})"),
            ("max", f"max({quoted})"),
            ("freshness_hours", freshness_hours(dialect, quoted)),
        ]
    return metrics


def quartiles(dialect: type[NodeSql], quoted: str) -> list[tuple[str, str]]:
    """p25, p50, p75: one list of quantiles computed once and indexed three times (DuckDB's lists count from 1,
    Spark's arrays from 0)."""
    if dialect.engine == "spark":
        shared, first = f"percentile({quoted}, array(0.25, 0.5, 0.75))", 0
    else:
        shared, first = f"approx_quantile({quoted}, [0.25, 0.5, 0.75])", 1
    return [(name, f"{shared}[{first + index}]") for index, name in enumerate(("p25", "p50", "p75"))]


def freshness_hours(dialect: type[NodeSql], quoted: str) -> str:
    """Hours from the newest value to now; a naive timestamp is read in the session's time zone, as Seeknal reads it."""
    newest = f"CAST(max({quoted}) AS TIMESTAMP)"
    if dialect.engine == "spark":
        return f"(unix_micros(current_timestamp()) - unix_micros({newest})) / 3600e6"
    return f"epoch(current_timestamp - {newest}) / 3600.0"


@register_executor(NodeKind.PROFILE)
class ProfileExecutor(SqlNodeExecutor):
    @property
    def spec(self) -> ProfileSpec:
        return self.node.spec  # type: ignore[return-value]

    def execute(self) -> ExecutorResult:
        wanted, top_values = profile_settings(self.spec)
        relation = self.relations[self.upstream_for(self.spec.input_ids()[0])]
        available = self.sql.columns(relation)
        skipped = [column for column in wanted or [] if column not in available]
        chosen = {name: kind for name, kind in available.items() if wanted is None or name in wanted}
        rows = self._statistics(relation, chosen, top_values)
        output_path = self.context.get_output_path(self.node)
        row_count = write_statistics(rows, output_path)
        metadata: dict[str, Any] = {
            "engine": self.sql.engine,
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
            (name, metric, sql) for name, kind in columns.items() for metric, sql in column_metrics(self.dialect, name, kind)
        ]
        select = ", ".join(f"CAST(({sql}) AS {self.dialect.text_type})" for _, _, sql in plan)
        values = self.sql.fetch_one(f"SELECT {select} FROM {relation}")
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
        if self.engine == "spark":
            return self._spark_top_values(relation, column, limit)
        quoted = self.dialect.quote_identifier(column)
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

    def _spark_top_values(self, relation: str, column: str, limit: int) -> str | None:
        """:meth:`_top_values` on Spark: the input's order is its rows' ``monotonically_increasing_id`` (files and
        part files in order), and the JSON is written here in DuckDB's spelling."""
        quoted = self.dialect.quote_identifier(column)
        found = self.sql.fetch_all(
            f"""
            SELECT CAST(value AS STRING), frequency, round(CAST(100.0 * frequency / total AS DOUBLE), 2)
            FROM (
                SELECT value, count(*) AS frequency, min(position) AS first_seen, sum(count(*)) OVER () AS total
                FROM (SELECT {quoted} AS value, monotonically_increasing_id() AS position FROM {relation}) AS numbered
                WHERE value IS NOT NULL GROUP BY value
            ) AS counted
            ORDER BY frequency DESC, first_seen LIMIT {int(limit)}
            """
        )
        listed = [{"value": value, "count": count, "percent": percent} for value, count, percent in found]
        return json.dumps(listed, separators=(",", ":"), ensure_ascii=False) if listed else None

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
