"""Automation from YAML: ``dagster: {automation: …}`` on nodes, evaluated by a sensor that runs by default, held
back by failed blocking checks upstream; named schedules in ``seeknal_project.yml``, one job each."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster
import pytest
from dagster import DefaultScheduleStatus, DefaultSensorStatus

from seeknal_dagster import ProjectLoadError, build_definitions, load_project
from tests.support.projects import materialize, materialized_keys, replace_in_file

ORDERS = {
    "data/orders.csv": "order_id,amount\n1,10\n2,20\n",
    "seeknal/rules/positive.yml": """
        kind: rule
        name: positive
        inputs: [{ref: source.orders}]
        rule: amount > 0
        severity: error
    """,
}


def requested(defs: dagster.Definitions, result: dagster.EvaluateAutomationConditionsResult) -> set[str]:
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return {key.to_user_string() for key in keys if result.get_num_requested(key)}


def node(kind: str, name: str, body: str, automation: str | None = None) -> dict[str, str]:
    block = f"dagster: {{automation: '{automation}'}}\n" if automation else ""
    return {f"seeknal/{kind}s/{name}.yml": f"kind: {kind}\nname: {name}\n{body}\n{block}"}


def orders_project(make_project, source_automation: str | None = None, transform_automation: str | None = None):
    return make_project(
        {
            **ORDERS,
            **node("source", "orders", "source: csv\ntable: data/orders.csv", source_automation),
            **node(
                "transform",
                "big_orders",
                "inputs: [{ref: source.orders}]\ntransform: SELECT * FROM ref('source.orders') WHERE amount > 15",
                transform_automation,
            ),
        }
    )


def test_automated_nodes_get_a_sensor_that_runs_by_default(make_project):
    defs = build_definitions(orders_project(make_project, transform_automation="eager"), automation_interval_seconds=5)
    sensors = {sensor.name: sensor for sensor in defs.get_repository_def().sensor_defs}
    automation = sensors["seeknal_project_automation"]
    assert automation.default_status == DefaultSensorStatus.RUNNING
    assert automation.minimum_interval_seconds == 5
    assert "default_automation_condition_sensor" not in sensors  # Dagster's own would start stopped
    condition = defs.resolve_asset_graph().get(dagster.AssetKey(["transform", "big_orders"])).automation_condition
    assert [child.get_label() for child in condition.children] == ["eager", "all_deps_blocking_checks_passed"]


def evaluate(defs: dagster.Definitions, instance: dagster.DagsterInstance, at: datetime | None = None, cursor=None):
    return dagster.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at, cursor=cursor)


def test_an_eager_node_follows_its_upstream_but_not_past_a_failed_blocking_check(make_project):
    project = orders_project(make_project, transform_automation="eager")
    defs = build_definitions(project)
    with dagster.instance_for_test() as instance:
        assert materialize(project, instance=instance).success
        first = evaluate(defs, instance)
        assert requested(defs, first) == set()

        (project / "data/orders.csv").write_text("order_id,amount\n1,10\n2,-20\n")
        assert not materialize(project, 'key:"source/orders"', instance=instance).success  # the check fails
        blocked = evaluate(defs, instance, cursor=first.cursor)
        assert requested(defs, blocked) == set()

        (project / "data/orders.csv").write_text("order_id,amount\n1,10\n2,30\n")
        assert materialize(project, 'key:"source/orders"', instance=instance).success
        released = evaluate(defs, instance, cursor=blocked.cursor)
        assert requested(defs, released) == {"transform/big_orders"}


def test_a_cron_source_runs_on_its_tick_whatever_its_data_did(make_project):
    defs = build_definitions(orders_project(make_project, source_automation='on_cron("0 6 * * *")'))
    tomorrow = datetime.now(timezone.utc).replace(hour=5, minute=50, second=0, microsecond=0) + timedelta(days=1)
    with dagster.instance_for_test() as instance:
        before = evaluate(defs, instance, at=tomorrow)
        assert requested(defs, before) == set()
        after = evaluate(defs, instance, at=tomorrow + timedelta(minutes=15), cursor=before.cursor)
        assert requested(defs, after) == {"source/orders"}


def test_an_on_missing_source_runs_again_when_its_output_goes_missing_even_if_its_data_was_never_observed(make_project):
    project = orders_project(make_project, source_automation="on_missing")
    defs = build_definitions(project)
    with dagster.instance_for_test() as instance:
        assert materialize(project, 'key:"source/orders"', instance=instance).success  # no observation
        first = evaluate(defs, instance)
        assert requested(defs, first) == set()
        instance.wipe_assets([dagster.AssetKey(["source", "orders"])])
        assert requested(defs, evaluate(defs, instance, cursor=first.cursor)) == {"source/orders"}


SCHEDULED = {
    "data/orders.csv": "order_id,amount\n1,10\n",
    "data/stock.csv": "sku,units\nA,5\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\ntags: [daily]\n",
    "seeknal/sources/stock.yml": "kind: source\nname: stock\nsource: csv\ntable: data/stock.csv\n",
    "seeknal/transforms/order_count.yml": """
        kind: transform
        name: order_count
        inputs: [{ref: source.orders}]
        transform: SELECT count(*) AS orders FROM ref('source.orders')
    """,
}


def test_schedules_from_the_project_file_each_run_one_job(make_project):
    project = make_project(
        {
            **SCHEDULED,
            "seeknal_project.yml": """
                name: shop
                schedules:
                  - {name: nightly, cron: "0 2 * * *", select: "tag:daily+", timezone: Europe/Berlin}
                  - {name: stock_refresh, cron: "*/15 * * * *", select: 'key:"source/stock"', enabled: false}
            """,
        }
    )
    defs = build_definitions(project)
    repository = defs.get_repository_def()
    nightly, stock = repository.get_schedule_def("nightly"), repository.get_schedule_def("stock_refresh")
    assert (nightly.cron_schedule, nightly.execution_timezone, nightly.default_status) == (
        "0 2 * * *",
        "Europe/Berlin",
        DefaultScheduleStatus.RUNNING,
    )
    assert stock.default_status == DefaultScheduleStatus.STOPPED
    assert nightly.job_name == "nightly_job"
    assert {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")} == {"nightly_job", "stock_refresh_job"}

    job = defs.resolve_job_def("nightly_job")
    assert job.tags["dagster/retry_strategy"] == "FROM_ASSET_FAILURE"
    with dagster.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance)
    assert result.success
    assert materialized_keys(result) == {"source/orders", "transform/order_count"}


def test_bad_schedules_are_reported_together_naming_the_project_file(make_project):
    project = make_project(
        {
            **SCHEDULED,
            "seeknal_project.yml": """
                schedules:
                  - {name: nightly, cron: "0 25 * * *", select: "tag:daily"}
                  - {name: hourly, cron: "0 * * * *"}
                  - {name: nobody, cron: "0 * * * *", select: "tag:nonexistent"}
                  - {name: broken, cron: "0 * * * *", select: "orders(("}
                  - {name: twice, cron: "0 * * * *", select: "tag:daily", every: 2}
            """,
        }
    )
    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)  # what `seeknal-dagster validate` reports, without Dagster
    text = str(raised.value)
    assert "3 problem(s)" in text
    for expected in (
        "seeknal_project.yml | field 'schedules[0].cron': schedule nightly: '0 25 * * *' is not a cron expression",
        "field 'schedules[1].select': schedule hourly: missing required field",
        "field 'schedules[4].every': schedule twice:",
    ):
        assert expected in text
    # What a selection matches is Dagster's to say, once the assets exist: the code location reports it.
    replace_in_file(project / "seeknal_project.yml", '"0 25 * * *"', '"0 23 * * *"')
    replace_in_file(project / "seeknal_project.yml", 'cron: "0 * * * *"}', 'cron: "0 * * * *", select: "*"}')
    replace_in_file(project / "seeknal_project.yml", ", every: 2}", "}")
    with pytest.raises(ProjectLoadError) as raised:
        build_definitions(project)
    text = str(raised.value)
    assert "2 problem(s)" in text
    for expected in (
        "field 'schedules[2].select': schedule nobody: select 'tag:nonexistent' matches no asset",
        "field 'schedules[3].select': schedule broken: invalid select",
    ):
        assert expected in text
