"""What a node's asset page shows before anything runs: its columns (names, types, the YAML's descriptions), where
each column comes from (column lineage through joins, aggregates, ``*``, CTEs, window functions and temporary
tables), a link to the YAML that defines it, its params; and what its checks show."""

from __future__ import annotations

from pathlib import Path

import dagster
import duckdb
from dagster import AnchorBasedFilePathMapping, AssetKey, link_code_references_to_git

from seeknal_dagster import build_definitions
from tests.support.projects import materialization_metadata, materialize
from tests.support.shop import SHOP_SOURCES

PAGES = {
    **SHOP_SOURCES,
    "seeknal/sources/customers.yml": """
        kind: source
        name: customers
        source: csv
        table: data/customers.csv
        columns:
          customer_id: Customer key
          name: {type: VARCHAR, description: "Full name, as typed"}
    """,
    "seeknal/transforms/orders_named.yml": """
        kind: transform
        name: orders_named
        description: Orders with the customer's name (a join).
        inputs: [{ref: source.orders}, {ref: source.customers}]
        transform: |
          SELECT o.order_id, c.name AS customer, o.amount * 2 AS doubled
          FROM ref('source.orders') o JOIN ref('source.customers') c USING (customer_id)
        columns:
          customer: Who ordered
    """,
    "seeknal/transforms/revenue.yml": """
        kind: transform
        name: revenue
        inputs: [{ref: transform.orders_named}]
        transform: |
          SELECT customer, sum(doubled) AS revenue, count(*) AS orders
          FROM ref('transform.orders_named') GROUP BY customer
    """,
    "seeknal/transforms/everything.yml": """
        kind: transform
        name: everything
        inputs: [{ref: transform.orders_named}]
        transform: SELECT * FROM ref('transform.orders_named')
    """,
    "seeknal/transforms/big_spenders.yml": """
        kind: transform
        name: big_spenders
        inputs: [{ref: transform.revenue}]
        transform: |
          WITH ranked AS (
              SELECT customer, revenue, rank() OVER (ORDER BY revenue DESC) AS position FROM transform.revenue
          )
          SELECT customer AS who, position FROM ranked WHERE position <= 10
    """,
    "seeknal/transforms/staged.yml": """
        kind: transform
        name: staged
        inputs: [{ref: source.orders}]
        transform: |
          CREATE TEMP TABLE positive AS SELECT order_id, amount FROM source.orders WHERE amount > 0;
          SELECT order_id, amount + 1 AS amount_plus_one FROM positive
    """,
    "seeknal/rules/emails.yml": """
        kind: rule
        name: amounts_look_right
        description: "Amounts match '%_@__%' *never* <b>bold</b>"
        inputs: [{ref: source.orders}]
        rule: amount > 0
        severity: warn
    """,
    "seeknal/models/spend.yml": """
        kind: model
        name: spend
        inputs: [{ref: transform.revenue}]
        training: {algorithm: linear_regression, label_column: revenue}
        output_columns: [prediction]
        params: {as_of: "2025-01-31", window: {days: 30}}
    """,
}


