"""Aggregations: per-customer order features at each application date, checked against plain pandas.

Seeknal's own rolling and ratio windows always fail; here they must come out right, named as Seeknal names them,
and land in target/intermediate so downstream nodes read them.
"""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from seeknal_dagster.executors import ExecutorError
from tests.support.projects import (
    load_problem,
    materialization_metadata,
    materialize,
    materialized_keys,
    replace_in_file,
    run_node,
)

APPLICATION_DATES = [date(2025, 3, 31), date(2025, 4, 30)]

AGGREGATION_YML = """
    kind: aggregation
    name: order_activity
    source: source.orders
    id_col: customer_id
    feature_date_col: order_date
    application_date_col: application_date
    features:
      - name: amount
        basic: [count, sum, mean]
        rolling:
          - window: [7, 30]
            aggs: [sum, count]
        ratio:
          - numerator: [7]
            denominator: [30]
            aggs: [sum]
      - name: returned_amount
        column: amount
        since:
          - condition: is_return
            aggs: [count, sum]
"""


def orders_csv(seed: int = 7) -> str:
    """Orders of four customers in Jan–Apr 2025, each seen from both application dates (some lie after one)."""
    rng = random.Random(seed)
    lines = ["customer_id,application_date,order_date,amount,is_return"]
    for customer in range(1, 5):
        for _ in range(25):
            ordered = date(2025, 1, 1) + timedelta(days=rng.randrange(120))
            amount = round(rng.uniform(5, 200), 2)
            is_return = str(rng.random() < 0.2).lower()
            for application_date in APPLICATION_DATES:
                lines.append(f"{customer},{application_date},{ordered},{amount},{is_return}")
    return "\n".join(lines) + "\n"


def expected_features(orders: pd.DataFrame) -> pd.DataFrame:
    """The same features, computed row by row in pandas."""
    rows = []
    for (customer, application_date), group in orders.groupby(["customer_id", "application_date"]):
        days = (group["application_date"] - group["order_date"]).dt.days

        def window(length: int) -> pd.Series:
            return group["amount"][(days >= 0) & (days < length)]

        sum_30 = window(30).sum()
        returned = group["amount"][group["is_return"]]
        rows.append(
            {
                "customer_id": customer,
                "application_date": application_date,
                "amount_count": len(group),
                "amount_sum": group["amount"].sum(),
                "amount_avg": group["amount"].mean(),
                "amount_sum_7d": window(7).sum(),
                "amount_count_7d": len(window(7)),
                "amount_sum_30d": sum_30,
                "amount_count_30d": len(window(30)),
                "amount_sum_ratio_7d_30d": window(7).sum() / sum_30 if sum_30 else None,
                "returned_amount_count_if": len(returned),
                "returned_amount_sum_if": returned.sum(),
            }
        )
    return pd.DataFrame(rows)


def read_orders(project) -> pd.DataFrame:
    orders = pd.read_csv(project / "data/orders.csv", parse_dates=["application_date", "order_date"])
    orders["is_return"] = orders["is_return"].astype(bool)
    return orders


@pytest.fixture
def orders_project(make_project):
    return make_project(
        {
            "data/orders.csv": orders_csv(),
            "seeknal/sources/orders.yml": """
                kind: source
                name: orders
                source: csv
                table: data/orders.csv
            """,
            "seeknal/aggregations/order_activity.yml": AGGREGATION_YML,
            "seeknal/transforms/big_spenders.yml": """
                kind: transform
                name: big_spenders
                inputs: [{ref: aggregation.order_activity}]
                transform: |
                  SELECT customer_id, application_date, amount_sum_30d
                  FROM ref('aggregation.order_activity')
                  WHERE amount_sum_30d > 100
            """,
        }
    )


def read_output(project, node: str) -> pd.DataFrame:
    return pd.read_parquet(project / f"target/intermediate/{node}.parquet")


