"""semantic_model and metric nodes: loaded with correct edges, validated against the data, shown as metadata."""

from __future__ import annotations

import re

import dagster
import pytest

from seeknal_dagster import build_definitions, load_project
from seeknal_dagster.executors import ExecutorExecutionError
from tests.support.projects import (
    load_problem,
    materialization_metadata,
    materialize,
    materialized_keys,
    run_node,
    table_rows,
)

SEMANTIC_MODEL = """
    kind: semantic_model
    name: orders
    description: Orders for the BI layer.
    model: "ref('transform.clean_order')"
    default_time_dimension: ordered_on
    entities:
      - {name: order_id, type: primary}
      - {name: customer, type: foreign}
    dimensions:
      - {name: ordered_on, type: time, expr: CAST(ordered_on AS DATE), time_granularity: day}
      - {name: channel, type: categorical}
    measures:
      - {name: revenue, expr: amount, agg: sum}
      - {name: order_count, expr: order_id, agg: count}
      - {name: web_revenue, expr: amount, agg: sum, filters: ["channel = 'web'"]}
"""


def semantic_files(semantic_model: str = SEMANTIC_MODEL, **metrics: str) -> dict[str, str]:
    files = {
        "data/orders.csv": "order_id,customer,channel,amount,ordered_on\n1,ann,web,10,2025-12-01\n2,bob,app,20,2025-12-02\n",
        "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
        "seeknal/transforms/clean_order.yml": """
            kind: transform
            name: clean_order
            inputs: [{ref: source.orders}]
            transform: SELECT * FROM ref('source.orders')
        """,
        "seeknal/semantic/orders.yml": semantic_model,
        "seeknal/metrics/revenue.yml": "kind: metric\nname: total_revenue\ntype: simple\nmeasure: revenue\n",
    }
    files.update({f"seeknal/metrics/{name}.yml": text for name, text in metrics.items()})
    return files


def test_semantic_model_and_metrics_load_with_a_correct_edge_and_show_their_definition(make_project):
    project = make_project(
        semantic_files(
            average_order="kind: metric\nname: average_order\ntype: ratio\nnumerator: revenue\ndenominator: order_count\n",
            revenue_growth="""
                kind: metric
                name: revenue_growth
                type: derived
                expr: current - previous
                inputs:
                  - {metric: total_revenue, alias: current}
                  - {metric: total_revenue, alias: previous, offset: 1 month}
            """,
        )
    )
    loaded = load_project(project)
    assert loaded.nodes["semantic_model.orders"].upstream == ["transform.clean_order"]  # Seeknal's is 'clean_orde'
    assert loaded.nodes["metric.revenue_growth"].upstream == []
    graph = build_definitions(project).resolve_asset_graph()
    semantic_spec = graph.get(dagster.AssetKey(["semantic_model", "orders"])).to_asset_spec()
    assert {dep.asset_key for dep in semantic_spec.deps} == {dagster.AssetKey(["transform", "clean_order"])}

    result = materialize(project)

    assert result.success
    assert {"semantic_model/orders", "metric/total_revenue", "metric/average_order", "metric/revenue_growth"} <= (
        materialized_keys(result)
    )
    semantic = materialization_metadata(result, "semantic_model/orders")
    assert semantic["seeknal/model"] == "transform.clean_order"
    assert semantic["seeknal/definition"]["measures"][0] == {"name": "revenue", "expr": "amount", "agg": "sum"}
    assert {"role": "dimension", "name": "ordered_on", "type": "time", "expression": "CAST(ordered_on AS DATE)", "data type": "DATE"} in table_rows(semantic["seeknal/semantic_model"])
    metric = materialization_metadata(result, "metric/average_order")
    assert metric["seeknal/measures"] == {"revenue": ["semantic_model.orders"], "order_count": ["semantic_model.orders"]}
    assert metric["seeknal/metric_type"] == "ratio"
    assert not list((project / "target/intermediate").glob("semantic_model_*")) + list(
        (project / "target/intermediate").glob("metric_*")
    )


@pytest.mark.parametrize(
    "metric, message",
    [
        ("kind: metric\nname: m\ntype: simple\nmeasure: profit\n", "measure 'profit' is not a measure of any semantic model"),
        ("kind: metric\nname: m\ntype: ratio\nnumerator: revenue\n", "a ratio metric needs denominator"),
        ("kind: metric\nname: m\ntype: gauge\nmeasure: revenue\n", "unknown metric type 'gauge'"),
        ("kind: metric\nname: m\ntype: derived\nexpr: a\ninputs: [{metric: nope, alias: a}]\n", "input metric 'nope'"),
    ],
)
def test_invalid_metrics_fail_validation(make_project, metric, message):
    project = make_project(semantic_files(m=metric))

    assert message in load_problem(project, "metric.m")


def test_a_semantic_model_that_does_not_fit_its_data_fails_naming_the_field(make_project):
    project = make_project(semantic_files(SEMANTIC_MODEL.replace("expr: amount, agg: sum}", "expr: price, agg: sum}", 1)))
    for node_id in ("source.orders", "transform.clean_order"):
        assert run_node(project, node_id).is_success()

    with pytest.raises(ExecutorExecutionError) as raised:
        run_node(project, "semantic_model.orders")

    assert "measures 'revenue' does not fit transform.clean_order's output" in raised.value.message
    assert "price" in raised.value.message


@pytest.mark.parametrize(
    "change, message",
    [
        (("type: primary", "type: main"), "type 'main' is not one of"),
        (("agg: count", "agg: tally"), "agg 'tally' is not one of"),
        (("default_time_dimension: ordered_on", "default_time_dimension: channel"), "is not a time dimension"),
    ],
)
def test_semantic_model_definitions_are_validated(make_project, change, message):
    project = make_project(semantic_files(SEMANTIC_MODEL.replace(*change)))

    assert re.search(message, load_problem(project, "semantic_model.orders"))
