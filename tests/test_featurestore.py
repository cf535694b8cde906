"""The feature store's retrieval: point-in-time correctness proven against a brute-force computation."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import duckdb
import pytest

from seeknal_dagster.featurestore.retrieval import PointInTimeJoinError, point_in_time_join


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
