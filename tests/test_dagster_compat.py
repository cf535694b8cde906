"""The Dagster internals behind ``seeknal_dagster/assets/_compat.py`` still mean what this package assumes: the tags
Dagster writes on materializations and observations, the provenance it reads back, the value of a never-observed
input. A Dagster upgrade that moves or changes one fails here, naming it."""

from __future__ import annotations

import dagster

from seeknal_dagster.assets import _compat


@dagster.observable_source_asset
def raw_orders() -> dagster.DataVersion:
    return dagster.DataVersion("v-observed")


@dagster.asset(deps=[raw_orders], code_version="1")
def orders() -> dagster.MaterializeResult:
    return dagster.MaterializeResult(data_version=dagster.DataVersion("v-orders"))


@dagster.asset(deps=[orders], code_version="2")
def totals() -> None: ...


def test_the_tags_and_provenance_dagster_writes_are_the_ones_this_package_reads_and_writes():
    with dagster.instance_for_test() as instance:
        # orders runs before its observable source was ever observed, then totals reads orders.
        assert dagster.materialize([raw_orders, orders, totals], selection=["orders", "totals"], instance=instance).success
        orders_entry = instance.get_latest_materialization_event(dagster.AssetKey("orders"))
        tags = orders_entry.asset_materialization.tags
        assert tags[_compat.DATA_VERSION_TAG] == "v-orders"
        assert tags[_compat.DATA_VERSION_IS_USER_PROVIDED_TAG] == "true"
        assert tags[_compat.input_data_version_tag(dagster.AssetKey("raw_orders"))] == _compat.NEVER_OBSERVED.value
        assert _compat.extract_data_version_from_entry(orders_entry) == dagster.DataVersion("v-orders")

        totals_entry = instance.get_latest_materialization_event(dagster.AssetKey("totals"))
        provenance = _compat.extract_data_provenance_from_entry(totals_entry)
        assert provenance.code_version == "2"
        assert provenance.input_data_versions == {dagster.AssetKey("orders"): dagster.DataVersion("v-orders")}

        # An observation recorded outside a run with these tags is what Dagster reads as the data version.
        instance.report_runless_asset_event(
            dagster.AssetObservation(
                "raw_orders",
                tags={_compat.DATA_VERSION_TAG: "v-sensor", _compat.DATA_VERSION_IS_USER_PROVIDED_TAG: "true"},
            )
        )
        record = instance.get_latest_data_version_record(dagster.AssetKey("raw_orders"), is_source=True)
        assert _compat.extract_data_version_from_entry(record.event_log_entry) == dagster.DataVersion("v-sensor")


def test_run_retry_tag_and_asset_graph():
    # The tags Dagster's run retries read: how, how often, and whether a failed run is retried at all.
    assert _compat.RETRY_STRATEGY_TAG == "dagster/retry_strategy"
    assert _compat.MAX_RETRIES_TAG == "dagster/max_retries"
    assert _compat.RETRY_ON_ASSET_OR_OP_FAILURE_TAG == "dagster/retry_on_asset_or_op_failure"
    graph = _compat.asset_graph_of([orders, totals])
    assert graph.get(dagster.AssetKey("totals")).parent_keys == {dagster.AssetKey("orders")}
