"""Feature groups: raw events become features, checked against the same features computed in plain Python.

Seeknal's own feature group fails without Spark installed and never writes an online store; here the offline
versions, the entity table, the online store and point-in-time retrieval must all hold the right values.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster
import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from seeknal_dagster.featurestore import get_historical_features, get_online_features, offline_version
from seeknal_dagster.project.loader import load_project
from tests.support.projects import failure_messages, load_problem, materialization_metadata, materialize, run_node

START = datetime(2025, 1, 1)
SAMPLE_PROJECT = Path(__file__).resolve().parents[1] / "seeknal_project"

SOURCE_YML = """
    kind: source
    name: events
    source: csv
    table: data/events.csv
"""

#: Seeknal's dialect: entity by name (join key customer_id), event time under materialization, a features map.
PURCHASES_YML = """
    kind: feature_group
    name: purchases
    entity: customer
    inputs: [{ref: source.events}]
    materialization:
      event_time_col: event_ts
      offline: true
      online: true
    transform: |
      SELECT customer_id, event_ts,
             count(*) OVER to_date AS purchases_to_date,
             round(sum(amount) OVER to_date, 2) AS spend_to_date
      FROM source
      WHERE event_type = 'purchase'
      WINDOW to_date AS (PARTITION BY customer_id ORDER BY event_ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    features:
      purchases_to_date: {dtype: int, description: Purchases so far}
      spend_to_date: {dtype: float}
"""


def random_events(seed: int, customers: int = 6, count: int = 120) -> list[tuple[int, int, datetime, str, float]]:
    """(event_id, customer, time, type, amount); times are distinct, so "the latest event" is never a tie."""
    rng = random.Random(seed)
    seconds = rng.sample(range(0, 60 * 24 * 3600, 60), count)
    return [
        (number, rng.randint(1, customers), START + timedelta(seconds=second), rng.choice(["purchase", "view"]),
         round(rng.uniform(1, 100), 2))
        for number, second in enumerate(seconds, start=1)
    ]


def events_csv(events: list[tuple[int, int, datetime, str, float]]) -> str:
    lines = ["event_id,customer_id,event_ts,event_type,amount"]
    lines += [f"{event_id},{customer},{time:%Y-%m-%d %H:%M:%S},{kind},{amount}" for event_id, customer, time, kind, amount in events]
    return "\n".join(lines) + "\n"


def expected_purchase_features(events: list[tuple[int, int, datetime, str, float]]) -> dict[tuple[int, datetime], tuple[int, float]]:
    """The independent computation: (customer, time) → (purchases so far, spend so far), by walking each
    customer's purchases in time order."""
    features: dict[tuple[int, datetime], tuple[int, float]] = {}
    totals: dict[int, tuple[int, float]] = {}
    for _, customer, time, kind, amount in sorted(events, key=lambda event: event[2]):
        if kind == "purchase":
            count, spend = totals.get(customer, (0, 0.0))
            totals[customer] = (count + 1, spend + amount)
            features[(customer, time)] = (count + 1, round(spend + amount, 2))
    return features


def latest_at_or_before(features: dict[tuple[int, datetime], tuple[int, float]], customer: int, at: datetime):
    times = [time for key, time in features if key == customer and time <= at]
    return features[(customer, max(times))] if times else (None, None)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def read_rows(path: Path, sql: str = "SELECT * FROM data") -> list[tuple]:
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW data AS SELECT * FROM read_parquet('{path}')")
    return connection.execute(sql).fetchall()


def column_names(path: Path) -> list[str]:
    return [column[0] for column in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]


@pytest.fixture
def purchases_project(make_project):
    events = random_events(seed=11)
    project = make_project(
        {
            "data/events.csv": events_csv(events),
            "seeknal/sources/events.yml": SOURCE_YML,
            "seeknal/feature_groups/purchases.yml": PURCHASES_YML,
        }
    )
    return project, events


def test_raw_events_become_features_that_match_an_independent_computation(purchases_project):
    project, events = purchases_project
    expected = expected_purchase_features(events)

    result = materialize(project)

    assert result.success
    metadata = materialization_metadata(result, "feature_group/purchases")
    offline = project / "target/feature_store/customer/purchases/v1/data.parquet"
    assert metadata["seeknal/version"] == 1
    assert metadata["seeknal/entity"] == "customer"
    assert metadata["seeknal/join_keys"] == ["customer_id"]
    assert metadata["seeknal/offline_path"] == str(offline)
    assert metadata["dagster/row_count"] == len(expected)
    stored = read_rows(offline, "SELECT customer_id, event_ts, purchases_to_date, spend_to_date FROM data")
    assert {(customer, time): (count, spend) for customer, time, count, spend in stored} == expected
    assert read_rows(project / "target/intermediate/feature_group_purchases.parquet") == read_rows(offline)
    version_metadata = json.loads((offline.parent / "_metadata.json").read_text())
    assert version_metadata["features"] == [
        {"name": "purchases_to_date", "type": "BIGINT"},
        {"name": "spend_to_date", "type": "DOUBLE"},
    ]
    assert (version_metadata["entity"], version_metadata["join_keys"], version_metadata["event_time_col"]) == (
        "customer", ["customer_id"], "event_ts"
    )

    customers = sorted({customer for customer, _ in expected})
    online = get_online_features(project, "purchases", [*customers, 999])
    for customer, row in zip(customers, online):
        newest = max(time for key, time in expected if key == customer)
        assert (row["customer_id"], row["event_ts"]) == (customer, newest)
        assert (row["purchases_to_date"], row["spend_to_date"]) == expected[(customer, newest)]
    assert online[-1] == {"customer_id": 999, "event_ts": None, "purchases_to_date": None, "spend_to_date": None}

    rng = random.Random(3)
    label_times = [START + timedelta(minutes=rng.randrange(-600, 62 * 24 * 60)) for _ in range(200)]
    label_customers = [rng.randint(1, 7) for _ in label_times]
    labels = pa.table({"customer_id": label_customers, "label_time": label_times, "row": list(range(200))})
    training = get_historical_features(project, labels, ["purchases.*"], timestamp_col="label_time").to_pylist()
    assert [row["row"] for row in training] == list(range(200))
    for row in training:
        assert (row["purchases_to_date"], row["spend_to_date"]) == latest_at_or_before(
            expected, row["customer_id"], row["label_time"]
        )


def test_seed_dialect_without_event_time_is_a_snapshot_stamped_at_materialization(make_project):
    project = make_project(
        {
            "data/events.csv": events_csv(random_events(seed=5)),
            "seeknal/sources/events.yml": SOURCE_YML,
            "seeknal/feature_groups/customer_totals.yml": """
                kind: feature_group
                name: customer_totals
                entity: customer
                join_keys: [customer_id]
                features:
                  - name: total_events
                    dtype: int
                  - name: lifetime_value
                    dtype: float
                materialization:
                  offline: {enabled: true, format: parquet}
                  online: {enabled: false}
                inputs: [{ref: source.events}]
                transform: |
                  SELECT customer_id, count(*) AS total_events, sum(amount) AS lifetime_value, 'x' AS ignored
                  FROM input_0 GROUP BY customer_id
            """,
        }
    )
    before = utc_now()
    run_node(project, "source.events")
    result = run_node(project, "feature_group.customer_totals")

    assert result.metadata["event_time_col"] == "event_time"
    output = project / "target/intermediate/feature_group_customer_totals.parquet"
    stored = project / "target/feature_store/customer/customer_totals/v1/data.parquet"
    # The output passes every column through, stamped; the store keeps keys, time and the declared features.
    assert column_names(output) == ["customer_id", "total_events", "lifetime_value", "ignored", "event_time"]
    assert column_names(stored) == ["customer_id", "event_time", "total_events", "lifetime_value"]
    stamps = [stamp for (stamp,) in read_rows(output, "SELECT event_time FROM data")]
    assert all(before - timedelta(seconds=1) <= stamp <= utc_now() for stamp in stamps)
    assert "online_store" not in result.metadata
    assert not (project / "target/feature_store/online.db").exists()


def test_a_group_declaring_no_event_time_takes_the_datas_event_time_column_as_seeknal_does(make_project):
    project = make_project(
        {
            "data/scores.csv": "customer_id,event_time,score\n1,2025-01-01 10:00:00,10\n1,2025-01-05 09:30:00,12\n2,2025-01-03 08:00:00,20\n",
            "seeknal/sources/scores.yml": "kind: source\nname: scores\nsource: csv\ntable: data/scores.csv\n",
            "seeknal/feature_groups/scores.yml": (
                "kind: feature_group\nname: scores\nentity: customer\ninputs: [{ref: source.scores}]\n"
                "materialization: {online: true}\n"
            ),
        }
    )
    run_node(project, "source.scores")
    result = run_node(project, "feature_group.scores")

    assert result.metadata["event_time_col"] == "event_time"
    sql = "SELECT customer_id, CAST(event_time AS VARCHAR), score FROM data ORDER BY ALL"
    expected = [(1, "2025-01-01 10:00:00", 10), (1, "2025-01-05 09:30:00", 12), (2, "2025-01-03 08:00:00", 20)]
    assert read_rows(project / "target/feature_store/customer/scores/v1/data.parquet", sql) == expected
    assert read_rows(project / "target/intermediate/feature_group_scores.parquet", sql) == expected
    [latest] = get_online_features(project, "scores", [1])
    assert (latest["event_time"], latest["score"]) == (datetime(2025, 1, 5, 9, 30), 12)


@pytest.mark.parametrize("reads", ["FROM source", "FROM input_0", "FROM __THIS__", "FROM ref('source.events')"])
def test_the_transform_reads_its_first_input_under_every_alias(make_project, reads):
    project = make_project(
        {
            "data/events.csv": events_csv(random_events(seed=2)),
            "seeknal/sources/events.yml": SOURCE_YML,
            "seeknal/feature_groups/views.yml": f"""
                kind: feature_group
                name: views
                entity: {{name: customer, join_keys: [customer_id]}}
                materialization: {{event_time_col: event_ts}}
                inputs: [{{ref: source.events}}]
                transform: SELECT customer_id, event_ts, amount {reads} WHERE event_type = 'view'
            """,
        }
    )
    run_node(project, "source.events")
    result = run_node(project, "feature_group.views")
    expected = read_rows(
        project / "target/intermediate/source_events.parquet",
        "SELECT count(*) FROM data WHERE event_type = 'view'",
    )[0][0]
    assert result.row_count == expected > 0


@pytest.mark.parametrize(
    "features, message",
    [
        ("{purchases_to_date: {dtype: int}, refunds: {dtype: float}}", "feature 'refunds' is declared but not in the data"),
        ("{spend_to_date: {dtype: string}}", "feature 'spend_to_date' is declared string but the data has DOUBLE"),
    ],
)
def test_a_declared_feature_missing_or_of_the_wrong_type_fails_naming_node_and_feature(make_project, features, message):
    project = make_project(
        {
            "data/events.csv": events_csv(random_events(seed=1)),
            "seeknal/sources/events.yml": SOURCE_YML,
            "seeknal/feature_groups/purchases.yml": PURCHASES_YML.split("    features:")[0] + f"    features: {features}\n",
        }
    )
    result = materialize(project)

    assert not result.success
    messages = failure_messages(result)
    assert "feature_group.purchases" in messages and message in messages
    assert not (project / "target/intermediate/feature_group_purchases.parquet").exists()
    assert not (project / "target/feature_store/customer/purchases").exists()


def test_a_changed_definition_starts_a_new_version_and_the_old_one_stays_readable(purchases_project):
    project, events = purchases_project
    run_node(project, "source.events")
    first = run_node(project, "feature_group.purchases")
    again = run_node(project, "feature_group.purchases")
    assert (first.metadata["version"], again.metadata["version"], again.metadata["new_version"]) == (1, 1, False)

    definition = project / "seeknal/feature_groups/purchases.yml"
    definition.write_text(definition.read_text().replace("  spend_to_date: {dtype: float}\n", ""))
    changed = run_node(project, "feature_group.purchases")

    assert (changed.metadata["version"], changed.metadata["new_version"]) == (2, True)
    loaded = load_project(project)
    assert offline_version(loaded, "purchases").version == 2
    old = offline_version(loaded, "purchases", 1)
    assert "spend_to_date" in old.feature_names and old.data_path.is_file()
    assert offline_version(loaded, "purchases").feature_names == ["purchases_to_date"]
    labels = pa.table({"customer_id": [1], "event_time": [START + timedelta(days=90)]})
    pinned = get_historical_features(loaded, labels, ["purchases.spend_to_date"], versions={"purchases": 1})
    assert pinned.column("spend_to_date").to_pylist()[0] is not None
    with pytest.raises(LookupError, match=r"no version 7 \(versions: \[1, 2\]\)"):
        offline_version(loaded, "purchases", 7)


def snapshot_project(
    make_project, mode: str, extra: str = "", materialization: str = "{event_time_col: scored_at}"
) -> Path:
    return make_project(
        {
            "data/scores.csv": "customer_id,scored_at,score\n1,2025-01-01,10\n2,2025-01-01,20\n",
            "seeknal/sources/scores.yml": "kind: source\nname: scores\nsource: csv\ntable: data/scores.csv\n",
            "seeknal/feature_groups/scores.yml": f"""
                kind: feature_group
                name: scores
                entity: customer
                mode: {mode}
                materialization: {materialization}
                inputs: [{{ref: source.scores}}]
                features: {{score: {{dtype: float}}}}
                {extra}
            """,
        },
        name=f"{mode}_project",
    )


def run_with_scores(project: Path, csv_rows: str) -> list[tuple]:
    (project / "data/scores.csv").write_text("customer_id,scored_at,score\n" + csv_rows)
    run_node(project, "source.scores")
    run_node(project, "feature_group.scores")
    return read_rows(
        project / "target/feature_store/customer/scores/v1/data.parquet",
        "SELECT customer_id, CAST(scored_at AS VARCHAR), score FROM data ORDER BY ALL",
    )


def test_append_adds_rows_and_replaces_a_row_with_the_same_key_and_time(make_project):
    project = snapshot_project(make_project, "append")
    run_with_scores(project, "1,2025-01-01,10\n2,2025-01-01,20\n")
    stored = run_with_scores(project, "1,2025-01-01,11\n1,2025-01-02,12\n")
    assert stored == [(1, "2025-01-01", 11.0), (1, "2025-01-02", 12.0), (2, "2025-01-01", 20.0)]
    output = read_rows(
        project / "target/intermediate/feature_group_scores.parquet",
        "SELECT customer_id, strftime(scored_at, '%Y-%m-%d'), score FROM data ORDER BY ALL",
    )
    assert output == [(1, "2025-01-01", 11), (1, "2025-01-02", 12), (2, "2025-01-01", 20)]  # the output appends too


def test_overwrite_replaces_the_version_rows(make_project):
    project = snapshot_project(make_project, "overwrite")
    run_with_scores(project, "1,2025-01-01,10\n2,2025-01-01,20\n")
    assert run_with_scores(project, "1,2025-01-02,12\n") == [(1, "2025-01-02", 12.0)]


def test_feature_start_and_end_time_bound_the_event_time(make_project):
    project = snapshot_project(
        make_project, "overwrite", extra="feature_start_time: '2025-01-02'\n                feature_end_time: '2025-01-03'"
    )
    stored = run_with_scores(project, "1,2025-01-01,1\n1,2025-01-02,2\n1,2025-01-03,3\n1,2025-01-04,4\n")
    assert stored == [(1, "2025-01-02", 2.0), (1, "2025-01-03", 3.0)]


def test_a_partition_window_recomputes_and_replaces_only_its_rows(make_project):
    project = snapshot_project(make_project, "overwrite", extra="")
    full = run_with_scores(project, "1,2025-01-01,1\n1,2025-01-02,2\n1,2025-01-03,3\n")
    assert len(full) == 3

    (project / "data/scores.csv").write_text(
        "customer_id,scored_at,score\n1,2025-01-01,100\n1,2025-01-02,200\n2,2025-01-02,250\n1,2025-01-03,300\n"
    )
    run_node(project, "source.scores")
    window = (datetime(2025, 1, 2), datetime(2025, 1, 3))
    result = run_node(project, "feature_group.scores", partition_time_window=window)

    assert result.metadata["rows_written"] == 2
    expected = [(1, "2025-01-01", 1.0), (1, "2025-01-02", 200.0), (1, "2025-01-03", 3.0), (2, "2025-01-02", 250.0)]
    sql = "SELECT customer_id, CAST(scored_at AS VARCHAR), score FROM data ORDER BY ALL"
    assert read_rows(project / "target/feature_store/customer/scores/v1/data.parquet", sql) == expected
    # The output has Seeknal's types: the CSV's DATE as a TIMESTAMP, the score as read (not cast to its dtype).
    output_sql = "SELECT customer_id, strftime(scored_at, '%Y-%m-%d'), CAST(score AS DOUBLE) FROM data ORDER BY ALL"
    assert read_rows(project / "target/intermediate/feature_group_scores.parquet", output_sql) == expected


def test_every_group_of_an_entity_becomes_a_struct_column_of_the_entity_table(purchases_project):
    project, events = purchases_project
    (project / "seeknal/feature_groups/views.yml").write_text(
        "kind: feature_group\nname: views\nentity: customer\n"
        "materialization: {event_time_col: event_ts}\ninputs: [{ref: source.events}]\n"
        "transform: SELECT customer_id, event_ts, amount AS viewed_amount FROM source WHERE event_type = 'view'\n"
    )
    run_node(project, "source.events")
    run_node(project, "feature_group.purchases")
    run_node(project, "feature_group.views")

    table = project / "target/feature_store/customer/features.parquet"
    schema = {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM '{table}'").fetchall()}
    assert list(schema) == ["customer_id", "event_time", "purchases", "views"]
    assert schema["purchases"] == "STRUCT(purchases_to_date BIGINT, spend_to_date DOUBLE)"
    assert schema["views"] == "STRUCT(viewed_amount DOUBLE)"
    rows = read_rows(table, "SELECT customer_id, event_time, purchases.purchases_to_date, views.viewed_amount FROM data")
    assert len(rows) == len(events)
    by_key = {(customer, time): (purchases, viewed) for customer, time, purchases, viewed in rows}
    expected = expected_purchase_features(events)
    for _, customer, time, kind, amount in events:
        purchases, viewed = by_key[(customer, time)]
        assert (purchases, viewed) == ((expected[(customer, time)][0], None) if kind == "purchase" else (None, amount))
    catalog = json.loads((table.parent / "_entity_catalog.json").read_text())
    assert sorted(catalog["feature_groups"]) == ["purchases", "views"]


def test_groups_of_one_entity_must_share_its_join_keys(purchases_project):
    project, _ = purchases_project
    (project / "seeknal/feature_groups/other.yml").write_text(
        "kind: feature_group\nname: other\nentity: {name: customer, join_keys: [email]}\ninputs: [{ref: source.events}]\n"
    )
    assert "entity: entity 'customer' has join keys ['customer_id'] here but ['email'] in feature_group.other" in (
        load_problem(project, "feature_group.purchases")
    )


def test_online_store_in_postgresql_is_replaced_on_every_run(make_project, postgres_server):
    import psycopg

    postgres_server.create_database("online_features")
    events = random_events(seed=9)
    project = make_project(
        {
            "profiles.yml": f"""
                connections:
                  serving:
                    type: postgresql
                    host: {postgres_server.host}
                    port: {postgres_server.port}
                    user: {postgres_server.user}
                    database: online_features
                    schema: features
            """,
            "data/events.csv": events_csv(events),
            "seeknal/sources/events.yml": SOURCE_YML,
            "seeknal/feature_groups/purchases.yml": PURCHASES_YML.replace(
                "online: true", "online: {type: postgresql, connection: serving}"
            ),
        }
    )
    for run in range(2):
        result = materialize(project)
        assert result.success, failure_messages(result)
        if run == 0:
            events = [event for event in events if event[1] != 1]
            (project / "data/events.csv").write_text(events_csv(events))
            # The serving team grants its role access, indexes and documents the table once.
            with psycopg.connect(postgres_server.dsn("online_features"), autocommit=True) as connection:
                connection.execute(
                    "DROP ROLE IF EXISTS feature_server; CREATE ROLE feature_server;"
                    "GRANT USAGE ON SCHEMA features TO feature_server;"
                    "GRANT SELECT ON features.purchases TO feature_server;"
                    "CREATE INDEX purchases_by_spend ON features.purchases (spend_to_date);"
                    "COMMENT ON TABLE features.purchases IS 'latest purchase features per customer'"
                )
    expected = expected_purchase_features(events)

    metadata = materialization_metadata(result, "feature_group/purchases")
    assert "postgresql connection 'serving'" in metadata["seeknal/online_store"]
    loaded = load_project(project)
    for customer in sorted({customer for customer, _ in expected}):
        [row] = get_online_features(loaded, "purchases", [{"customer_id": customer}])
        newest = max(time for key, time in expected if key == customer)
        assert (row["event_ts"], row["purchases_to_date"], row["spend_to_date"]) == (newest, *expected[(customer, newest)])
    with psycopg.connect(postgres_server.dsn("online_features")) as connection:
        assert connection.execute("SELECT count(*) FROM features.purchases WHERE customer_id = 1").fetchone() == (0,)
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'features'"
        ).fetchall()
        assert tables == [("purchases",)]
        assert serving_setup(connection) == (True, ["purchases_by_spend", "purchases_pkey"], "latest purchase features per customer")

    # A new feature: the table gains its column, keeps what the serving team set up, and serves the new values.
    (project / "seeknal/feature_groups/purchases.yml").write_text(
        textwrap.dedent(PURCHASES_YML)
        .replace("online: true", "online: {type: postgresql, connection: serving}")
        .replace("round(sum(amount)", "max(amount) OVER to_date AS largest_to_date,\n         round(sum(amount)")
        .replace("spend_to_date: {dtype: float}", "spend_to_date: {dtype: float}\n  largest_to_date: {dtype: float}")
    )
    assert materialize(project).success
    with psycopg.connect(postgres_server.dsn("online_features")) as connection:
        assert serving_setup(connection)[0] is True
        connection.execute("SET ROLE feature_server")
        assert connection.execute("SELECT max(largest_to_date) FROM features.purchases").fetchone() == (
            max(event[4] for event in events if event[3] == "purchase"),
        )


def serving_setup(connection) -> tuple[bool, list[str], str | None]:
    """(whether feature_server may read the table, its indexes, its comment)."""
    [[readable, indexes, comment]] = connection.execute(
        "SELECT has_table_privilege('feature_server', 'features.purchases', 'SELECT'),"
        " (SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes WHERE tablename = 'purchases'),"
        " obj_description('features.purchases'::regclass, 'pg_class')"
    ).fetchall()
    return readable, indexes, comment


def test_the_sample_project_feature_groups_serve_point_in_time_training_data(tmp_path):
    project = tmp_path / "seeknal_project"
    shutil.copytree(SAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("target", "__pycache__"))
    selection = " or ".join(
        f'+key:"feature_group/{name}"' for name in ("customer_features", "customer_order_features")
    )
    result = materialize(project, selection)
    assert result.success, failure_messages(result)

    [customer] = get_online_features(project, "customer_features", [1])
    assert customer["customer_id"] == 1 and customer["lifecycle_stage"] in ("new", "active", "churned")

    orders = read_rows(
        project / "target/intermediate/transform_orders_enriched.parquet", "SELECT customer_id, order_date FROM data"
    )
    month_ends = [date(2025, month + 1, 1) - timedelta(days=1) for month in range(3, 10)]
    labels = pa.table(
        {
            "customer_id": [customer_id for customer_id in range(1, 501) for _ in month_ends],
            "label_date": month_ends * 500,
        }
    )
    training = get_historical_features(
        project, labels, ["customer_order_features.orders_to_date"], timestamp_col="label_date"
    ).to_pandas()
    for row in training.sample(200, random_state=1).itertuples():
        placed_by_then = sum(1 for customer_id, day in orders if customer_id == row.customer_id and day <= row.label_date)
        assert (0 if pd.isna(row.orders_to_date) else row.orders_to_date) == placed_by_then


def test_an_online_only_group_keeps_its_output_and_serves_the_latest_values(make_project):
    project = snapshot_project(
        make_project, "append", materialization="{event_time_col: scored_at, offline: false, online: true}"
    )
    (project / "data/scores.csv").write_text("customer_id,scored_at,score\n1,2025-01-01,10\n2,2025-01-01,20\n")
    run_node(project, "source.scores")
    run_node(project, "feature_group.scores")
    (project / "data/scores.csv").write_text("customer_id,scored_at,score\n1,2025-01-02,12\n")
    run_node(project, "source.scores")
    result = run_node(project, "feature_group.scores")

    assert "version" not in result.metadata and not (project / "target/feature_store/customer/scores").exists()
    assert read_rows(
        project / "target/intermediate/feature_group_scores.parquet",
        "SELECT customer_id, strftime(scored_at, '%Y-%m-%d'), score FROM data ORDER BY ALL",
    ) == [(1, "2025-01-01", 10), (1, "2025-01-02", 12), (2, "2025-01-01", 20)]
    online = get_online_features(load_project(project), "scores", [1, 2])
    assert [(row["customer_id"], row["score"]) for row in online] == [(1, 12.0), (2, 20.0)]


# -- The output passes the input's columns through, as Seeknal's does ------------------------------------------

#: Written the way Seeknal's docs write features: the join key and the event time listed among them, a
#: description string, Seeknal's ``data_type`` spelling, a feature with no details at all.
CUSTOMER_PROFILE_YML = """
    kind: feature_group
    name: customer_profile
    entity: {name: customer, join_keys: [customer_id]}
    materialization: {event_time_col: signed_up}
    inputs: [{ref: source.customers}]
    transform: SELECT *, spend / orders AS avg_order FROM source
    features:
      customer_id: {dtype: integer, description: The customer}
      signed_up: {dtype: date}
      orders: {data_type: integer, description: Orders placed}
      spend: Total spent, in EUR
      avg_order:
"""
EMAILS_LOOK_VALID = """
    kind: rule
    name: profile_emails_valid
    inputs: [{ref: feature_group.customer_profile}]
    rule: email LIKE '%_@__%.__%'
    severity: warn
"""
CHURN_FROM_PROFILE = """
    kind: model
    name: churn_from_profile
    inputs: [{ref: feature_group.customer_profile}]
    training:
      algorithm: logistic_regression
      label_column: churned
      test_size: 0.3
      random_state: 7
"""


def customers_csv(seed: int = 8, count: int = 160) -> str:
    """Customers with an e-mail (some malformed), a signup date, orders and spend, and whether they churned:
    churners ordered little."""
    rng = random.Random(seed)
    lines = ["customer_id,email,signed_up,orders,spend,churned"]
    for customer in range(1, count + 1):
        churned = rng.random() < 0.4
        orders = rng.randint(1, 4) if churned else rng.randint(3, 12)
        email = rng.choice([f"c{customer}@example.com"] * 5 + [f"c{customer}.example.com", ""])
        signed_up = date(2025, 1, 1) + timedelta(days=rng.randrange(200))
        lines.append(f"{customer},{email},{signed_up},{orders},{orders * rng.uniform(10, 60):.2f},{str(churned).lower()}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def profile_project(make_project):
    return make_project(
        {
            "data/customers.csv": customers_csv(),
            "seeknal/sources/customers.yml": "kind: source\nname: customers\nsource: csv\ntable: data/customers.csv\n",
            "seeknal/feature_groups/customer_profile.yml": CUSTOMER_PROFILE_YML,
            "seeknal/rules/profile_emails_valid.yml": EMAILS_LOOK_VALID,
            "seeknal/models/churn_from_profile.yml": CHURN_FROM_PROFILE,
        }
    )


def test_docs_style_features_run_and_the_output_passes_every_input_column_through(profile_project):
    result = materialize(profile_project, '+key:"feature_group/customer_profile"')
    assert result.success, failure_messages(result)

    customers = pd.read_csv(profile_project / "data/customers.csv", parse_dates=["signed_up"])
    output = pd.read_parquet(profile_project / "target/intermediate/feature_group_customer_profile.parquet")
    assert list(output.columns) == [*customers.columns, "avg_order"]
    expected = customers.assign(avg_order=customers["spend"] / customers["orders"])
    output = output.assign(signed_up=pd.to_datetime(output["signed_up"])).sort_values("customer_id")
    pd.testing.assert_frame_equal(output.reset_index(drop=True), expected, check_dtype=False)
    # The stores hold the keys, the event time and the features: no e-mail, no label.
    stored = profile_project / "target/feature_store/customer/customer_profile/v1/data.parquet"
    assert column_names(stored) == ["customer_id", "signed_up", "orders", "spend", "avg_order"]
    version = json.loads((stored.parent / "_metadata.json").read_text())
    assert [feature["name"] for feature in version["features"]] == ["orders", "spend", "avg_order"]


def test_a_rule_on_a_feature_group_checks_a_column_that_is_not_a_feature(profile_project):
    result = materialize(profile_project)
    assert result.success, failure_messages(result)

    [evaluation] = [item for item in result.get_asset_check_evaluations() if item.check_name == "profile_emails_valid"]
    customers = pd.read_csv(profile_project / "data/customers.csv", keep_default_na=False)
    malformed = sum(not (("@" in email) and ("." in email.split("@")[-1])) for email in customers["email"])
    assert malformed > 0
    assert evaluation.asset_key == dagster.AssetKey(["feature_group", "customer_profile"])
    assert not evaluation.passed and evaluation.metadata["violations"].value == malformed


def test_a_model_takes_its_label_from_the_feature_group_it_trains_on(profile_project):
    result = materialize(profile_project)
    assert result.success, failure_messages(result)
    metadata = materialization_metadata(result, "model/churn_from_profile")

    # The same fit in plain scikit-learn: the group's declared features, its churned column as the label.
    rows = pd.read_csv(profile_project / "data/customers.csv", parse_dates=["signed_up"])
    rows["avg_order"] = rows["spend"] / rows["orders"]
    rows = rows[["customer_id", "signed_up", "churned", "orders", "spend", "avg_order"]]
    rows = rows.sort_values(list(rows.columns)).reset_index(drop=True)  # keys, time, label, features
    train_x, test_x, train_y, test_y = train_test_split(
        rows[["orders", "spend", "avg_order"]], rows["churned"], test_size=0.3, random_state=7, stratify=rows["churned"]
    )
    model = LogisticRegression(max_iter=1000, random_state=7).fit(train_x, train_y)
    assert metadata["metrics/accuracy"] == pytest.approx(accuracy_score(test_y, model.predict(test_x)))
    assert metadata["seeknal/feature_count"] == 3  # the e-mail and the label are not features
    features = json.loads((profile_project / "target/models/churn_from_profile/v1/features.json").read_text())
    assert features["columns"] == ["orders", "spend", "avg_order"]
    assert features["label"]["column"] == "churned"


@pytest.mark.parametrize(
    "features, field, message",
    [
        ("{orders: {dtype: varchar2}}", "features.orders", "unknown dtype 'varchar2'"),
        ("{orders: 3}", "features.orders", "expected {dtype, description}, a dtype or a description"),
        ("[{dtype: int}]", "features[0]", "a feature needs a name"),
        ("[orders, orders]", "features", "declared more than once: ['orders']"),
    ],
)
def test_features_that_cannot_run_fail_at_validate_naming_node_and_field(profile_project, features, field, message):
    definition = profile_project / "seeknal/feature_groups/customer_profile.yml"
    definition.write_text(definition.read_text().split("features:")[0] + f"features: {features}\n")

    completed = subprocess.run(
        [sys.executable, "-m", "seeknal_dagster.cli", "validate", str(profile_project)], capture_output=True, text=True
    )

    assert completed.returncode == 1
    assert "feature_group.customer_profile" in completed.stderr
    assert f"{field}: {message}" in completed.stderr
