"""The real ``dagster dev`` (webserver, daemon, code server) on a temporary project with its own DAGSTER_HOME: rows
appended to a source file make the sensor launch a run of exactly that source and its downstream; a run failing
in one node is retried from asset failure, re-running only that node and its downstream; a cron-automated node
runs on its tick. One ``dagster dev`` serves all three stories (starting one costs seconds)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator
from unittest import mock

import dagster
import pytest
from dagster._core.scheduler.instigation import InstigatorType

from seeknal_dagster.cli import main
from tests.support.dagster_dev import DagsterDev, finished_run, materialized_by, running_dagster
from tests.support.operations import append, flaky_transform
from tests.support.projects import write_project

DAGSTER_YAML = """
telemetry: {enabled: false}
auto_materialize: {use_sensors: true}
run_retries: {enabled: true, max_retries: 0}  # as dagster.yaml: only runs tagged by our sensors retry
concurrency: {pools: {default_limit: 1}}
"""


def project_files(marker: Path) -> dict[str, str]:
    return {
        "data/events.csv": "event_id,kind\n1,view\n2,buy\n",
        "data/stock.csv": "sku,units\nA,5\n",
        "data/orders.csv": "order_id\n1\n",
        "data/ticks.csv": "tick\n1\n",
        "seeknal/sources/events.yml": "kind: source\nname: events\nsource: csv\ntable: data/events.csv\n",
        "seeknal/sources/stock.yml": "kind: source\nname: stock\nsource: csv\ntable: data/stock.csv\n",
        "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
        "seeknal/sources/ticker.yml": (
            "kind: source\nname: ticker\nsource: csv\ntable: data/ticks.csv\ndagster: {automation: 'on_cron(\"* * * * *\")'}\n"
        ),
        "seeknal/transforms/event_count.yml": """
            kind: transform
            name: event_count
            inputs: [{ref: source.events}]
            transform: SELECT count(*) AS events FROM ref('source.events')
        """,
        "seeknal/transforms/stock_total.yml": """
            kind: transform
            name: stock_total
            inputs: [{ref: source.stock}]
            transform: SELECT sum(units) AS units FROM ref('source.stock')
        """,
        "seeknal/transforms/a_flaky.yml": flaky_transform("a_flaky", "source.orders", marker),
        "seeknal/transforms/after_flaky.yml": """
            kind: transform
            name: after_flaky
            inputs: [{ref: transform.a_flaky}]
            transform: SELECT * FROM ref('transform.a_flaky')
        """,
        "seeknal/transforms/orders_copy.yml": """
            kind: transform
            name: orders_copy
            inputs: [{ref: source.orders}]
            transform: SELECT * FROM ref('source.orders')
        """,
        "definitions.py": """
            from pathlib import Path

            from seeknal_dagster import build_definitions

            defs = build_definitions(Path(__file__).parent, sensor_interval_seconds=1, automation_interval_seconds=1)
        """,
    }


class Deployment:
    def __init__(self, project: Path, instance: dagster.DagsterInstance, server: DagsterDev):
        self.project = project
        self.instance = instance
        self.server = server

    def sensor_cursor(self) -> str | None:
        states = self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        return next((state.instigator_data.cursor for state in states if state.name.endswith("_source_sensor")), None)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("dagster_dev")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    marker = root / "attempted.csv"
    project = write_project(root / "project", project_files(marker))
    # Everything materialized once (the flaky node finds its marker), then the marker goes: its next run fails once.
    marker.write_text("attempted\n1\n")
    with mock.patch.dict(os.environ, {"DAGSTER_HOME": str(home)}):
        assert main(["run", "--changed", str(project)]) == 0
    marker.unlink()
    with dagster.DagsterInstance.from_config(str(home)) as instance, running_dagster(
        ["dagster", "dev", "-f", "definitions.py"], project, home, root / "dagster.log"
    ) as server:
        deployment = Deployment(project, instance, server)
        server.wait_until("the sensor's first tick", deployment.sensor_cursor)
        yield deployment


def test_appended_rows_make_the_sensor_run_exactly_that_source_and_its_downstream(deployment):
    append(deployment.project / "data/events.csv", "3,view\n")
    run = deployment.server.wait_until(
        "the sensor's run", lambda: finished_run(deployment.instance, {"seeknal/changed_sources": "source.events"})
    )
    assert run.status == dagster.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/sensor_name"] == "seeknal_project_source_sensor"
    assert materialized_by(deployment.instance, run.run_id) == {"source/events", "transform/event_count"}


def test_a_failed_node_is_retried_alone_with_its_downstream(deployment):
    append(deployment.project / "data/orders.csv", "2\n")
    failed = deployment.server.wait_until(
        "the sensor's run", lambda: finished_run(deployment.instance, {"seeknal/changed_sources": "source.orders"})
    )
    assert failed.status == dagster.DagsterRunStatus.FAILURE
    assert materialized_by(deployment.instance, failed.run_id) == {"source/orders", "transform/orders_copy"}

    retry = deployment.server.wait_until(
        "the automatic retry",
        lambda: finished_run(deployment.instance, {"dagster/parent_run_id": failed.run_id}),
        timeout=240,  # the daemon's retry, a run worker's start-up and the run, on a busy machine
    )
    assert retry.status == dagster.DagsterRunStatus.SUCCESS
    assert retry.tags["dagster/retry_strategy"] == "FROM_ASSET_FAILURE"
    assert materialized_by(deployment.instance, retry.run_id) == {"transform/a_flaky", "transform/after_flaky"}


def test_a_cron_automated_node_runs_on_its_tick(deployment):
    run = deployment.server.wait_until(
        "a run of the cron source",
        lambda: finished_run(deployment.instance, {"dagster/sensor_name": "seeknal_project_automation"}),
        timeout=150,
    )
    assert run.status == dagster.DagsterRunStatus.SUCCESS
    assert materialized_by(deployment.instance, run.run_id) == {"source/ticker"}
