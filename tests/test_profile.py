"""Profile nodes: Seeknal's long-format statistics as an asset, and profile_check rules reading them.

Every statistic is checked against the same statistic computed in plain Python: numpy's Hazen quantiles (what
DuckDB's approx_quantile, Seeknal's method, computes exactly for small inputs; integer columns keep their type, so
they round half to even), ``collections.Counter.most_common`` for the top values (equally frequent values in the order
first seen), and the unrounded freshness in hours.
"""

from __future__ import annotations

import json
import random
import statistics as pystats
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster
import duckdb
import numpy as np
import pytest

from tests.support.projects import (
    load_problem,
    materialization_metadata,
    materialize,
    materialized_keys,
    run_node,
    table_rows,
    write_project,
)

ORDERS_CSV = """\
order_id,customer,channel,amount,is_gift,ordered_at,ordered_on
1,ann,web,10.0,true,2025-12-01 10:00:00,2025-12-01
2,bob,web,20.0,false,2025-12-02 11:00:00,2025-12-02
3,ann,app,30.0,false,2025-12-03 12:00:00,2025-12-03
4,,web,,true,2025-12-04 13:00:00,2025-12-04
"""


def profile_files(profile_settings: str = "", **rules: str) -> dict[str, str]:
    files = {
        "data/orders.csv": ORDERS_CSV,
        "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
        "seeknal/profiles/orders_profile.yml": "kind: profile\nname: orders_profile\ninputs: [{ref: source.orders}]\n"
        + profile_settings,
    }
    files.update({f"seeknal/rules/{name}.yml": text for name, text in rules.items()})
    return files


def statistics(project, name: str = "orders_profile") -> dict[tuple[str, str], tuple[str | None, str | None]]:
    rows = duckdb.sql(
        f"SELECT column_name, metric, value, detail FROM read_parquet('{project}/target/intermediate/profile_{name}.parquet')"
    ).fetchall()
    return {(column, metric): (value, detail) for column, metric, value, detail in rows}



# -- Seeknal's statistics for every column family, against an independent computation -------------------------

CHANNELS = ["web", "app", "store", "phone", "partner", "kiosk"]


def order_rows(seed: int = 22, count: int = 40) -> list[dict[str, Any]]:
    """Orders with every column family: integers, doubles, text with ties, booleans, dates, timestamps, and a
    column that is always empty. Some values are missing."""
    rng = random.Random(seed)
    rows = []
    for order_id in range(1, count + 1):
        ordered_at = datetime(2025, 11, 1, 8) + timedelta(minutes=rng.randrange(60 * 24 * 40))
        rows.append(
            {
                "order_id": order_id,
                "quantity": rng.choice([None, *range(1, 10)]),
                "amount": None if rng.random() < 0.1 else round(rng.uniform(1, 500), 2),
                "channel": rng.choice([None, *CHANNELS, "web", "app"]),
                "is_gift": rng.choice([None, True, False, False]),
                "ordered_on": ordered_at.date(),
                "ordered_at": ordered_at,
                "note": None,
            }
        )
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return str(value)

    return "\n".join([",".join(rows[0]), *(",".join(text(value) for value in row.values()) for row in rows)]) + "\n"


#: Each profile reads a transform keeping one family of columns (or none of the rows).
FAMILY_QUERIES = {
    "numbers": "SELECT order_id, quantity, amount, CAST(amount AS DECIMAL(10, 2)) AS amount_decimal",
    "texts": "SELECT channel",
    "times": "SELECT ordered_on, ordered_at",
    "flags": "SELECT is_gift",
    "nulls": "SELECT note, CAST(NULL AS DOUBLE) AS no_amount, CAST(NULL AS DATE) AS no_date",
    "empty": "SELECT order_id, amount, channel, ordered_at",
}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory) -> tuple[Path, list[dict[str, Any]], datetime, datetime]:
    """One project profiling each family, materialized once: (project, rows, time before, time after the run)."""
    rows = order_rows()
    files = {
        "data/orders.csv": to_csv(rows),
        "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
        "seeknal/profiles/all_columns.yml": "kind: profile\nname: all_columns\ninputs: [{ref: source.orders}]\n",
    }
    for family, select in FAMILY_QUERIES.items():
        where = " WHERE false" if family == "empty" else ""
        files[f"seeknal/transforms/{family}.yml"] = (
            f"kind: transform\nname: {family}\ninputs: [{{ref: source.orders}}]\n"
            f"transform: {select} FROM ref('source.orders'){where}\n"
        )
        files[f"seeknal/profiles/{family}.yml"] = f"kind: profile\nname: {family}\ninputs: [{{ref: transform.{family}}}]\n"
    project = write_project(tmp_path_factory.mktemp("profiles") / "project", files)
    before = datetime.now()
    result = materialize(project)
    after = datetime.now()
    assert result.success
    return project, rows, before, after


def quartiles(values: list[Any], integer: bool) -> list[str]:
    """Hazen quantiles; a column of integers keeps its type, rounding half to even (Python's round)."""
    found = np.quantile(values, [0.25, 0.5, 0.75], method="hazen")
    return [str(round(value)) if integer else repr(float(value)) for value in found]


