"""How a Seeknal project looks and runs in Dagster: specs, code and data versions, staleness, metadata,
selections and failure isolation."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

import dagster
import duckdb
import pytest
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus

from seeknal_dagster import ProjectLoadError, build_definitions
from seeknal_dagster.engines.outputs import output_fingerprint
from tests.support.projects import failure_messages, materialization_metadata, materialize, materialized_keys, table_rows
from tests.support.shop import CLEAN_ORDERS, SHOP_SOURCES

SHOP = {
    **SHOP_SOURCES,
    **CLEAN_ORDERS,
    "seeknal/sources/orders.yml": """
        kind: source
        name: orders
        source: csv
        table: data/orders.csv
        description: Orders exported nightly from the shop database.
        owner: data-platform
        tags: [bronze, pii]
    """,
    "seeknal/transforms/customer_totals.yml": """
        kind: transform
        name: customer_totals
        description: Revenue per customer.
        owner: ana@shop.example
        inputs: [{ref: transform.clean_orders}, {ref: source.customers}]
        transform: |
          SELECT c.name, sum(o.amount) AS revenue
          FROM ref('transform.clean_orders') o JOIN ref('source.customers') c USING (customer_id)
          GROUP BY c.name
        dagster:
          group: marts
          owners: [team:finance]
          tags: {tier: gold}
    """,
}


def node_specs(defs: dagster.Definitions) -> dict[str, dagster.AssetSpec]:
    """The specs of Seeknal nodes by user-facing key (not the observed external data in front of sources)."""
    graph = defs.resolve_asset_graph()
    return {
        spec.key.to_user_string(): spec
        for spec in defs.resolve_all_asset_specs()
        if "seeknal/node_id" in spec.metadata and not graph.get(spec.key).is_observable
    }


def test_each_node_is_an_asset_with_key_group_owners_tags_kinds_and_description(make_project):
    project = make_project(SHOP)
    specs = node_specs(build_definitions(project))
    assert set(specs) == {"source/orders", "source/customers", "transform/clean_orders", "transform/customer_totals"}

    orders = specs["source/orders"]
    assert orders.group_name == "source"
    assert orders.owners == ["team:data-platform"]
    assert {"bronze": "", "pii": ""}.items() <= orders.tags.items()
    assert orders.kinds == {"seeknal", "duckdb", "csv"}
    assert orders.description.startswith("Orders exported nightly from the shop database.")
    assert "seeknal/sources/orders.yml" in orders.description
    assert orders.metadata["seeknal/node_id"] == "source.orders"

    totals = specs["transform/customer_totals"]
    assert totals.group_name == "marts"
    assert totals.owners == ["ana@shop.example", "team:finance"]
    assert totals.tags["tier"] == "gold"
    assert totals.kinds == {"seeknal", "duckdb"}
    assert {dep.asset_key.to_user_string() for dep in totals.deps} == {"transform/clean_orders", "source/customers"}
    assert "ref('transform.clean_orders')" in totals.metadata["seeknal/transform"].value
    assert specs["transform/clean_orders"].description.startswith("Seeknal transform `clean_orders`.")


def test_key_prefix_applies_to_keys_and_deps(make_project):
    specs = node_specs(build_definitions(make_project(SHOP), key_prefix=["shop", "prod"]))
    assert set(specs) == {
        "shop/prod/source/orders",
        "shop/prod/source/customers",
        "shop/prod/transform/clean_orders",
        "shop/prod/transform/customer_totals",
    }
    assert [dep.asset_key.to_user_string() for dep in specs["shop/prod/transform/clean_orders"].deps] == [
        "shop/prod/source/orders"
    ]


def test_a_python_node_is_an_asset_computed_by_its_function(make_project):
    project = make_project(
        {
            **SHOP,
            "seeknal/pipelines/scores.py": """
                from seeknal.pipeline import transform

                @transform(name="scores", inputs=["transform.clean_orders"])
                def scores(ctx):
                    return ctx.ref("transform.clean_orders")
            """,
            "seeknal/transforms/top_scores.yml": """
                kind: transform
                name: top_scores
                transform: SELECT * FROM transform.scores
            """,
        }
    )
    graph = build_definitions(project).resolve_asset_graph()
    scores = graph.get(dagster.AssetKey(["transform", "scores"]))
    assert scores.is_materializable
    assert "Computed by `scores()` in `seeknal/pipelines/scores.py`" in scores.description
    assert scores.parent_keys == {dagster.AssetKey(["transform", "clean_orders"])}
    assert scores.kinds == {"seeknal", "python"}
    assert 'return ctx.ref("transform.clean_orders")' in scores.metadata["seeknal/python"].value
    top = graph.get(dagster.AssetKey(["transform", "top_scores"]))
    assert top.is_materializable and top.parent_keys == {dagster.AssetKey(["transform", "scores"])}


def test_a_rule_becomes_a_check_on_its_first_inputs_asset(make_project):
    project = make_project(
        {
            **SHOP,
            "seeknal/rules/positive.yml": """
                kind: rule
                name: positive_revenue
                inputs: [{ref: transform.customer_totals}]
                rule: {type: range, column: revenue, params: {min_val: 0}}
                params: {severity: warn}
            """,
        }
    )
    defs = build_definitions(project)
    assert "rule/positive_revenue" not in node_specs(defs)
    checks = {
        key.asset_key.to_user_string(): key.name for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert checks == {"transform/customer_totals": "positive_revenue"}


def code_versions(project: Path) -> dict[str, str]:
    return {key: spec.code_version for key, spec in node_specs(build_definitions(project)).items()}


def test_code_version_follows_what_a_node_computes_not_how_it_is_described(make_project):
    project = make_project(SHOP)
    before = code_versions(project)
    path = project / "seeknal/transforms/clean_orders.yml"
    original = path.read_text()

    path.write_text(original + "description: Orders with a positive amount.\nowner: ana@shop.example\ntags: [x]\n")
    assert code_versions(project) == before

    path.write_text(original.replace("amount > 0", "amount >= 0"))
    after = code_versions(project)
    assert after["transform/clean_orders"] != before["transform/clean_orders"]
    assert {key for key in before if after[key] != before[key]} == {"transform/clean_orders"}


def test_code_version_covers_the_common_config_a_node_uses(make_project):
    project = make_project(
        {
            **SHOP,
            "seeknal/common/rules.yml": "rules:\n  - {id: valid, value: amount > 0}\n",
            "seeknal/transforms/clean_orders.yml": """
                kind: transform
                name: clean_orders
                transform: SELECT * FROM source.orders WHERE {{ rules.valid }}
            """,
        }
    )
    before = code_versions(project)
    (project / "seeknal/common/rules.yml").write_text("rules:\n  - {id: valid, value: amount > 10}\n")
    after = code_versions(project)
    assert {key for key in before if after[key] != before[key]} == {"transform/clean_orders"}


def stale_status(instance: dagster.DagsterInstance, project: Path, key: str) -> tuple[StaleStatus, list[str]]:
    """What the Dagster UI shows for an asset: its stale status and the reasons."""
    graph = build_definitions(project).resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=datetime.now(timezone.utc), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance, graph, view)
    asset_key = dagster.AssetKey.from_user_string(key)
    causes = [
        f"{cause.reason}{f' ({cause.dependency.asset_key.to_user_string()})' if cause.dependency else ''}"
        for cause in resolver.get_stale_causes(asset_key)
    ]
    return resolver.get_status(asset_key), causes


def test_dagster_shows_what_an_edit_makes_stale(make_project):
    project = make_project(SHOP)
    instance = dagster.DagsterInstance.ephemeral()
    assert materialize(project, instance=instance).success
    assert stale_status(instance, project, "transform/customer_totals") == (StaleStatus.FRESH, [])

    # Re-running a source over unchanged data gives the same data version: nothing downstream goes stale.
    assert materialize(project, 'key:"source/orders"', instance=instance).success
    assert stale_status(instance, project, "transform/clean_orders") == (StaleStatus.FRESH, [])

    path = project / "seeknal/transforms/clean_orders.yml"
    path.write_text(path.read_text().replace("amount > 0", "amount > 10"))
    assert stale_status(instance, project, "transform/clean_orders") == (StaleStatus.STALE, ["has a new code version"])

    assert materialize(project, 'key:"transform/clean_orders"', instance=instance).success
    assert stale_status(instance, project, "transform/clean_orders") == (StaleStatus.FRESH, [])
    assert stale_status(instance, project, "transform/customer_totals") == (
        StaleStatus.STALE,
        ["has a new dependency data version (transform/clean_orders)"],
    )


def test_each_materialization_carries_a_data_version_and_descriptive_metadata(make_project):
    project = make_project(SHOP)
    result = materialize(project)
    assert result.success
    output = project / "target/intermediate/transform_customer_totals.parquet"
    events = {event.asset_key.to_user_string(): event for event in result.get_asset_materialization_events()}
    for key, event in events.items():
        tags = event.step_materialization_data.materialization.tags
        kind, name = key.split("/")
        assert tags["dagster/data_version"] == output_fingerprint(project / f"target/intermediate/{kind}_{name}.parquet")
        assert tags["dagster/code_version"]

    metadata = materialization_metadata(result, "transform/customer_totals")
    assert metadata["dagster/row_count"] == 1
    columns = metadata["dagster/column_schema"].columns
    assert [column.name for column in columns] == ["name", "revenue"]
    assert columns[0].type == "VARCHAR"
    assert metadata["seeknal/output_path"] == str(output)
    assert metadata["seeknal/engine"] == "duckdb"
    assert metadata["seeknal/duration_s"] >= 0
    assert "ref" not in metadata["seeknal/sql"] and "sum(o.amount)" in metadata["seeknal/sql"]
    preview = table_rows(metadata["seeknal/preview"])
    assert len(preview) == 1 and preview[0]["name"] == "Ana" and 32 <= preview[0]["revenue"] < 33
    assert materialization_metadata(result, "source/orders")["dagster/row_count"] == 3
    # Shown (and stored) once, on the materialization: the step's output events carry none of it.
    named = {key.replace("/", "__") for key in events}
    outputs = [e for e in result.all_events if e.is_successful_output and e.step_output_data.output_name in named]
    assert len(outputs) == len(events) and all(not event.step_output_data.metadata for event in outputs)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ('key:"transform/clean_orders"', {"transform/clean_orders"}),
        ('key:"transform/clean_orders"+', {"transform/clean_orders", "transform/customer_totals"}),
        ('+key:"transform/clean_orders"', {"transform/clean_orders", "source/orders"}),
        ('key:"source/customers" or key:"source/orders"', {"source/customers", "source/orders"}),
    ],
)
def test_a_selection_runs_exactly_the_selected_nodes(make_project, selection, expected):
    project = make_project(SHOP)
    assert materialize(project).success
    long_ago = 1_000_000_000
    for path in (project / "target/intermediate").iterdir():
        os.utime(path, (long_ago, long_ago))  # an unselected node must leave its output as it is

    result = materialize(project, selection)
    assert result.success
    assert materialized_keys(result) == expected
    rewritten = {path.name for path in (project / "target/intermediate").iterdir() if path.stat().st_mtime != long_ago}
    assert rewritten == {key.replace("/", "_") + ".parquet" for key in expected}


def test_one_failing_node_skips_its_downstream_and_fails_the_run_naming_it(make_project):
    project = make_project(
        {
            **SHOP,
            "seeknal/transforms/clean_orders.yml": """
                kind: transform
                name: clean_orders
                inputs: [{ref: source.orders}]
                transform: SELECT order_id, customer_id, amount, currency FROM ref('source.orders')
            """,
            "seeknal/transforms/customer_names.yml": """
                kind: transform
                name: customer_names
                transform: SELECT upper(name) AS name FROM source.customers
            """,
        }
    )
    result = materialize(project)
    assert not result.success
    assert materialized_keys(result) == {"source/orders", "source/customers", "transform/customer_names"}
    message = failure_messages(result)
    assert "1 Seeknal node(s) failed" in message
    assert "transform.clean_orders: statement 1 of 1 failed" in message and '"currency" not found' in message
    assert "skipped (an upstream failed): transform.customer_totals" in message
    assert not (project / "target/intermediate/transform_customer_totals.parquet").exists()
    assert duckdb.sql(
        f"SELECT name FROM '{project}/target/intermediate/transform_customer_names.parquet' ORDER BY 1"
    ).fetchall() == [("ANA",), ("BUDI",)]


def test_a_broken_project_fails_to_load_listing_every_problem(make_project):
    project = make_project(
        {
            **SHOP,
            "seeknal/transforms/typo.yml": "kind: transform\nname: typo\ntransform: SELECT * FROM ref('source.order')\n",
            "seeknal/transforms/bad.yml": "kind: transfrom\nname: bad\n",
        }
    )
    with pytest.raises(ProjectLoadError) as raised:
        build_definitions(project)
    message = str(raised.value)
    assert f"Seeknal project {project} has 2 problem(s)" in message
    assert "seeknal/transforms/typo.yml:1 | node transform.typo | field 'transform': ref('source.order')" in message
    assert "did you mean source.orders" in message
    assert "seeknal/transforms/bad.yml:1 | node transfrom.bad | field 'kind': unknown kind 'transfrom'" in message


def test_two_loads_of_one_folder_with_different_targets_each_write_their_own(make_project, tmp_path):
    project = make_project(SHOP)
    first = materialize(project, 'key:"source/orders"', target_dir=tmp_path / "first")
    second = materialize(project, 'key:"source/orders"', target_dir=tmp_path / "second")
    assert first.success and second.success
    assert (tmp_path / "first/intermediate/source_orders.parquet").is_file()
    assert (tmp_path / "second/intermediate/source_orders.parquet").is_file()

    defs_a = build_definitions(project, target_dir=tmp_path / "a")
    build_definitions(project, target_dir=tmp_path / "b")
    job = defs_a.resolve_implicit_global_asset_job_def()
    orders = dagster.AssetKey(["source", "orders"])
    assert job.execute_in_process(asset_selection=[orders]).success
    assert (tmp_path / "a/intermediate/source_orders.parquet").is_file()
    assert not (tmp_path / "b/intermediate").exists()



def test_a_run_reports_each_nodes_start_and_end_with_rows_and_duration(make_project, capfd):
    assert materialize(make_project(SHOP)).success
    progress = [line.split(" - seeknal - ", 1)[1] for line in capfd.readouterr().out.splitlines() if " - seeknal - " in line]
    assert progress[0] == "[1/4] source.customers: started"
    assert re.fullmatch(r"\[1/4\] source\.customers: 2 rows in \d+\.\d\ds", progress[1])
    assert re.fullmatch(r"\[4/4\] transform\.customer_totals: 1 row in \d+\.\d\ds", progress[-1])
    assert len(progress) == 8
