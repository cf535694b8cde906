"""``seeknal-dagster plan`` and ``seeknal-dagster run --changed``: what changed since the runs the Dagster
instance recorded (new nodes, edited definitions, new source data, re-materialized upstreams), and exactly that
run, with its downstream."""

from __future__ import annotations

import re

import dagster
import pytest
from dagster._core.definitions.data_version import StaleStatus

from seeknal_dagster import build_definitions
from seeknal_dagster.cli import main
from tests.support.operations import append, tick
from tests.support.projects import materialize
from tests.test_dagster_layer import stale_status
from tests.test_operations_sources import TWO_CHAINS

ALL_NODES = {"source.orders", "source.stock", "transform.big_orders", "transform.order_total", "transform.stock_total"}


def plan(capsys, project) -> dict[str, str]:
    """Node id → reasons, as ``seeknal-dagster plan`` prints them."""
    capsys.readouterr()  # what ran before (a materialization's per-node progress lines) is not the plan's
    assert main(["plan", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"Seeknal project 'project': \d+ of 5 node\(s\) would run", lines[0])
    return dict(line.split(maxsplit=1) for line in lines[1:] if line.startswith("  "))


def latest_runs(instance: dagster.DagsterInstance) -> dict[str, str]:
    runs = {}
    for node_id in ALL_NODES:
        event = instance.get_latest_materialization_event(dagster.AssetKey(node_id.split(".")))
        runs[node_id] = event.run_id if event else None
    return runs


def run_changed(capsys, project) -> str:
    assert main(["run", "--changed", str(project)]) == 0
    return capsys.readouterr().out


def test_a_fresh_instance_plans_everything_and_a_changed_run_leaves_nothing_to_do(make_project, capsys):
    project = make_project(TWO_CHAINS)
    with dagster.instance_for_test() as instance:
        assert plan(capsys, project) == dict.fromkeys(ALL_NODES, "new: never materialized")
        assert "run" in run_changed(capsys, project)
        assert len(set(latest_runs(instance).values())) == 1
        assert plan(capsys, project) == {}
        assert "nothing to run" in run_changed(capsys, project)


def test_new_source_data_plans_the_source_and_its_downstream_only(make_project, capsys):
    project = make_project(TWO_CHAINS)
    with dagster.instance_for_test() as instance:
        run_changed(capsys, project)
        before = latest_runs(instance)
        events = len(instance.all_logs(before["source.orders"]))

        append(project / "data/orders.csv", "3,30\n")
        assert plan(capsys, project) == {
            "source.orders": "upstream data changed (new data in data/orders.csv)",
            "transform.big_orders": "upstream changed (source.orders)",
            "transform.order_total": "upstream changed (transform.big_orders)",
        }
        assert len(instance.get_run_records()) == 1  # planning runs and records nothing
        assert len(instance.all_logs(before["source.orders"])) == events

        run_changed(capsys, project)
        after = latest_runs(instance)
        assert {node for node in ALL_NODES if after[node] != before[node]} == {
            "source.orders", "transform.big_orders", "transform.order_total"
        }
        assert plan(capsys, project) == {}


def test_a_plain_materialization_without_observations_plans_only_what_changed_after_it(make_project, capsys):
    project = make_project(TWO_CHAINS)
    with dagster.instance_for_test() as instance:
        assert materialize(project, instance=instance).success  # as `dagster asset materialize --select '*'`
        assert plan(capsys, project) == {}

        append(project / "data/orders.csv", "3,30\n")
        assert set(plan(capsys, project)) == {"source.orders", "transform.big_orders", "transform.order_total"}


def test_an_edited_definition_plans_the_node_and_its_downstream(make_project, capsys):
    project = make_project(TWO_CHAINS)
    with dagster.instance_for_test():
        run_changed(capsys, project)
        path = project / "seeknal/transforms/big_orders.yml"
        path.write_text(path.read_text().replace("amount > 15", "amount > 5"))
        assert plan(capsys, project) == {
            "transform.big_orders": "definition changed",
            "transform.order_total": "upstream changed (transform.big_orders)",
        }
        # A description is not part of what a node computes.
        stock = project / "seeknal/sources/stock.yml"
        stock.write_text(stock.read_text() + "description: Units in the warehouse\n")
        assert set(plan(capsys, project)) == {"transform.big_orders", "transform.order_total"}


def test_an_upstream_materialized_on_its_own_plans_what_read_its_old_data(make_project, capsys):
    project = make_project(TWO_CHAINS)
    with dagster.instance_for_test() as instance:
        run_changed(capsys, project)
        append(project / "data/stock.csv", "B,7\n")
        assert materialize(project, 'key:"source_data/stock" or key:"source/stock"', instance=instance).success
        assert plan(capsys, project) == {"transform.stock_total": "upstream data changed (source.stock, re-materialized since)"}


def test_plan_needs_an_instance_and_a_valid_project(make_project, capsys, monkeypatch):
    project = make_project(TWO_CHAINS)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["plan", str(project)]) == 1
    assert "set DAGSTER_HOME" in capsys.readouterr().err

    (project / "seeknal/transforms/broken.yml").write_text("kind: transform\nname: broken\ninputs: [{ref: source.nope}]\ntransform: SELECT 1\n")
    with dagster.instance_for_test():
        assert main(["run", "--changed", str(project)]) == 1
    assert "source.nope" in capsys.readouterr().err


def test_run_without_changed_is_refused(make_project, capsys):
    with pytest.raises(SystemExit):
        main(["run", str(make_project(TWO_CHAINS))])
    assert "--changed" in capsys.readouterr().err


def test_after_the_quick_start_the_ui_and_plan_agree_that_nothing_changed(make_project, capsys):
    """`dagster asset materialize --select '*'` (which leaves out the observed source_data assets), then the
    sensor's first tick observes every source: Dagster shows every asset fresh, not "Unsynced", as plan says."""
    project = make_project(TWO_CHAINS)
    with dagster.instance_for_test() as instance:
        defs = build_definitions(project)
        star = dagster.AssetSelection.from_coercible(["*"]).resolve(defs.resolve_asset_graph())
        assert not any(key.path[0] == "source_data" for key in star)
        assert materialize(project, " or ".join(f'key:"{key.to_user_string()}"' for key in star), instance=instance).success

        first = tick(project, instance, cursor=None)
        assert {event.asset_key.to_user_string() for event in first.asset_events} == {"source_data/orders", "source_data/stock"}
        for key in ["source/orders", "source/stock", "transform/big_orders", "transform/order_total"]:
            assert stale_status(instance, project, key) == (StaleStatus.FRESH, []), key
        assert plan(capsys, project) == {}

        append(project / "data/orders.csv", "3,30\n")
        tick(project, instance, cursor=first.cursor)
        assert stale_status(instance, project, "source/orders") == (
            StaleStatus.STALE,
            ["has a new dependency data version (source_data/orders)"],
        )
        assert set(plan(capsys, project)) == {"source.orders", "transform.big_orders", "transform.order_total"}