def top_values(values: list[Any], limit: int = 5) -> list[dict[str, Any]] | None:
    present = [str(value).lower() if isinstance(value, bool) else str(value) for value in values if value is not None]
    counts = Counter(present).most_common(limit)  # equal counts: in the order first encountered
    return [
        {"value": value, "count": count, "percent": round(100 * count / len(present), 2)} for value, count in counts
    ] or None


def expected_statistics(rows: list[dict[str, Any]], columns: dict[str, str], now: datetime) -> dict[tuple[str, str], Any]:
    """Seeknal's statistics, computed in Python: (column, metric) → value (a str, or the parsed top values)."""
    expected: dict[tuple[str, str], Any] = {("_table_", "row_count"): str(len(rows))}
    for column, family in columns.items():
        values = [row[column] for row in rows]
        present = [value for value in values if value is not None]
        nulls = len(values) - len(present)
        expected[(column, "null_count")] = str(nulls)
        expected[(column, "null_percent")] = repr(100 * nulls / len(values) if values else 0.0)
        expected[(column, "distinct_count")] = str(len(set(present)))
        if family in ("int", "float"):
            integer = family == "int"
            expected[(column, "min")] = str(min(present)) if present else None
            expected[(column, "max")] = str(max(present)) if present else None
            expected[(column, "avg")] = repr(sum(present) / len(present)) if present else None
            expected[(column, "sum")] = repr(float(sum(present))) if present else None
            expected[(column, "stddev")] = repr(pystats.stdev(present)) if len(present) > 1 else None
            for metric, value in zip(("p25", "p50", "p75"), quartiles(present, integer) if present else [None] * 3):
                expected[(column, metric)] = value
        elif family in ("date", "timestamp"):
            latest = max(present) if present else None
            expected[(column, "min")] = str(min(present)) if present else None
            expected[(column, "max")] = str(latest) if present else None
            if latest is not None and not isinstance(latest, datetime):
                latest = datetime.combine(latest, datetime.min.time())
            expected[(column, "freshness_hours")] = (now - latest).total_seconds() / 3600 if latest else None
        else:
            expected[(column, "top_values")] = top_values(values)
    return expected


def same_statistic(found: Any, expected: Any) -> bool:
    """Exact, except that doubles may differ in their last bits (summation order); a rounded value never passes."""
    if isinstance(expected, str) and isinstance(found, str) and any(mark in expected for mark in ".e"):
        return float(found) == pytest.approx(float(expected), rel=1e-12, abs=1e-12)
    return found == expected


def as_found(project: Path, name: str) -> tuple[list[tuple[str, str]], dict[tuple[str, str], Any]]:
    """(the (column, metric) rows in order, their values with top values parsed from the JSON detail)."""
    rows = duckdb.sql(
        f"SELECT column_name, metric, value, detail FROM read_parquet('{project}/target/intermediate/profile_{name}.parquet')"
    ).fetchall()
    found = {}
    for column, metric, value, detail in rows:
        if metric == "top_values":
            assert value is None  # Seeknal keeps top values in the detail only
            found[(column, metric)] = json.loads(detail) if detail is not None else None
        else:
            found[(column, metric)] = value
    return [(column, metric) for column, metric, _, _ in rows], found


FAMILIES = {
    "all_columns": {
        "order_id": "int", "quantity": "int", "amount": "float", "channel": "text", "is_gift": "bool",
        "ordered_on": "date", "ordered_at": "timestamp", "note": "text",
    },
    "numbers": {"order_id": "int", "quantity": "int", "amount": "float"},
    "texts": {"channel": "text"},
    "times": {"ordered_on": "date", "ordered_at": "timestamp"},
    "flags": {"is_gift": "bool"},
    "nulls": {"note": "text", "no_amount": "float", "no_date": "date"},
    "empty": {"order_id": "int", "amount": "float", "channel": "text", "ordered_at": "timestamp"},
}


@pytest.mark.parametrize("profile", list(FAMILIES))
def test_a_profile_computes_seeknal_statistics_for_every_column_family(profiled, profile):
    project, rows, before, after = profiled
    columns = FAMILIES[profile]
    if profile == "nulls":
        rows = [{**row, "no_amount": None, "no_date": None} for row in rows]
    if profile == "empty":
        rows = []

    order, found = as_found(project, profile)
    expected = expected_statistics(rows, columns, before)

    freshness = {key: found.pop(key) for key in list(found) if key[1] == "freshness_hours"}
    decimal = {key: found.pop(key) for key in list(found) if key[0] == "amount_decimal"}
    assert found.keys() == {key for key in expected if key[1] != "freshness_hours"}
    for key, value in found.items():
        assert same_statistic(value, expected[key]), (key, value, expected[key])
    for key, hours in freshness.items():  # unrounded hours since the latest value, at the time the profile ran
        oldest, newest = expected[key], expected_statistics(rows, columns, after)[key]
        assert (hours is None) == (oldest is None)
        if hours is not None:
            assert oldest - 1e-6 <= float(hours) <= newest + 1e-6 and hours != f"{float(hours):.2f}"
    # Seeknal's row order: the row count, then each column's statistics, column by column.
    assert order[0] == ("_table_", "row_count")
    assert [column for column, _ in order[1:]] == sorted(
        (column for column, _ in order[1:]), key=[*columns, "amount_decimal"].index
    )
    if decimal:  # a DECIMAL column is numeric, printed with its scale
        amounts = [row["amount"] for row in rows if row["amount"] is not None]
        assert decimal[("amount_decimal", "max")] == f"{max(amounts):.2f}"
        assert float(decimal[("amount_decimal", "sum")]) == pytest.approx(sum(amounts))
        assert {"p25", "p50", "p75", "stddev"} <= {metric for _, metric in decimal}


