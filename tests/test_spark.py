"""Nodes with ``engine: spark`` run on a real Spark cluster (started on loopback), beside DuckDB nodes in one graph.

The cluster tests share one cluster for the session (``spark_cluster`` in conftest) and keep their data tiny; the
configuration tests at the end need no cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from seeknal_dagster import build_definitions
from seeknal_dagster.engines.outputs import output_fingerprint, parquet_files
from seeknal_dagster.project.errors import ProjectLoadError
from tests.support.projects import failure_messages, materialization_metadata, materialize, materialized_keys
from tests.support.spark_cluster import master_state

ORDERS = (
    "order_id,customer_id,amount,ordered_at,status\n"
    "1,10,25.5,2024-03-01 10:00:00,complete\n"
    "2,11,-3.25,2024-03-02 11:00:00,complete\n"
    "3,10,7.75,2024-03-20 09:30:00,complete\n"
    "4,12,120.0,2024-01-05 08:00:00,complete\n"
    "5,11,40.0,2024-03-30 23:00:00,cancelled\n"
    "6,12,60.5,2024-03-29 12:00:00,complete\n"
)
CUSTOMERS = "customer_id,name\n10,Ana\n11,Budi\n12,Citra\n"

#: A graph crossing engines: DuckDB → Spark (transform, aggregation, second-order aggregation, feature group,
#: profile and rules on its output) → DuckDB. Its SQL means the same in both dialects, so the same files with the
#: engine lines removed are the all-DuckDB run it must equal.
MIXED_GRAPH = {
    "data/orders.csv": ORDERS,
    "data/customers.csv": CUSTOMERS,
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/sources/customers.yml": "kind: source\nname: customers\nsource: csv\ntable: data/customers.csv\n",
    "seeknal/transforms/clean_orders.yml": """
        kind: transform
        name: clean_orders
        inputs: [{ref: source.orders}]
        transform: |
          SELECT order_id, customer_id, amount, CAST(ordered_at AS DATE) AS order_date,
                 CAST('2024-03-31' AS DATE) AS application_date
          FROM ref('source.orders') WHERE status <> 'cancelled'
    """,
    "seeknal/transforms/customer_totals.yml": """
        kind: transform
        name: customer_totals
        engine: spark
        inputs: [{ref: transform.clean_orders}, {ref: source.customers}]
        transform: |
          CREATE TEMP VIEW kept AS SELECT * FROM input_0 WHERE amount > 0;
          SELECT c.customer_id, c.name, count(*) AS orders, sum(k.amount) AS total, max(k.order_date) AS last_order
          FROM kept k JOIN ref('source.customers') c ON k.customer_id = c.customer_id
          GROUP BY c.customer_id, c.name
    """,
    "seeknal/aggregations/activity.yml": """
        kind: aggregation
        name: activity
        dagster: {engine: spark}
        source: transform.clean_orders
        id_col: customer_id
        feature_date_col: order_date
        application_date_col: application_date
        features:
          - name: amount
            basic: [sum, count]
            rolling: [{window: [7, 30], aggs: [sum]}]
    """,
    "seeknal/second_order_aggregations/history.yml": """
        kind: second_order_aggregation
        name: history
        engine: spark
        source: transform.clean_orders
        id_col: customer_id
        feature_date_col: order_date
        application_date_col: application_date
        features:
          amount: {basic: [sum, max], window: [0, 29]}
    """,
    "seeknal/feature_groups/customer_features.yml": """
        kind: feature_group
        name: customer_features
        engine: spark
        entity: {name: customer, join_keys: [customer_id]}
        inputs: [{ref: transform.customer_totals}]
        materialization: {event_time_col: last_order}
        features: {orders: {dtype: int}, total: {dtype: float}}
    """,
    "seeknal/profiles/totals.yml": "kind: profile\nname: totals\ninputs: [{ref: transform.customer_totals}]\n",
    "seeknal/rules/big_spenders.yml": """
        kind: rule
        name: big_spenders
        inputs: [{ref: transform.customer_totals}]
        severity: warn
        rule: total > 50
    """,
    "seeknal/rules/totals_valid.yml": """
        kind: rule
        name: totals_valid
        inputs: [{ref: transform.customer_totals}]
        rule:
          - {type: null, columns: [name, total]}
          - {type: uniqueness, columns: [customer_id]}
          - {type: accepted_values, column: name, values: [Ana, Citra]}
    """,
    "seeknal/transforms/report.yml": """
        kind: transform
        name: report
        transform: |
          SELECT t.name, t.total, a.amount_sum_30d, h.amount_MAX_0_29
          FROM ref('transform.customer_totals') t
          LEFT JOIN ref('aggregation.activity') a USING (customer_id)
          LEFT JOIN ref('second_order_aggregation.history') h USING (customer_id)
    """,
}
SPARK_NODES = {
    "transform.customer_totals",
    "aggregation.activity",
    "second_order_aggregation.history",
    "feature_group.customer_features",
    "profile.totals",
}


def without_spark(files: dict[str, str]) -> dict[str, str]:
    return {
        path: "\n".join(line for line in text.splitlines() if "engine: spark" not in line)
        for path, text in files.items()
    }


def output(project: Path, node_id: str) -> Path:
    kind, _, name = node_id.partition(".")
    return project / "target" / "intermediate" / f"{kind}_{name}.parquet"


def rows(project: Path, node_id: str) -> list[tuple]:
    path = output(project, node_id)
    scan = path / "*.parquet" if path.is_dir() else path
    return duckdb.sql(f"SELECT * FROM read_parquet('{scan}') ORDER BY ALL").fetchall()


def check_results(result) -> dict[str, dict]:
    return {
        evaluation.check_name: {"passed": evaluation.passed, **{k: v.value for k, v in evaluation.metadata.items()}}
        for evaluation in result.get_asset_check_evaluations()
    }


@pytest.mark.spark
def test_a_graph_crossing_engines_equals_the_all_duckdb_run_and_runs_on_the_cluster(
    make_project, spark_cluster, spark_connect
):
    spark_project = make_project(MIXED_GRAPH, name="mixed")
    duckdb_project = make_project(without_spark(MIXED_GRAPH), name="all_duckdb")
    tasks_before = sum(spark_cluster.executor_tasks().values())

    result = materialize(spark_project, spark_config=spark_connect)
    assert result.success, failure_messages(result)
    assert materialize(duckdb_project).success

    # (The profile's statistics are text, formatted by each engine: compared as numbers below.)
    for node_id in [*SPARK_NODES - {"profile.totals"}, "transform.report", "transform.clean_orders"]:
        assert rows(spark_project, node_id) == rows(duckdb_project, node_id), node_id
    assert len(rows(spark_project, "transform.report")) == 2  # Budi's only order is a refund
    # Spark wrote directories of part files at the usual paths; DuckDB a file. (A profile's statistics and a feature
    # group's stores are computed on Spark and written by this process.)
    written_locally = {"profile.totals", "feature_group.customer_features"}
    assert all(output(spark_project, node_id).is_dir() for node_id in SPARK_NODES - written_locally)
    assert output(spark_project, "transform.report").is_file()
    # The work ran on the cluster's executor (the worker's, not the driver), and says so in its metadata.
    assert sum(spark_cluster.executor_tasks().values()) > tasks_before
    totals = materialization_metadata(result, "transform/customer_totals")
    assert totals["seeknal/engine"] == "spark" and totals["dagster/row_count"] == 2
    assert [column.name for column in totals["dagster/column_schema"].columns] == [
        "customer_id", "name", "orders", "total", "last_order",
    ]
    assert "Ana" in [record.data["name"] for record in totals["seeknal/preview"].records]
    assert materialization_metadata(result, "transform/report")["seeknal/engine"] == "duckdb"
    for key in ("aggregation/activity", "second_order_aggregation/history", "feature_group/customer_features"):
        assert materialization_metadata(result, key)["seeknal/engine"] == "spark", key

    # Rules and the profile on the Spark output ran on Spark, with the verdicts pandas gives.
    frame = pd.read_parquet(output(spark_project, "transform.customer_totals"))
    checks = check_results(result)
    assert checks["big_spenders"]["engine"] == "spark"
    assert checks["big_spenders"]["violations"] == int((frame["total"] <= 50).sum())
    assert checks["totals_valid"]["passed"] and checks["totals_valid"]["violations"] == 0
    assert materialization_metadata(result, "profile/totals")["seeknal/engine"] == "spark"
    statistics = {(column, metric): value for column, metric, value, _ in rows(spark_project, "profile.totals")}
    assert float(statistics[("total", "sum")]) == pytest.approx(frame["total"].sum())
    assert float(statistics[("total", "p50")]) == pytest.approx(frame["total"].quantile(0.5))
    assert float(statistics[("total", "stddev")]) == pytest.approx(frame["total"].std())
    assert statistics[("_table_", "row_count")] == "2"
    top = {(column, metric): detail for column, metric, _, detail in rows(spark_project, "profile.totals")}
    top_names = sorted((item["value"], item["count"], item["percent"]) for item in json.loads(top[("name", "top_values")]))
    assert top_names == [("Ana", 1, 50.0), ("Citra", 1, 50.0)]

    # A selection reading only Spark-written upstream outputs runs alone.
    fingerprint = output_fingerprint(output(spark_project, "transform.customer_totals"))
    alone = materialize(spark_project, 'key:"transform/report"')
    assert alone.success and materialized_keys(alone) == {"transform/report"}
    assert rows(spark_project, "transform.report") == rows(duckdb_project, "transform.report")
    # Rewriting a Spark output with the same data keeps its data version.
    again = materialize(spark_project, 'key:"transform/customer_totals"', spark_config=spark_connect)
    assert again.success
    assert output_fingerprint(output(spark_project, "transform.customer_totals")) == fingerprint


@pytest.mark.spark
def test_a_spark_node_failing_mid_write_keeps_its_previous_output(make_project, spark_connect):
    files = {
        "data/orders.csv": ORDERS,
        # A name Spark cannot take bare: its view is quoted.
        "seeknal/sources/orders.yml": "kind: source\nname: raw-orders\nsource: csv\ntable: data/orders.csv\n",
        "seeknal/transforms/ids.yml": """
            kind: transform
            name: ids
            engine: spark
            transform: SELECT order_id FROM ref('source.raw-orders')
        """,
    }
    project = make_project(files)
    assert materialize(project, spark_config=spark_connect).success
    previous = {part.name: part.read_bytes() for part in parquet_files(output(project, "transform.ids"))}

    # The query is valid; a task fails on the executor while the output is being written.
    (project / "seeknal/transforms/ids.yml").write_text(
        "kind: transform\nname: ids\nengine: spark\n"
        "transform: SELECT CASE WHEN order_id = 3 THEN raise_error('order 3 is broken') ELSE order_id END AS order_id "
        "FROM ref('source.raw-orders')\n"
    )
    result = materialize(project, 'key:"transform/ids"', spark_config=spark_connect)
    assert not result.success
    message = failure_messages(result)
    assert "transform.ids: statement 1 of 1 failed" in message and "order 3 is broken" in message
    assert "JVM stacktrace" not in message
    assert {part.name: part.read_bytes() for part in parquet_files(output(project, "transform.ids"))} == previous
    assert sorted(path.name for path in (project / "target/intermediate").iterdir()) == [
        "source_raw-orders.parquet", "transform_ids.parquet",
    ]


@pytest.mark.spark
def test_a_spark_node_keeps_run_values_literal_and_secrets_out_of_its_errors(make_project, spark_connect, monkeypatch):
    """The SQL rules of the README's Security model hold on Spark, whose string literals read backslash escapes."""
    monkeypatch.setenv("SEEKNAL_SPARK_TEST_TOKEN", "tok-7f3a9c")
    files = {
        "data/orders.csv": ORDERS,
        "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
        "seeknal/transforms/by_status.yml": """
            kind: transform
            name: by_status
            engine: spark
            params: {wanted: "{{ status }}"}
            transform: SELECT '{{ wanted }}' AS asked, count(*) AS orders FROM ref('source.orders') WHERE status = '{{ wanted }}'
        """,
        "seeknal/transforms/guarded.yml": """
            kind: transform
            name: guarded
            engine: spark
            transform: SELECT raise_error(concat('token ', '{{ env:SEEKNAL_SPARK_TEST_TOKEN }}', ' refused')) AS x
        """,
    }
    project = make_project(files)
    hostile = "x\\' OR 1=1 --"  # a quote DuckDB's escaping would leave open on Spark
    result = materialize(project, spark_config=spark_connect, params={"status": hostile})
    assert materialized_keys(result) >= {"transform/by_status"}
    assert rows(project, "transform.by_status") == [(hostile, 0)]  # one literal, compared as a whole
    message = failure_messages(result)
    assert "transform.guarded: statement 1 of 1 failed" in message and "refused" in message
    assert "tok-7f3a9c" not in message


