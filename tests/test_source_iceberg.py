"""Iceberg sources as Seeknal writes them (``source: iceberg``, ``table: catalog.namespace.table``, ``catalog_uri``
and ``warehouse`` from params or ``source_defaults.iceberg``, ``params.query``), read through real catalogs: a
local SQL catalog over SQLite, and a REST catalog with OAuth2 client credentials on 127.0.0.1."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import dagster
import pyarrow as pa
import pytest

from seeknal_dagster.cli import main
from seeknal_dagster.executors.fingerprints import fingerprint_source
from seeknal_dagster.project.loader import load_project
from tests.support.iceberg import local_catalog, write_table
from tests.support.iceberg_rest import ACCESS_TOKEN, RestCatalogServer, serve
from tests.support.operations import requested_keys, tick
from tests.support.projects import failure_messages, materialization_metadata, materialize, materialized_keys
from tests.test_sources import output_rows, output_schema

PROFILES = """
source_defaults:
  iceberg:
    catalog_uri: "${LAKE_CATALOG:sqlite:///iceberg/catalog.db}"
    warehouse: iceberg/warehouse
"""
READINGS = pa.table(
    {
        "reading_id": ["R001", "R002", "R003", "R004", "R005"],
        "sensor_id": ["S01", "S01", "S02", "S02", "S03"],
        "value": [22.5, 23.1, 45.2, 44.8, 1013.2],
        "price": pa.array([Decimal("1.50"), Decimal("2.25"), None, Decimal("0.10"), Decimal("9.99")], pa.decimal128(10, 2)),
        "day": pa.array([date(2026, 1, 10)] * 4 + [date(2026, 1, 11)], pa.date32()),
        "recorded_at": pa.array([datetime(2026, 1, 10, hour) for hour in (8, 9, 8, 9, 8)], pa.timestamp("us")),
    }
)
BATCH_TWO = pa.table(
    {
        "reading_id": ["R006", "R007"],
        "sensor_id": ["S01", "S03"],
        "value": [24.0, 1012.5],
        "price": pa.array([Decimal("3.00"), None], pa.decimal128(10, 2)),
        "day": pa.array([date(2026, 1, 12)] * 2, pa.date32()),
        "recorded_at": pa.array([datetime(2026, 1, 12, 8)] * 2, pa.timestamp("us")),
    }
)
SENSOR_SUMMARY = """
kind: transform
name: sensor_summary
inputs: [{ref: source.sensor_readings}]
transform: |
  SELECT sensor_id, CAST(count(*) AS BIGINT) AS readings, max(value) AS max_value
  FROM ref('source.sensor_readings') GROUP BY sensor_id
