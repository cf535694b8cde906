"""The documented PostgreSQL instance (``dagster.postgres.yaml``, credentials from the environment) against a real
PostgreSQL server: runs, materializations, check results and the sensor's cursor land in PostgreSQL and outlive
``dagster dev``: a restarted one sees the earlier runs, and its sensor notices data appended while it was down."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from unittest import mock

import dagster
import psycopg
import pytest
from dagster._core.scheduler.instigation import InstigatorType

from seeknal_dagster.cli import main
from tests.support.dagster_dev import finished_run, materialized_by, running_dagster
from tests.support.operations import append
from tests.support.projects import write_project

REPOSITORY = Path(__file__).resolve().parents[1]
PROJECT = {
    "data/events.csv": "event_id,kind\n1,view\n",
    "seeknal/sources/events.yml": "kind: source\nname: events\nsource: csv\ntable: data/events.csv\n",
    "seeknal/rules/known_events.yml": """
        kind: rule
        name: known_events
        inputs: [{ref: source.events}]
        rule: event_id > 0
        severity: error
    """,
    "seeknal/transforms/event_count.yml": """
        kind: transform
        name: event_count
        inputs: [{ref: source.events}]
        transform: SELECT count(*) AS events FROM ref('source.events')
    """,
    "definitions.py": """
        from pathlib import Path

        from seeknal_dagster import build_definitions

        defs = build_definitions(Path(__file__).parent, sensor_interval_seconds=1)
    """,
}
RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId status } } } }"


@pytest.fixture
def postgres_home(tmp_path, postgres_server) -> Path:
    """A DAGSTER_HOME holding the repository's dagster.postgres.yaml, its credentials in the environment."""
    database = postgres_server.create_database("dagster_instance")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPOSITORY / "dagster.postgres.yaml", home / "dagster.yaml")
    credentials = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USER": postgres_server.user,
        "DAGSTER_PG_PASSWORD": "unused-with-trust-authentication",
    }
    with mock.patch.dict(os.environ, credentials):
        yield home


def stored_event_counts(postgres_server) -> dict[str, int]:
    with psycopg.connect(postgres_server.dsn(os.environ["DAGSTER_PG_DB"])) as connection:
        rows = connection.execute("SELECT dagster_event_type, count(*) FROM event_logs GROUP BY 1").fetchall()
    return {event_type: count for event_type, count in rows if event_type}


def sensor_cursor(instance: dagster.DagsterInstance) -> str | None:
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return next((state.instigator_data.cursor for state in states if state.name.endswith("_source_sensor")), None)


def test_runs_checks_and_sensor_cursors_live_in_postgres_across_restarts(tmp_path, postgres_home, postgres_server):
    project = write_project(tmp_path / "project", PROJECT)
    assert main(["run", "--changed", str(project)]) == 0
    stored = stored_event_counts(postgres_server)
    assert stored["ASSET_MATERIALIZATION"] == 2
    assert stored["ASSET_CHECK_EVALUATION"] == 1
    assert not (postgres_home / "history").exists()  # nothing went to SQLite

    log = tmp_path / "dagster.log"
    with dagster.DagsterInstance.get() as instance:
        with running_dagster(["dagster", "dev", "-f", "definitions.py"], project, postgres_home, log) as first:
            first.wait_until("the sensor's baseline tick", lambda: sensor_cursor(instance))
        # Data arriving while Dagster is down is noticed after the restart: the cursor came back from PostgreSQL.
        append(project / "data/events.csv", "2,buy\n")
        with running_dagster(["dagster", "dev", "-f", "definitions.py"], project, postgres_home, log) as second:
            run = second.wait_until(
                "the sensor's run", lambda: finished_run(instance, {"seeknal/changed_sources": "source.events"})
            )
            assert run.status == dagster.DagsterRunStatus.SUCCESS
            assert materialized_by(instance, run.run_id) == {"source/events", "transform/event_count"}
            runs = second.graphql(RUNS_QUERY)["runsOrError"]["results"]
            assert len(runs) == 2 and {item["status"] for item in runs} == {"SUCCESS"}

    stored = stored_event_counts(postgres_server)
    assert stored["ASSET_MATERIALIZATION"] == 4
    assert stored["ASSET_CHECK_EVALUATION"] == 2
