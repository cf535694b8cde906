"""A Seeknal project declared as a Dagster component in a defs.yaml (the real ``dg`` CLI: test_dg_cli.py)."""

import os

import dagster
from dagster.components.testing import create_defs_folder_sandbox

from seeknal_dagster import SeeknalProjectComponent


def test_component_declared_in_yaml_builds_the_project_assets(make_project):
    project = make_project(
        {
            "data/orders.csv": "order_id,amount\n1,10\n",
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
            "seeknal/transforms/big.yml": """
                kind: transform
                name: big
                inputs: [{ref: source.orders}]
                transform: SELECT * FROM ref('source.orders') WHERE amount > 5
            """,
        }
    )
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=SeeknalProjectComponent,
            defs_yaml_contents={
                "type": "seeknal_dagster.SeeknalProjectComponent",
                "attributes": {"project": str(project), "key_prefix": ["shop"]},
            },
        )
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, SeeknalProjectComponent)
            keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"shop/source/orders", "shop/transform/big"} <= keys


def test_a_component_may_load_a_project_partially(make_project):
    project = make_project(
        {
            "data/orders.csv": "order_id,amount\n1,10\n",
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
            "seeknal/transforms/lost.yml": "kind: transform\nname: lost\ntransform: SELECT * FROM ref('source.gone')\n",
        }
    )
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=SeeknalProjectComponent,
            defs_yaml_contents={
                "type": "seeknal_dagster.SeeknalProjectComponent",
                "attributes": {"project": str(project), "allow_partial": True},
            },
        )
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (_, defs):
            graph = defs.resolve_asset_graph()
            lost = graph.get(dagster.AssetKey(["transform", "lost"]))
            assert not lost.is_executable and "source.gone" in lost.to_asset_spec().description
            assert graph.get(dagster.AssetKey(["source", "orders"])).is_executable


def test_translation_templates_each_nodes_asset_and_paths_are_relative_to_the_defs_folder(make_project):
    project = make_project(
        {
            "data/orders.csv": "order_id,amount\n1,10\n",
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\ntags: [raw]\n",
            "seeknal/transforms/big.yml": """
                kind: transform
                name: big
                owner: ana@shop.example
                tags: [gold]
                inputs: [{ref: source.orders}]
                transform: SELECT * FROM ref('source.orders') WHERE amount > 5
            """,
        }
    )
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=SeeknalProjectComponent,
            defs_yaml_contents={
                "type": "seeknal_dagster.SeeknalProjectComponent",
                "attributes": {
                    "project": os.path.relpath(project, sandbox.defs_folder_path / "seeknal"),
                    "target_dir": "outputs",
                    "translation": {
                        "key": "analytics/{{ node.name }}",
                        "group_name": "{{ node.kind }}s",
                        "owners": ["team:{{ node.tags[0] }}"],
                        "tags": {"seeknal_kind": "{{ node.kind }}"},
                        "kinds": ["seeknal", "{{ node.tags[0] }}"],
                        "description": "{{ node.id }} from {{ node.file }}",
                    },
                },
            },
            defs_path="seeknal",
        )
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (_, defs):
            specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
            big = specs["analytics/big"]
            assert big.group_name == "transforms"
            assert big.owners == ["team:gold"]
            assert big.tags["seeknal_kind"] == "transform"
            assert big.kinds == {"seeknal", "gold"}
            assert big.description == "transform.big from seeknal/transforms/big.yml"
            assert [dep.asset_key.to_user_string() for dep in big.deps] == ["analytics/orders"]
            assert defs.resolve_implicit_global_asset_job_def().execute_in_process().success
            assert (defs_path / "outputs/intermediate/transform_big.parquet").is_file()