def test_equally_frequent_top_values_come_in_the_order_first_seen(profiled):
    project, rows, _, _ = profiled
    _, found = as_found(project, "texts")
    top = found[("channel", "top_values")]

    first_seen = list(dict.fromkeys(row["channel"] for row in rows if row["channel"]))
    counts = Counter(row["channel"] for row in rows)
    assert top[0]["count"] == top[1]["count"]  # a tie at the top, and one cut off by max_top_values
    assert sum(count == top[-1]["count"] for count in counts.values()) > 1
    assert [item["value"] for item in top] == sorted(first_seen, key=lambda value: -counts[value])[:5]


def test_the_profile_metadata_shows_one_row_per_column(profiled):
    project, rows, _, _ = profiled
    result = run_node(project, "profile.texts")

    table = result.metadata["statistics"]
    [channel] = [dict(zip(table.columns, row)) for row in table.rows]
    expected = top_values([row["channel"] for row in rows])
    assert channel["top_values"] == ", ".join(f"{item['value']} ({item['count']})" for item in expected)
    assert result.metadata["profiled_rows"] == len(rows)


def test_profile_settings_filter_columns_and_limit_top_values(make_project):
    project = make_project(
        profile_files("profile:\n  columns: [channel, amount, not_there]\n  params: {max_top_values: 1}\n")
    )
    assert run_node(project, "source.orders").is_success()

    result = run_node(project, "profile.orders_profile")

    assert result.metadata["skipped_columns"] == "not_there"
    stats = statistics(project)
    assert {column for column, _ in stats} == {"_table_", "channel", "amount"}
    assert json.loads(stats[("channel", "top_values")][1]) == [{"value": "web", "count": 3, "percent": 75.0}]


def test_max_top_values_must_be_positive(make_project):
    project = make_project(profile_files("profile:\n  params: {max_top_values: 0}\n"))

    assert "max_top_values must be a positive integer (got 0)" in load_problem(project, "profile.orders_profile")


def profile_check(name: str, *checks: str) -> str:
    """A profile_check rule on the orders profile with the given ``{metric, column, warn, fail}`` entries."""
    entries = "".join(f"    - {check}\n" for check in checks)
    return (
        f"kind: rule\nname: {name}\ninputs: [{{ref: profile.orders_profile}}]\n"
        f"rule:\n  type: profile_check\n  checks:\n{entries}"
    )


def test_profile_check_rules_pass_warn_and_fail_on_the_statistics(make_project):
    project = make_project(
        {
            **profile_files(
                within_limits=profile_check(
                    "within_limits",
                    '{metric: row_count, fail: "< 1"}',
                    '{metric: null_percent, column: amount, warn: "> 50", fail: "> 80"}',
                    '{metric: avg, column: amount, warn: "> 1000"}',
                ),
                too_many_nulls=profile_check(
                    "too_many_nulls", '{metric: null_percent, column: customer, warn: "> 10", fail: "> 50"}'
                ),
                missing_statistic=profile_check(
                    "missing_statistic",
                    '{metric: avg, column: customer, warn: "> 0"}',
                    '{metric: row_count, fail: "between 0 and 3"}',
                ),
            ),
            "seeknal/exposures/profile_export.yml": """
                kind: exposure
                name: profile_export
                type: file
                inputs: [{ref: profile.orders_profile}]
                params: {path: exports/profile.csv}
            """,
        }
    )

    result = materialize(project)

    checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    assert checks["within_limits"].passed
    assert not checks["too_many_nulls"].passed
    assert checks["too_many_nulls"].severity == dagster.AssetCheckSeverity.WARN  # the warn threshold matched
    assert "customer.null_percent = 25" in checks["too_many_nulls"].metadata["error"].value
    missing = checks["missing_statistic"]
    assert not missing.passed and missing.severity == dagster.AssetCheckSeverity.ERROR
    assert "customer.avg = missing" in missing.metadata["error"].value
    assert "_table_.row_count = 4" not in missing.metadata["error"].value  # 4 is outside 0..3: that one passes
    assert "exposure/profile_export" not in materialized_keys(result)  # the failed blocking check held it back
    assert not result.success