def assert_same_features(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    actual = actual.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    for column in expected.columns:
        if column in keys:
            assert list(pd.to_datetime(actual[column]) if "date" in column else actual[column]) == list(expected[column])
            continue
        pd.testing.assert_series_equal(
            actual[column].astype("float64"), expected[column].astype("float64"), check_names=False, rtol=1e-9
        )


def test_rolling_ratio_and_since_features_match_pandas(orders_project):
    result = materialize(orders_project)
    assert result.success
    assert materialized_keys(result) == {"source/orders", "aggregation/order_activity", "transform/big_spenders"}

    output = read_output(orders_project, "aggregation_order_activity")
    expected = expected_features(read_orders(orders_project))
    assert list(output.columns) == list(expected.columns)  # Seeknal's names, grain first
    assert_same_features(output, expected, ["customer_id", "application_date"])

    metadata = materialization_metadata(result, "aggregation/order_activity")
    assert metadata["dagster/row_count"] == 8  # 4 customers x 2 application dates
    downstream = read_output(orders_project, "transform_big_spenders")
    assert len(downstream) == int((expected["amount_sum_30d"] > 100).sum())


def column_types(path) -> dict[str, str]:
    return {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}


def test_the_result_is_also_where_seeknal_leaves_it_with_seeknals_types(orders_project):
    """A user switching from ``seeknal run`` finds ``target/aggregation/<name>/result.parquet``, typed as Seeknal
    types it (its results pass through pandas: the DATE application date is a TIMESTAMP there)."""
    assert materialize(orders_project).success

    result = orders_project / "target/aggregation/order_activity/result.parquet"
    types = column_types(result)
    assert types["application_date"] == "TIMESTAMP" and types["customer_id"] == "BIGINT"
    assert types["amount_count"] == "BIGINT" and types["amount_sum"] == "DOUBLE"
    assert column_types(orders_project / "target/intermediate/aggregation_order_activity.parquet")["application_date"] == "DATE"
    assert_same_features(pd.read_parquet(result), expected_features(read_orders(orders_project)), ["customer_id", "application_date"])

    # A failing run leaves the previous result in place, whole.
    before = result.read_bytes()
    replace_in_file(orders_project / "data/orders.csv", "customer_id,", "client_id,")
    assert not materialize(orders_project).success
    assert result.read_bytes() == before and not list(result.parent.glob(".*tmp*"))


def test_seed_dialect_windows_count_back_from_the_latest_date(make_project):
    """The seed form: ``aggregations: [{column, function, window: 30d, group_by}]``."""
    project = make_project(
        {
            "data/orders.csv": orders_csv(seed=11),
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
            "seeknal/aggregations/customer_metrics.yml": """
                kind: aggregation
                name: customer_metrics
                inputs: [{ref: source.orders}]
                feature_date_col: order_date
                aggregations:
                  - column: amount
                    function: sum
                    window: 30d
                    group_by: [customer_id]
                  - column: amount
                    function: avg
                  - column: amount
                    function: max
                    window: 1w
                    name: biggest_order_last_week
            """,
        }
    )
    assert materialize(project).success

    orders = read_orders(project)
    latest = orders["order_date"].max()
    days = (latest - orders["order_date"]).dt.days
    grouped = orders.assign(days=days).groupby("customer_id")
    expected = pd.DataFrame(
        {
            "amount_sum_30d": grouped.apply(lambda g: g["amount"][(g["days"] >= 0) & (g["days"] < 30)].sum()),
            "amount_avg": grouped["amount"].mean(),
            "biggest_order_last_week": grouped.apply(lambda g: g["amount"][(g["days"] >= 0) & (g["days"] < 7)].max()),
        }
    ).reset_index()
    assert_same_features(read_output(project, "aggregation_customer_metrics"), expected, ["customer_id"])


def test_a_missing_column_names_the_node_and_the_column(orders_project):
    replace_in_file(orders_project / "seeknal/aggregations/order_activity.yml", "column: amount", "column: refund_amount")
    run_node(orders_project, "source.orders")
    with pytest.raises(ExecutorError) as raised:
        run_node(orders_project, "aggregation.order_activity")
    assert raised.value.node_id == "aggregation.order_activity"
    assert "'refund_amount'" in raised.value.message and "feature 'returned_amount'" in raised.value.message
    assert not (orders_project / "target/intermediate/aggregation_order_activity.parquet").exists()


@pytest.mark.parametrize(
    ("written", "broken", "message"),
    [
        ("window: [7, 30]", "window: [7, weekly]", "window 'weekly' is not a number of days"),
        ("aggs: [sum, count]", "aggs: [sum, median]", "unknown aggregate 'median'"),
        ("application_date_col: application_date\n", "", "missing 'application_date_col'"),
    ],
)
def test_invalid_definitions_fail_before_running(orders_project, written, broken, message):
    replace_in_file(orders_project / "seeknal/aggregations/order_activity.yml", written, broken)
    assert re.search(message, load_problem(orders_project, "aggregation.order_activity"))


def test_a_partition_replaces_only_its_application_dates(orders_project):
    run_node(orders_project, "source.orders")
    run_node(orders_project, "aggregation.order_activity")
    before = read_output(orders_project, "aggregation_order_activity")

    orders = orders_project / "data/orders.csv"
    header, *rows = orders.read_text().splitlines()
    doubled = [",".join([*row.split(",")[:3], str(float(row.split(",")[3]) * 2), row.split(",")[4]]) for row in rows]
    orders.write_text("\n".join([header, *doubled]) + "\n")
    run_node(orders_project, "source.orders")
    april = (datetime(2025, 4, 30), datetime(2025, 5, 1))
    result = run_node(orders_project, "aggregation.order_activity", partition_time_window=april)

    after = read_output(orders_project, "aggregation_order_activity")
    assert result.row_count == len(after) == len(before)
    in_april = pd.to_datetime(after["application_date"]) == "2025-04-30"
    kept = before[pd.to_datetime(before["application_date"]) != "2025-04-30"].reset_index(drop=True)
    pd.testing.assert_frame_equal(after[~in_april].reset_index(drop=True), kept)
    redone = after[in_april].set_index("customer_id")["amount_sum"]
    previous = before[pd.to_datetime(before["application_date"]) == "2025-04-30"].set_index("customer_id")["amount_sum"]
    pd.testing.assert_series_equal(redone, previous * 2, rtol=1e-9)
    assert "2025-04-30" in result.metadata["replaced_window"]
