"""Profile nodes: Seeknal's long-format statistics as an asset, and profile_check rules reading them."""

from __future__ import annotations

import json

import dagster
import duckdb
import pytest

from tests.support.projects import (
    load_problem,
    materialization_metadata,
    materialize,
    materialized_keys,
    run_node,
    table_rows,
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


def test_a_profile_writes_seeknal_statistics_per_column_type(make_project):
    project = make_project(profile_files())

    result = materialize(project)

    assert result.success
    assert materialized_keys(result) == {"source/orders", "profile/orders_profile"}
    schema = duckdb.sql(
        f"DESCRIBE SELECT * FROM read_parquet('{project}/target/intermediate/profile_orders_profile.parquet')"
    ).fetchall()
    assert [(name, kind) for name, kind, *_ in schema] == [
        ("column_name", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("value", "VARCHAR"),
        ("detail", "VARCHAR"),
    ]
    stats = statistics(project)
    assert stats[("_table_", "row_count")][0] == "4"
    assert stats[("amount", "null_count")][0] == "1"
    assert float(stats[("amount", "null_percent")][0]) == pytest.approx(25.0)
    assert float(stats[("amount", "sum")][0]) == pytest.approx(60.0)
    assert float(stats[("amount", "p50")][0]) == pytest.approx(20.0)
    assert {"min", "max", "avg", "stddev", "p25", "p75", "distinct_count"} <= {
        metric for column, metric in stats if column == "amount"
    }
    assert stats[("ordered_at", "max")][0].startswith("2025-12-04 13:00:00")
    assert ("ordered_on", "freshness_hours") in stats
    assert ("ordered_at", "avg") not in stats
    value, detail = stats[("customer", "top_values")]
    assert value == "ann"
    assert json.loads(detail)[0] == {"value": "ann", "count": 2}
    assert ("is_gift", "top_values") in stats
    assert ("customer", "avg") not in stats

    metadata = materialization_metadata(result, "profile/orders_profile")
    assert metadata["dagster/row_count"] == len(stats)
    assert metadata["seeknal/profiled_rows"] == 4
    amount = next(row for row in table_rows(metadata["seeknal/statistics"]) if row["column"] == "amount")
    assert amount["null_count"] == "1" and float(amount["null_percent"]) == pytest.approx(25.0)


def test_profile_settings_filter_columns_and_limit_top_values(make_project):
    project = make_project(
        profile_files("profile:\n  columns: [channel, amount, not_there]\n  params: {max_top_values: 1}\n")
    )
    assert run_node(project, "source.orders").is_success()

    result = run_node(project, "profile.orders_profile")

    assert result.metadata["skipped_columns"] == "not_there"
    stats = statistics(project)
    assert {column for column, _ in stats} == {"_table_", "channel", "amount"}
    assert json.loads(stats[("channel", "top_values")][1]) == [{"value": "web", "count": 3}]


def test_one_row_and_empty_inputs_still_profile(make_project):
    project = make_project(
        {
            **profile_files(),
            "seeknal/transforms/one_order.yml": """
                kind: transform
                name: one_order
                inputs: [{ref: source.orders}]
                transform: SELECT * FROM ref('source.orders') WHERE order_id = 1
            """,
            "seeknal/transforms/no_orders.yml": """
                kind: transform
                name: no_orders
                inputs: [{ref: source.orders}]
                transform: SELECT * FROM ref('source.orders') WHERE false
            """,
            "seeknal/profiles/one.yml": "kind: profile\nname: one\ninputs: [{ref: transform.one_order}]\n",
            "seeknal/profiles/none.yml": "kind: profile\nname: none\ninputs: [{ref: transform.no_orders}]\n",
        }
    )

    assert materialize(project).success

    assert statistics(project, "one")[("amount", "stddev")][0] is None
    empty = statistics(project, "none")
    assert empty[("_table_", "row_count")][0] == "0"
    assert float(empty[("amount", "null_percent")][0]) == 0


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