@pytest.mark.spark
def test_classic_spark_on_the_cluster_through_the_dagster_cli(make_project, spark_cluster, tmp_path):
    """A classic session (a JVM driver in the run's process, ``spark.master`` = the cluster) in the real ``dagster``
    CLI. It runs in a process of its own: this process holds a Spark Connect session, and the two cannot share one."""
    project = make_project(
        {
            "data/orders.csv": ORDERS,
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
            "seeknal/transforms/per_customer.yml": """
                kind: transform
                name: per_customer
                transform: SELECT customer_id, sum(amount) AS total FROM ref('source.orders') GROUP BY customer_id
            """,
        }
    )
    config = {
        "spark.master": spark_cluster.master_url,
        "spark.app.name": "seeknal-classic-test",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.memory": "512m",
        "spark.executor.memory": "512m",
        "spark.cores.max": "1",
        "spark.ui.enabled": "false",
    }
    module = tmp_path / "classic_defs.py"
    module.write_text(
        "from seeknal_dagster import build_definitions\n"
        f"defs = build_definitions({str(project)!r}, spark_config={config!r}, default_engine='spark')\n"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SPARK_", "PYSPARK_"))}
    environment.update(SPARK_LOCAL_IP="127.0.0.1", DAGSTER_HOME=str(tmp_path))
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(module), "--select", "*"],
        cwd=Path(__file__).resolve().parents[1],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert output(project, "transform.per_customer").is_dir()
    expected = duckdb.sql(
        f"SELECT customer_id, sum(amount) FROM read_csv('{project}/data/orders.csv') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows(project, "transform.per_customer") == expected
    # The master saw the run's application come and go.
    state = master_state(spark_cluster.master_ui)
    assert any(app["name"] == "seeknal-classic-test" for app in state.get("completedapps", []))


# Configuration: no cluster needed --------------------------------------------------------------------------


def test_engine_spark_where_it_cannot_run_and_statements_reaching_the_cluster_fail_to_load(make_project):
    project = make_project(
        {
            "data/orders.csv": ORDERS,
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\nengine: spark\n",
            "seeknal/transforms/t.yml": "kind: transform\nname: t\nengine: flink\ntransform: SELECT 1 AS x\n",
            "seeknal/transforms/jar.yml": (
                "kind: transform\nname: jar\nengine: spark\ntransform: ADD JAR '/tmp/udfs.jar'; SELECT 1 AS x\n"
            ),
        }
    )
    with pytest.raises(ProjectLoadError) as raised:
        build_definitions(project)
    text = str(raised.value)
    assert "ADD JAR is not allowed" in text and "jar.yml" in text
    assert "engine: spark is not supported on a source" in text and "orders.yml" in text
    assert "engine 'flink' is not supported (use duckdb or spark)" in text and "t.yml" in text


def asset_kinds(defs) -> dict[str, set[str]]:
    return {
        spec.key.to_user_string(): set(spec.kinds)
        for assets_def in defs.assets
        if hasattr(assets_def, "specs")
        for spec in assets_def.specs
    }


def test_the_kind_badge_shows_where_a_node_runs_and_the_default_engine_applies(make_project):
    project = make_project(MIXED_GRAPH)
    kinds = asset_kinds(build_definitions(project))
    assert "spark" in kinds["transform/customer_totals"] and "duckdb" not in kinds["transform/customer_totals"]
    assert "spark" in kinds["aggregation/activity"]  # named under dagster:
    assert "spark" in kinds["profile/totals"]  # where the output it reads is
    assert "duckdb" in kinds["transform/clean_orders"]

    kinds = asset_kinds(build_definitions(project, default_engine="spark"))
    assert "spark" in kinds["transform/clean_orders"]  # no engine named: the project's default
    assert "duckdb" in kinds["source/orders"]  # a CSV source never runs on Spark


def test_a_spark_node_without_spark_configured_fails_naming_the_node(make_project):
    project = make_project(
        {
            "data/orders.csv": ORDERS,
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
            "seeknal/transforms/t.yml": "kind: transform\nname: t\nengine: spark\ntransform: SELECT * FROM source.orders\n",
        }
    )
    result = materialize(project)
    assert not result.success
    message = failure_messages(result)
    assert "transform.t: engine: spark" in message and "no Spark engine is configured" in message
    assert materialized_keys(result) == {"source/orders"}


def test_a_directory_output_replaces_a_file_output_atomically_and_back(tmp_path):
    from seeknal_dagster.engines.outputs import atomic_path

    final = tmp_path / "transform_t.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{final}' (FORMAT parquet)")
    with atomic_path(final) as temporary:
        temporary.mkdir()
        for part in range(2):
            duckdb.sql(f"COPY (SELECT {part} AS x) TO '{temporary}/part-{part}.parquet' (FORMAT parquet)")
    assert final.is_dir()
    assert duckdb.sql(f"SELECT sum(x) FROM read_parquet('{final}/*.parquet')").fetchall() == [(1,)]
    version = output_fingerprint(final)
    with atomic_path(final) as temporary:
        duckdb.sql(f"COPY (SELECT 7 AS x) TO '{temporary}' (FORMAT parquet)")
    assert final.is_file() and output_fingerprint(final) != version
    assert sorted(path.name for path in tmp_path.iterdir()) == ["transform_t.parquet"]
