"""The real ``dagster asset materialize`` CLI, in subprocesses with their own instance (SQLite storage in a
temporary ``DAGSTER_HOME``): a later run of one node reads what an earlier run wrote, and the instance records
both runs. Each CLI call costs seconds, so there are few of them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import dagster
import duckdb
import pytest

from seeknal_dagster import load_project
from seeknal_dagster.executors import default_registry
from tests.support.cli import make_dagster_home, materialize_with_cli
from tests.support.projects import materialize
from tests.support.shop import CLEAN_ORDERS, SHOP_SOURCES

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = make_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def latest_run_ids(keys: list[str]) -> dict[str, str]:
    with dagster.DagsterInstance.get() as instance:
        return {
            key: instance.get_latest_materialization_event(dagster.AssetKey.from_user_string(key)).run_id for key in keys
        }


def test_a_later_cli_run_of_one_node_reads_the_earlier_runs_output(make_project, dagster_home, tmp_path):
    make_project(
        {
            **SHOP_SOURCES,
            **CLEAN_ORDERS,
            "seeknal/transforms/customer_totals.yml": """
                kind: transform
                name: customer_totals
                transform: SELECT customer_id, count(*) AS orders FROM transform.clean_orders GROUP BY 1
            """,
        },
        name="shop",
    )
    (tmp_path / "shop_definitions.py").write_text(
        "from pathlib import Path\n\nfrom seeknal_dagster import build_definitions\n\n"
        "defs = build_definitions(Path(__file__).parent / 'shop')\n"
    )
    keys = ["source/orders", "transform/clean_orders", "transform/customer_totals"]

    first = materialize_with_cli(tmp_path, "shop_definitions", "*")
    assert first.returncode == 0, first.stderr[-3000:]
    first_runs = latest_run_ids(keys)
    assert len(set(first_runs.values())) == 1

    # New data arrives, but only the last node is selected: it must read clean_orders as the first run wrote it.
    (tmp_path / "shop/data/orders.csv").write_text("order_id,customer_id,amount\n4,12,99\n")
    second = materialize_with_cli(tmp_path, "shop_definitions", 'key:"transform/customer_totals"')
    assert second.returncode == 0, second.stderr[-3000:]
    totals = tmp_path / "shop/target/intermediate/transform_customer_totals.parquet"
    assert duckdb.sql(f"SELECT * FROM '{totals}' ORDER BY 1").fetchall() == [(10, 2)]

    second_runs = latest_run_ids(keys)
    (second_run,) = {second_runs["transform/customer_totals"]} - set(first_runs.values())
    assert second_runs == {**first_runs, "transform/customer_totals": second_run}
    with dagster.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [dagster.DagsterRunStatus.SUCCESS] * 2
        totals_key = dagster.AssetKey(["transform", "customer_totals"])
        history = instance.fetch_materializations(totals_key, limit=10).records
        assert [record.run_id for record in history] == [second_run, first_runs["transform/customer_totals"]]
        metadata = instance.get_latest_materialization_event(totals_key).asset_materialization.metadata
        assert metadata["dagster/row_count"].value == 1


def test_the_sample_project_rematerializes_a_node_and_its_downstream(dagster_home, tmp_path):
    sample = REPOSITORY / "seeknal_project"
    if not (sample / "definitions.py").is_file():
        pytest.skip("the sample project has no definitions.py yet")
    shutil.copytree(sample, tmp_path / "seeknal_project", ignore=shutil.ignore_patterns("target", "__pycache__"))
    project = load_project(tmp_path / "seeknal_project")
    missing = sorted({node.kind.value for node in project.nodes.values() if not default_registry.has_executor(node.kind)})
    if missing:
        pytest.skip(f"the sample uses kinds that have no executor yet: {', '.join(missing)}")
    selected = {"transform.orders_enriched"} | project.graph.descendants(["transform.orders_enriched"])
    selected_keys = sorted(node_id.replace(".", "/") for node_id in selected if project.nodes[node_id].kind.value != "rule")

    # The full run goes in process (same instance, same definitions module): one CLI call fewer.
    with dagster.DagsterInstance.get() as instance:
        assert materialize(tmp_path / "seeknal_project", instance=instance).success
    first_runs = latest_run_ids(sorted(node_id.replace(".", "/") for node_id in project.nodes if node_id.split(".")[0] != "rule"))

    partial = materialize_with_cli(tmp_path, "seeknal_project.definitions", 'key:"transform/orders_enriched"+')
    assert partial.returncode == 0, partial.stderr[-3000:]
    second_runs = latest_run_ids(list(first_runs))
    rerun = {key for key in first_runs if second_runs[key] != first_runs[key]}
    assert sorted(rerun) == selected_keys
    intermediate = tmp_path / "seeknal_project/target/intermediate"
    assert (intermediate / "transform_orders_enriched.parquet").is_file()
    # The sample's Python node ran in the CLI's run too: one segment per customer who ordered.
    buyers = duckdb.sql(f"SELECT count(*) FROM '{intermediate}/transform_customer_360.parquet' WHERE order_count > 0")
    segmented = duckdb.sql(f"SELECT count(DISTINCT customer_id) FROM '{intermediate}/transform_customer_rfm_segments.parquet'")
    assert segmented.fetchall() == buyers.fetchall()


def test_the_checks_job_runs_a_projects_checks_alone_from_the_cli(make_project, dagster_home, tmp_path):
    make_project(
        {
            **SHOP_SOURCES,
            **CLEAN_ORDERS,
            "seeknal/rules/positive.yml": """
                kind: rule
                name: positive_amounts
                inputs: [{ref: source.orders}]
                rule: amount > 0
                severity: warn
            """,
        },
        name="shop",
    )
    (tmp_path / "shop_definitions.py").write_text(
        "from pathlib import Path\n\nfrom seeknal_dagster import build_definitions\n\n"
        "defs = build_definitions(Path(__file__).parent / 'shop')\n"
    )
    with dagster.DagsterInstance.get() as instance:
        assert materialize(tmp_path / "shop", instance=instance).success
    orders = dagster.AssetKey(["source", "orders"])
    checked = subprocess.run(
        ["dagster", "job", "execute", "-m", "shop_definitions", "--working-directory", str(tmp_path), "-j", "seeknal_shop_checks"],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    with dagster.DagsterInstance.get() as instance:
        [run] = instance.get_runs(limit=1)
        assert run.job_name == "seeknal_shop_checks"
        assert instance.get_latest_materialization_event(orders).run_id != run.run_id  # nothing materialized
        [evaluation] = [
            entry.dagster_event.asset_check_evaluation_data
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event and entry.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
    assert (evaluation.check_name, evaluation.passed) == ("positive_amounts", False)  # -3 is not > 0
