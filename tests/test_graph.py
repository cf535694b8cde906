"""The node graph (order, cycles, reach), references inside SQL, and selecting nodes by the words users know."""

from __future__ import annotations

import pytest

from seeknal_dagster.graph import NodeGraph
from seeknal_dagster.graph.selection import SelectionError, select_nodes
from seeknal_dagster.graph.sql_refs import find_qualified_names, find_ref_calls, rewrite_node_references
from seeknal_dagster.project import load_project


def diamond() -> NodeGraph:
    graph = NodeGraph()
    for parent, child in [("a", "c"), ("a", "b"), ("b", "d"), ("c", "d"), ("d", "e")]:
        graph.add_edge(parent, child)
    graph.add_node("a")
    graph.add_node("z")
    return graph


def test_topological_order_is_deterministic_with_ties_broken_by_id():
    graph = diamond()
    assert graph.topological_order() == ["a", "b", "c", "d", "e", "z"]
    assert graph.topological_order({"e", "b", "c"}) == ["b", "c", "e"]
    assert graph.upstream["d"] == ["b", "c"]
    assert graph.downstream["a"] == ["c", "b"]
    assert graph.edge_count() == 5


def test_reach_in_both_directions():
    graph = diamond()
    assert graph.ancestors(["d"]) == {"a", "b", "c"}
    assert graph.descendants(["b"]) == {"d", "e"}
    assert graph.ancestors(["z"]) == set()


def test_adding_an_edge_twice_keeps_one():
    graph = NodeGraph()
    graph.add_edge("a", "b")
    graph.add_edge("a", "b")
    assert graph.upstream == {"b": ["a"]}


def test_a_cycle_is_found_as_a_closed_path_and_stops_ordering():
    graph = diamond()
    assert graph.find_cycle() is None
    graph.add_edge("e", "b")
    cycle = graph.find_cycle()
    assert cycle[0] == cycle[-1] and set(cycle) == {"b", "d", "e"}
    for first, second in zip(cycle, cycle[1:]):
        assert first in graph.upstream[second]
    with pytest.raises(ValueError, match="cycle detected: .*b.*->"):
        graph.topological_order()


def test_ref_calls_in_every_quoting_style():
    sql = """SELECT * FROM ref('source.a') JOIN ref( "transform.b-c" ) USING (id) JOIN ref(' source.d ') USING (id)"""
    assert find_ref_calls(sql) == ["source.a", "transform.b-c", "source.d"]


def test_schema_qualified_names_only_when_they_name_a_node():
    known = {"source.orders", "transform.clean"}
    sql = "SELECT o.id, t.amount FROM source.orders o JOIN transform.clean t ON o.id = t.id JOIN main.other USING (id)"
    assert find_qualified_names(sql, known) == ["source.orders", "transform.clean"]
    assert find_qualified_names('SELECT "source"."orders", my_source.orders.x FROM x', known) == []


def test_comments_and_literals_are_left_alone():
    known = {"source.orders"}
    sql = """-- reads source.orders via ref('source.orders')
    SELECT 'source.orders' AS label, "source.orders" AS quoted /* source.orders */ FROM ref('source.orders')"""
    assert find_ref_calls(sql) == ["source.orders"]
    assert find_qualified_names(sql, known) == []
    rewritten = rewrite_node_references(sql, lambda node_id: "VIEW", known)
    assert rewritten == sql.replace("FROM ref('source.orders')", "FROM VIEW")


def test_rewriting_points_both_spellings_at_the_relation():
    relations = {"source.orders": '"source"."orders"', "transform.clean": '"transform"."clean"'}
    sql = "SELECT * FROM ref('source.orders') JOIN transform.clean USING (id) WHERE note <> 'transform.clean'"
    assert rewrite_node_references(sql, relations.__getitem__, relations) == (
        """SELECT * FROM "source"."orders" JOIN "transform"."clean" USING (id) WHERE note <> 'transform.clean'"""
    )


@pytest.fixture
def shop(make_project):
    source = "kind: source\nname: {name}\nsource: csv\ntable: data/{name}.csv\ntags: [bronze]\n"
    return load_project(
        make_project(
            {
                "seeknal/bronze/orders.yml": source.format(name="orders"),
                "seeknal/bronze/customers.yml": source.format(name="customers"),
                "seeknal/silver/clean_orders.yml": """
                    kind: transform
                    name: clean_orders
                    tags: [silver, daily]
                    transform: SELECT * FROM ref('source.orders')
                """,
                "seeknal/gold/revenue.yml": """
                    kind: transform
                    name: revenue
                    tags: [gold, daily]
                    transform: SELECT * FROM transform.clean_orders JOIN source.customers USING (customer_id)
                """,
                "seeknal/gold/checks.yml": """
                    kind: rule
                    name: positive
                    inputs: [{ref: transform.revenue}]
                    rule: {type: range, column: amount, params: {min_val: 0}}
                """,
            }
        )
    )


@pytest.mark.parametrize(
    ("select", "exclude", "expected"),
    [
        (None, None, {"source.orders", "source.customers", "transform.clean_orders", "transform.revenue", "rule.positive"}),
        ("revenue", None, {"transform.revenue"}),
        ("transform.revenue", None, {"transform.revenue"}),
        ("+revenue", None, {"transform.revenue", "transform.clean_orders", "source.orders", "source.customers"}),
        ("clean_orders+", None, {"transform.clean_orders", "transform.revenue", "rule.positive"}),
        ("tag:daily", None, {"transform.clean_orders", "transform.revenue"}),
        ("kind:source", None, {"source.orders", "source.customers"}),
        ("path:seeknal/gold", None, {"transform.revenue", "rule.positive"}),
        ("path:seeknal/*/clean_*.yml", None, {"transform.clean_orders"}),
        ("source.*, revenue", None, {"source.orders", "source.customers", "transform.revenue"}),
        ("+revenue", "tag:bronze", {"transform.revenue", "transform.clean_orders"}),
        (None, "kind:rule", {"source.orders", "source.customers", "transform.clean_orders", "transform.revenue"}),
    ],
)
def test_selection_words(shop, select, exclude, expected):
    assert select_nodes(shop, select, exclude) == expected


def test_selection_errors_name_the_word(shop):
    with pytest.raises(SelectionError, match="'nothing' matches no node"):
        select_nodes(shop, "nothing")
    with pytest.raises(SelectionError, match="unknown selection method 'owner:'"):
        select_nodes(shop, "owner:me")
