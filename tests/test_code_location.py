"""Several Seeknal projects in one code location, next to a user's own definitions: nothing collides (keys, ops,
pools, resources, sensors, schedules, jobs), each project runs with its own options, and a user's executor wins."""

from __future__ import annotations

import dagster

from seeknal_dagster import build_definitions
from tests.support.shop import CLEAN_ORDERS, SHOP_SOURCES

SCHEDULED = {
    **SHOP_SOURCES,
    **CLEAN_ORDERS,
    "seeknal_project.yml": "name: shop\nschedules:\n  - {name: nightly, cron: '0 2 * * *', select: 'key:\"*/transform/clean_orders\"'}\n",
}


def test_two_projects_merge_into_one_code_location_with_a_users_executor(make_project, tmp_path):
    project = make_project(SCHEDULED)

    @dagster.asset
    def users_own_asset() -> None: ...

    defs = dagster.Definitions.merge(
        build_definitions(project, key_prefix="eu", target_dir=tmp_path / "eu", params={"region": "eu"}, executor=None),
        build_definitions(project, key_prefix="us", target_dir=tmp_path / "us", params={"region": "us"}, executor=None),
        dagster.Definitions(assets=[users_own_asset], executor=dagster.multiprocess_executor),
    )
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"eu/transform/clean_orders", "us/transform/clean_orders", "eu/source_data/orders", "us/source_data/orders"} <= keys
    assert {key.to_user_string() for key in graph.asset_check_keys} == set()

    ops = {assets_def.node_def.name: assets_def for assets_def in graph.assets_defs if assets_def.is_executable}
    assert {"seeknal_eu_shop", "seeknal_us_shop", "seeknal_eu_shop_source_data", "seeknal_us_shop_source_data"} <= set(ops)
    assert ops["seeknal_eu_shop"].op.pool == "seeknal_eu_shop" and ops["seeknal_us_shop"].op.pool == "seeknal_us_shop"
    assert {"seeknal_eu_shop", "seeknal_us_shop"} <= set(defs.resources)
    assert {sensor.name for sensor in defs.sensors} == {"seeknal_eu_shop_source_sensor", "seeknal_us_shop_source_sensor"}
    assert {schedule.name for schedule in defs.schedules} == {"eu_nightly", "us_nightly"}
    assert {job.name for job in defs.jobs} == {"eu_nightly_job", "us_nightly_job"}  # no rules: no checks job
    assert defs.executor is dagster.multiprocess_executor

    # Each project's step loads its own options (its own target directory); each schedule selects its own project.
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def is dagster.multiprocess_executor
    selection = [dagster.AssetKey(["eu", "source", "orders"]), dagster.AssetKey(["us", "source", "orders"])]
    assert job.execute_in_process(asset_selection=selection).success
    assert (tmp_path / "eu/intermediate/source_orders.parquet").is_file()
    assert (tmp_path / "us/intermediate/source_orders.parquet").is_file()
    nightly = defs.resolve_job_def("eu_nightly_job")
    assert {key.to_user_string() for key in nightly.asset_layer.selected_asset_keys} == {"eu/transform/clean_orders"}
    assert nightly.executor_def is dagster.in_process_executor


def test_definitions_from_the_same_options_merge_with_the_in_process_executor(make_project):
    first = make_project({**SHOP_SOURCES, "seeknal_project.yml": "name: first\n"}, name="first")
    second = make_project({**CLEAN_ORDERS, **SHOP_SOURCES, "seeknal_project.yml": "name: second\n"}, name="second")
    defs = dagster.Definitions.merge(
        build_definitions(first, key_prefix="first"), build_definitions(second, key_prefix="second")
    )
    assert defs.executor is dagster.in_process_executor
    assert len(defs.resolve_asset_graph().get_all_asset_keys()) == 4 + 5