"""


def lake_project(make_project, **nodes: str) -> Path:
    files = {"profiles.yml": PROFILES, **{f"seeknal/{path}.yml": text for path, text in nodes.items()}}
    project = make_project(files)
    write_table(local_catalog(project), "qa_incremental.sensor_readings", READINGS)
    return project


SENSOR_READINGS = "kind: source\nname: sensor_readings\nsource: iceberg\ntable: lake.qa_incremental.sensor_readings\n"


def test_an_iceberg_table_is_read_through_its_catalog_with_every_type(make_project):
    project = lake_project(
        make_project, **{"sources/sensor_readings": SENSOR_READINGS, "transforms/sensor_summary": SENSOR_SUMMARY}
    )
    result = materialize(project)
    assert result.success, failure_messages(result)
    assert materialized_keys(result) == {"source/sensor_readings", "transform/sensor_summary"}

    assert output_rows(project, "source.sensor_readings") == sorted(tuple(row.values()) for row in READINGS.to_pylist())
    assert output_schema(project, "source.sensor_readings") == [
        ("reading_id", "VARCHAR"), ("sensor_id", "VARCHAR"), ("value", "DOUBLE"), ("price", "DECIMAL(10,2)"),
        ("day", "DATE"), ("recorded_at", "TIMESTAMP"),
    ]
    frame = READINGS.to_pandas().groupby("sensor_id").agg(readings=("value", "size"), max_value=("value", "max"))
    assert output_rows(project, "transform.sensor_summary") == list(frame.itertuples(name=None))

    metadata = materialization_metadata(result, "source/sensor_readings")
    snapshot = local_catalog(project).load_table("qa_incremental.sensor_readings").current_snapshot()
    assert metadata["seeknal/location"] == "lake.qa_incremental.sensor_readings"
    assert metadata["seeknal/catalog"] == "sqlite:///iceberg/catalog.db"
    assert metadata["seeknal/snapshot_id"] == str(snapshot.snapshot_id)
    assert metadata["dagster/row_count"] == 5


def test_a_query_is_pushed_down_to_the_columns_it_uses(make_project):
    query = """
        kind: source
        name: strong_readings
        source: iceberg
        table: lake.qa_incremental.sensor_readings
        params:
          query: |
            SELECT sensor_id, value * 2 AS doubled
            FROM lake.qa_incremental.sensor_readings WHERE value > 40
    """
    short_names = """
        kind: source
        name: sensor_days
        source: iceberg
        table: lake.qa_incremental.sensor_readings
        params:
          query: SELECT DISTINCT r.day FROM sensor_readings AS r
    """
    project = lake_project(make_project, **{"sources/strong": query, "sources/days": short_names})
    result = materialize(project)
    assert result.success, failure_messages(result)
    frame = READINGS.to_pandas()
    strong = frame[frame.value > 40]
    assert output_rows(project, "source.strong_readings", "1, 2") == sorted(zip(strong.sensor_id, strong.value * 2))
    assert output_rows(project, "source.sensor_days") == [(day,) for day in sorted(set(frame.day))]
    assert materialization_metadata(result, "source/strong_readings")["seeknal/columns_read"] == ["sensor_id", "value"]
    assert materialization_metadata(result, "source/sensor_days")["seeknal/columns_read"] == ["day"]


def plan(capsys, project: Path) -> dict[str, str]:
    """Node id → reasons, as ``seeknal-dagster plan`` prints them."""
    assert main(["plan", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    return dict(line.split(maxsplit=1) for line in lines if line.startswith("  "))


def version(project: Path, node_id: str = "source.sensor_readings") -> str:
    return fingerprint_source(load_project(project), node_id).version


def test_a_new_snapshot_is_new_data_for_the_sensor_and_the_data_version(make_project, capsys):
    """Seeknal's iceberg-incremental-snapshot spec: unchanged data stays, a commit re-runs the source and its
    downstream."""
    project = lake_project(
        make_project, **{"sources/sensor_readings": SENSOR_READINGS, "transforms/sensor_summary": SENSOR_SUMMARY}
    )
    catalog = local_catalog(project)
    with dagster.instance_for_test() as instance:
        first = materialize(project, instance=instance)
        assert first.success, failure_messages(first)
        baseline = tick(project, instance, cursor=None)
        unchanged = tick(project, instance, cursor=baseline.cursor)
        assert not unchanged.run_requests
        assert version(project) == version(project)

        assert plan(capsys, project) == {}
        write_table(catalog, "qa_incremental.sensor_readings", BATCH_TWO)
        assert plan(capsys, project) == {
            "source.sensor_readings": "upstream data changed (new data in lake.qa_incremental.sensor_readings)",
            "transform.sensor_summary": "upstream changed (source.sensor_readings)",
        }
        changed = tick(project, instance, cursor=unchanged.cursor)
        assert requested_keys(changed) == [{"source/sensor_readings", "transform/sensor_summary"}]
        [observation] = changed.asset_events
        assert observation.metadata["seeknal/rows"].value == 7

        second = materialize(project, instance=instance)
        assert second.success
        assert output_rows(project, "source.sensor_readings") == sorted(
            tuple(row.values()) for row in pa.concat_tables([READINGS, BATCH_TWO]).to_pylist()
        )
        assert [row[1] for row in output_rows(project, "transform.sensor_summary")] == [3, 2, 2]
        assert data_version(first, "source/sensor_readings") != data_version(second, "source/sensor_readings")


def data_version(result: dagster.ExecuteInProcessResult, key: str) -> str:
    [event] = [event for event in result.get_asset_materialization_events() if event.asset_key.to_user_string() == key]
    return event.step_materialization_data.materialization.tags["dagster/data_version"]


def test_a_rest_catalog_with_oauth2_client_credentials(make_project, monkeypatch):
    """A Lakekeeper-style REST catalog behind a Keycloak-style token endpoint, configured as Seeknal configures
    it (catalog_uri + warehouse, KEYCLOAK_* in the environment); the client secret never leaves."""
    secret = "cl1ent-S3cret-7d4e"
    project = lake_project(
        make_project, **{"sources/sensor_readings": SENSOR_READINGS, "transforms/sensor_summary": SENSOR_SUMMARY}
    )
    state = RestCatalogServer(local_catalog(project), client_id="seeknal", client_secret=secret)
    for server in serve(state):
        monkeypatch.setenv("LAKE_CATALOG", server.url)
        monkeypatch.setenv("KEYCLOAK_TOKEN_URL", server.token_url)
        monkeypatch.setenv("KEYCLOAK_CLIENT_ID", "seeknal")
        monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", secret)
        instance = dagster.DagsterInstance.ephemeral()
        result = materialize(project, instance=instance)
        assert result.success, failure_messages(result)
        assert output_rows(project, "source.sensor_readings") == sorted(tuple(r.values()) for r in READINGS.to_pylist())
        assert materialization_metadata(result, "source/sensor_readings")["seeknal/catalog"] == server.url
        assert "GET /catalog/v1/namespaces/qa_incremental/tables/sensor_readings" in server.requests
        assert fingerprint_source(load_project(project), "source.sensor_readings").details["rows"] == 5

        monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", secret + "-wrong")
        failed = materialize(project, instance=instance)
        message = failure_messages(failed)
        assert "source.sensor_readings" in message and "could not get an OAuth2 token" in message
        logs = "\n".join(dagster.serialize_value(entry) for entry in instance.all_logs(failed.run_id))
        logs += "\n".join(dagster.serialize_value(entry) for entry in instance.all_logs(result.run_id))
        written = b"".join(path.read_bytes() for path in Path(project, "target").rglob("*") if path.is_file())
        for leaked in (secret, ACCESS_TOKEN):
            assert leaked not in logs and leaked.encode() not in written


@pytest.mark.parametrize(
    ("table", "params", "expected"),
    [
        ("qa_incremental.sensor_readings", "", "catalog.namespace.table"),
        ("lake.qa_incremental.missing", "", "could not load Iceberg table lake.qa_incremental.missing"),
        ("lake.qa_incremental.sensor_readings", "{catalog_uri: 'sqlite:///nowhere/catalog.db'}", "does not exist"),
        ("lake.qa_incremental.sensor_readings", "{query: 'SELECT nope FROM sensor_readings'}", 'column "nope"'),
    ],
    ids=["two-part-name", "missing-table", "missing-catalog", "bad-query"],
)
def test_bad_iceberg_sources_fail_naming_the_node(make_project, table, params, expected):
    body = f"kind: source\nname: broken\nsource: iceberg\ntable: {table}\n" + (f"params: {params}\n" if params else "")
    project = lake_project(make_project, **{"sources/broken": body})
    result = materialize(project)
    assert not result.success
    message = failure_messages(result)
    assert "source.broken" in message and expected in message
    assert not (project / "nowhere").exists()


def test_a_sql_catalog_in_postgres_keeps_its_password_out_of_metadata_and_messages(
    make_project, postgres_server, monkeypatch
):
    password = "Cat4log-S3cret-e91f"
    database = postgres_server.create_database("iceberg_catalog")
    server = f"{postgres_server.user}:{password}@{postgres_server.host}:{postgres_server.port}"
    monkeypatch.setenv("LAKE_CATALOG", f"postgresql+psycopg://{server}/{database}")
    project = make_project(
        {
            "profiles.yml": PROFILES,
            "seeknal/sources/sensor_readings.yml": SENSOR_READINGS,
            "seeknal/sources/elsewhere.yml": SENSOR_READINGS.replace("name: sensor_readings", "name: elsewhere")
            + f"params: {{catalog_uri: 'postgresql+psycopg://{server}/no_such_database'}}\n",
        }
    )
    (project / "iceberg/warehouse").mkdir(parents=True)
    from pyiceberg.catalog import load_catalog

    catalog = load_catalog(
        "lake", type="sql", uri=f"postgresql+psycopg://{server}/{database}", warehouse=(project / "iceberg/warehouse").as_uri()
    )
    write_table(catalog, "qa_incremental.sensor_readings", READINGS)

    instance = dagster.DagsterInstance.ephemeral()
    result = materialize(project, instance=instance)
    assert materialized_keys(result) == {"source/sensor_readings"}
    assert output_rows(project, "source.sensor_readings") == sorted(tuple(r.values()) for r in READINGS.to_pylist())
    metadata = materialization_metadata(result, "source/sensor_readings")
    assert metadata["seeknal/catalog"] == f"postgresql+psycopg://{postgres_server.host}:{postgres_server.port}/{database}"
    message = failure_messages(result)
    assert "source.elsewhere" in message and "no_such_database" in message
    logs = "\n".join(dagster.serialize_value(entry) for entry in instance.all_logs(result.run_id))
    written = b"".join(path.read_bytes() for path in Path(project, "target").rglob("*") if path.is_file())
    assert password not in logs and password.encode() not in written and password not in str(metadata)