def specs_by_key(defs: dagster.Definitions) -> dict[str, dagster.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def columns(spec: dagster.AssetSpec) -> dict[str, tuple[str, str | None]]:
    return {column.name: (column.type, column.description) for column in spec.metadata["dagster/column_schema"].columns}


def lineage(spec: dagster.AssetSpec) -> dict[str, set[tuple[str, str]]]:
    deps = spec.metadata["dagster/column_lineage"].deps_by_column
    return {name: {(dep.asset_key.to_user_string(), dep.column_name) for dep in found} for name, found in deps.items()}


def written_schema(project: Path, node: str) -> dict[str, str]:
    """The schema of the Parquet file a run writes, read by DuckDB."""
    path = project / "target/intermediate" / f"{node.replace('.', '_')}.parquet"
    return {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}


def test_columns_and_their_descriptions_are_known_at_load_and_match_what_a_run_writes(make_project):
    project = make_project(PAGES)
    specs = specs_by_key(build_definitions(project))

    assert columns(specs["source/customers"]) == {
        "customer_id": ("BIGINT", "Customer key"),
        "name": ("VARCHAR", "Full name, as typed"),
    }
    assert columns(specs["transform/orders_named"]) == {
        "order_id": ("BIGINT", None),
        "customer": ("VARCHAR", "Who ordered"),
        "doubled": ("BIGINT", None),
    }
    assert list(columns(specs["transform/staged"])) == ["order_id", "amount_plus_one"]

    result = materialize(project, 'key:"source/*" or key:"transform/*"')
    assert result.success
    # A materialization's schema keeps the descriptions: the page does not lose them after a run.
    schema = materialization_metadata(result, "source/customers")["dagster/column_schema"]
    assert {column.name: column.description for column in schema.columns} == {
        "customer_id": "Customer key",
        "name": "Full name, as typed",
    }
    assert materialization_metadata(result, "transform/revenue")["dagster/column_lineage"] == specs["transform/revenue"].metadata["dagster/column_lineage"]
    for node in ["source.orders", "transform.orders_named", "transform.revenue", "transform.big_spenders", "transform.staged"]:
        spec = specs[node.replace(".", "/")]
        assert {name: type_name for name, (type_name, _) in columns(spec).items()} == written_schema(project, node), node


def test_column_lineage_follows_joins_aggregates_stars_ctes_windows_and_temp_tables(make_project):
    specs = specs_by_key(build_definitions(make_project(PAGES)))

    assert lineage(specs["transform/orders_named"]) == {
        "order_id": {("source/orders", "order_id")},
        "customer": {("source/customers", "name")},
        "doubled": {("source/orders", "amount")},
    }
    # An aggregate reads what it aggregates; count(*) reads no column.
    assert lineage(specs["transform/revenue"]) == {
        "customer": {("transform/orders_named", "customer")},
        "revenue": {("transform/orders_named", "doubled")},
    }
    assert lineage(specs["transform/everything"]) == {
        name: {("transform/orders_named", name)} for name in ["order_id", "customer", "doubled"]
    }
    # Through a CTE; a window function reads its ORDER BY column.
    assert lineage(specs["transform/big_spenders"]) == {
        "who": {("transform/revenue", "customer")},
        "position": {("transform/revenue", "revenue")},
    }
    assert lineage(specs["transform/staged"]) == {
        "order_id": {("source/orders", "order_id")},
        "amount_plus_one": {("source/orders", "amount")},
    }


def test_a_second_load_reuses_the_planned_columns_and_an_edit_replans_only_what_it_changes(make_project):
    project = make_project(PAGES)
    build_definitions(project)
    cache = project / "target/seeknal_dagster/columns.json"
    assert cache.is_file()

    path = project / "seeknal/transforms/orders_named.yml"
    path.write_text(path.read_text().replace("o.amount * 2 AS doubled", "o.amount * 2 AS doubled, o.amount AS raw_amount"))
    specs = specs_by_key(build_definitions(project))
    assert list(columns(specs["transform/everything"])) == ["order_id", "customer", "doubled", "raw_amount"]
    assert lineage(specs["transform/everything"])["raw_amount"] == {("transform/orders_named", "raw_amount")}


def test_code_references_point_at_each_nodes_yaml_and_become_git_links(make_project):
    project = make_project(PAGES)
    defs = build_definitions(project)
    specs = specs_by_key(defs)
    [reference] = specs["transform/revenue"].metadata["dagster/code_references"].code_references
    assert Path(reference.file_path) == project / "seeknal/transforms/revenue.yml"
    assert reference.line_number == 1

    # The README's recipe: Dagster's link_code_references_to_git over the definitions' assets.
    linked = dagster.Definitions(
        assets=link_code_references_to_git(
            defs.assets,
            git_url="https://github.com/acme/shop",
            git_branch="main",
            file_path_mapping=AnchorBasedFilePathMapping(
                local_file_anchor=project / "seeknal_project.yml",
                file_anchor_path_in_repository="pipelines/shop/seeknal_project.yml",
            ),
        ),
        asset_checks=defs.asset_checks,
        resources=defs.resources,
        sensors=defs.sensors,
        schedules=defs.schedules,
        jobs=defs.jobs,
        executor=defs.executor,
    )
    [url] = specs_by_key(linked)["transform/revenue"].metadata["dagster/code_references"].code_references
    assert url.url == "https://github.com/acme/shop/tree/main/pipelines/shop/seeknal/transforms/revenue.yml#L1"


def test_params_are_json_a_models_kind_is_sklearn_and_check_text_is_not_read_as_markdown(make_project):
    defs = build_definitions(make_project(PAGES))
    model = specs_by_key(defs)["model/spend"]
    assert model.kinds == {"seeknal", "sklearn"}
    assert model.metadata["seeknal/params"] == dagster.MetadataValue.json({"as_of": "2025-01-31", "window": {"days": 30}})

    [check] = [spec for spec in defs.resolve_asset_graph().asset_check_keys]
    check_spec = defs.resolve_asset_graph().get_check_spec(check)
    # Markdown would drop the underscores and asterisks and swallow the tag; escaped, it reads as written.
    assert check_spec.description == r"Amounts match '%\_@\_\_%' \*never\* \<b\>bold\</b\>"
    assert check_spec.metadata["seeknal/rule"] == dagster.MetadataValue.json("amount > 0")


def test_a_translator_adding_a_dependency_keeps_the_sources_data_fingerprint(make_project):
    """The runner finds a source's observed data asset by the spec's metadata, not as "its only dep"."""

    class ExtraDependency(__import__("seeknal_dagster").SeeknalTranslator):
        def get_asset_spec(self, project, node_id):
            spec = super().get_asset_spec(project, node_id)
            return spec.replace_attributes(deps=[*spec.deps, AssetKey("upstream_of_everything")]) if node_id == "source.orders" else spec

    project = make_project(SHOP_SOURCES)
    defs = build_definitions(project, translator=ExtraDependency())
    defs = dagster.Definitions.merge(defs, dagster.Definitions(assets=[dagster.AssetSpec("upstream_of_everything")]))
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(asset_selection=[AssetKey(["source", "orders"])])
    [event] = result.get_asset_materialization_events()
    materialization = event.step_materialization_data.materialization
    assert "seeknal/source_data_read" in materialization.metadata
    assert materialization.tags["dagster/input_data_version/source_data/orders"] == materialization.metadata["seeknal/source_data_read"].value
