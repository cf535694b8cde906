"""The feature store's Python API: point-in-time correctness proven against a brute-force computation, and
lookups by entity key."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from seeknal_dagster.featurestore import get_historical_features, get_online_features
from seeknal_dagster.featurestore.retrieval import PointInTimeJoinError, point_in_time_join
from tests.support.projects import run_node


def _random_feature_history(seed: int) -> tuple[list[tuple], list[tuple]]:
    """Feature rows (customer, time, value) and label rows (customer, time) on a shared, coarse time grid."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    features = [
        (rng.randint(1, 20), start + timedelta(hours=rng.randint(0, 500)), rng.random()) for _ in range(400)
    ]
    labels = [(rng.randint(1, 22), start + timedelta(hours=rng.randint(-10, 520))) for _ in range(300)]
    return features, labels


def _expected_latest(features: list[tuple], customer: int, at: datetime) -> tuple[datetime | None, set[float]]:
    """The independent answer: scan every feature row; the newest time not after ``at`` and its value(s)."""
    times = [time for key, time, _ in features if key == customer and time <= at]
    if not times:
        return None, {None}
    newest = max(times)
    return newest, {value for key, time, value in features if key == customer and time == newest}


def test_point_in_time_join_never_returns_a_value_from_after_the_label():
    features, labels = _random_feature_history(seed=7)
    connection = duckdb.connect()
    connection.execute("CREATE TABLE features (customer_id INT, event_time TIMESTAMP, spend DOUBLE)")
    connection.executemany("INSERT INTO features VALUES (?, ?, ?)", features)
    connection.execute("CREATE TABLE labels (customer_id INT, label_time TIMESTAMP)")
    connection.executemany("INSERT INTO labels VALUES (?, ?)", labels)
    sql = point_in_time_join(
        connection, "labels", "(SELECT *, event_time AS feature_time FROM features)", ["customer_id"],
        "label_time", "event_time", ["spend", "feature_time"],
    )
    rows = connection.execute(sql).fetchall()

    assert len(rows) == len(labels)
    for customer, label_time, spend, feature_time in rows:
        assert feature_time is None or feature_time <= label_time
        expected_time, expected_values = _expected_latest(features, customer, label_time)
        assert (feature_time, spend in expected_values) == (expected_time, True)


def test_point_in_time_join_names_the_missing_column():
    connection = duckdb.connect()
    connection.execute("CREATE TABLE features (customer_id INT, event_time TIMESTAMP, spend DOUBLE)")
    connection.execute("CREATE TABLE labels (customer_id INT, label_time TIMESTAMP)")
    with pytest.raises(PointInTimeJoinError, match=r"features .* no column\(s\) \['refunds'\]"):
        point_in_time_join(connection, "labels", "features", ["customer_id"], "label_time", "event_time", ["refunds"])


def composite_key_project(make_project) -> Path:
    """Two feature groups of one entity keyed by (store_id, product_id), materialized."""
    project = make_project(
        {
            "data/stock.csv": (
                "store_id,product_id,counted_at,on_hand,price\n"
                "1,a,2025-01-01 08:00:00,5,2.5\n1,a,2025-01-03 08:00:00,3,2.75\n"
                "1,b,2025-01-02 08:00:00,9,1.0\n2,a,2025-01-02 08:00:00,0,2.5\n"
            ),
            "seeknal/sources/stock.yml": "kind: source\nname: stock\nsource: csv\ntable: data/stock.csv\n",
            "seeknal/feature_groups/stock_levels.yml": """
                kind: feature_group
                name: stock_levels
                entity: {name: store_product, join_keys: [store_id, product_id]}
                materialization: {event_time_col: counted_at, online: true}
                inputs: [{ref: source.stock}]
                transform: SELECT store_id, product_id, counted_at, on_hand FROM source
            """,
            "seeknal/feature_groups/prices.yml": """
                kind: feature_group
                name: prices
                entity: {name: store_product, join_keys: [store_id, product_id]}
                materialization: {event_time_col: counted_at}
                inputs: [{ref: source.stock}]
                transform: SELECT store_id, product_id, counted_at, price AS on_hand_price FROM source
            """,
        }
    )
    for node_id in ("source.stock", "feature_group.stock_levels", "feature_group.prices"):
        run_node(project, node_id)
    return project


def test_historical_features_join_several_groups_and_keep_the_callers_rows_and_order(make_project):
    project = composite_key_project(make_project)
    labels = pd.DataFrame(
        {
            "store_id": [1, 2, 1, 1, 1],
            "product_id": ["a", "a", "b", "a", "a"],
            "event_time": pd.to_datetime(
                ["2025-01-03 08:00:00", "2025-01-01 00:00:00", "2025-01-05 00:00:00", "2025-01-02 09:00:00", "2024-12-31 00:00:00"]
            ),
        }
    )
    training = get_historical_features(
        project, labels, ["stock_levels.on_hand", "prices.*"], full_feature_names=True
    )

    assert isinstance(training, pd.DataFrame)
    assert list(training.columns) == [
        "store_id", "product_id", "event_time", "stock_levels__on_hand", "prices__on_hand_price"
    ]
    assert training[["store_id", "product_id", "event_time"]].equals(labels)
    assert training["stock_levels__on_hand"].fillna(-1).tolist() == [3, -1, 9, 5, -1]
    assert training["prices__on_hand_price"].fillna(-1).tolist() == [2.75, -1, 1.0, 2.5, -1]


def test_historical_features_name_what_is_wrong(make_project):
    project = composite_key_project(make_project)
    labels = pa.table({"store_id": [1], "product_id": ["a"], "event_time": [datetime(2025, 1, 2)]})
    with pytest.raises(PointInTimeJoinError, match=r"stock_levels \(version 1\) has no feature\(s\) \['price'\]"):
        get_historical_features(project, labels, ["stock_levels.price"])
    with pytest.raises(KeyError, match="no feature group 'stock'"):
        get_historical_features(project, labels, ["stock.on_hand"])
    with pytest.raises(ValueError, match="'on_hand' does not name a feature"):
        get_historical_features(project, labels, ["on_hand"])
    with pytest.raises(PointInTimeJoinError, match=r"labels .* no column\(s\) \['label_time'\]"):
        get_historical_features(project, labels, ["prices.*"], timestamp_col="label_time")


def test_online_features_by_composite_key(make_project):
    project = composite_key_project(make_project)
    rows = get_online_features(
        project, "stock_levels", [{"store_id": 1, "product_id": "a"}, {"product_id": "b", "store_id": 1}]
    )
    assert [(row["counted_at"], row["on_hand"]) for row in rows] == [
        (datetime(2025, 1, 3, 8), 3),
        (datetime(2025, 1, 2, 8), 9),
    ]
    with pytest.raises(ValueError, match=r"lacks join key\(s\) \['product_id'\]"):
        get_online_features(project, "stock_levels", [{"store_id": 1}])
    with pytest.raises(ValueError, match="pass keys as mappings"):
        get_online_features(project, "stock_levels", [1])
    with pytest.raises(LookupError, match="prices has no online store"):
        get_online_features(project, "prices", [{"store_id": 1, "product_id": "a"}])
