"""Whoever launches a run may fill a node's ``{{ }}`` params through run config; whatever they send stays a value.

In SQL a run value is one string literal or one number, never a second statement; in a path it is one file name;
it never names what a node reads or writes. The project's own files stay trusted: their params and snippets are
SQL on purpose. Every hostile value here is something the issue tried, or one of its kind.
"""

from __future__ import annotations

import dagster
import duckdb
import pytest

from seeknal_dagster import build_definitions
from seeknal_dagster.project.errors import ProjectLoadError
from seeknal_dagster.project.templating import RunValueError, TemplateRenderer
from tests.support.cli import make_dagster_home, materialize_with_cli, seeknal_params_config
from tests.support.projects import failure_messages, materialize, materialized_keys

ORDERS = {
    "data/orders.csv": "order_id,customer,amount\n1,ann,10\n2,bob,30\n3,cid,20\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
}
#: Transforms using run-config params the ways a Seeknal user writes them.
TRANSFORMS = {
    "seeknal/transforms/labelled.yml": """
        kind: transform
        name: labelled
        params: {label: none}
        transform: SELECT order_id, '{{ label }}' AS label FROM ref('source.orders')
    """,
    "seeknal/transforms/top_orders.yml": """
        kind: transform
        name: top_orders
        params: {top: 2}
        transform: SELECT order_id FROM ref('source.orders') ORDER BY amount DESC LIMIT {{ top }}
    """,
    # The run value reaches the SQL through a param of the node's own.
    "seeknal/transforms/big_orders.yml": """
        kind: transform
        name: big_orders
        params: {minimum: "{{ min_amount }}"}
        transform: SELECT order_id FROM ref('source.orders') WHERE amount >= {{ minimum }}
    """,
    "seeknal/transforms/by_customer.yml": """
        kind: transform
        name: by_customer
        params: {who: "{{ customer }}"}
        transform: SELECT order_id FROM ref('source.orders') WHERE customer = '{{ who }}'
    """,
}


def injection(marker) -> str:
    return f"a'; COPY (SELECT 42) TO '{marker}'; SELECT '1"


def output(project, node_file: str) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM '{project}/target/intermediate/{node_file}.parquet' ORDER BY ALL").fetchall()


def test_hostile_run_config_through_the_dagster_cli_runs_no_second_statement(make_project, tmp_path):
    project = make_project(
        {
            **ORDERS,
            **TRANSFORMS,
            "definitions.py": "from pathlib import Path\nfrom seeknal_dagster import build_definitions\n"
            "defs = build_definitions(Path(__file__).parent)\n",
        }
    )
    marker = tmp_path / "injected.csv"
    home = make_dagster_home(tmp_path / "dagster_home")
    params = {
        "label": injection(marker),
        "top": f"1; COPY (SELECT 42) TO '{marker}'",
        "min_amount": "0 OR true",
        "customer": "x' OR '1'='1",
    }

    run = materialize_with_cli(
        project, "definitions", "*", run_config=seeknal_params_config(params), env={"DAGSTER_HOME": str(home)}
    )

    assert not marker.exists()
    assert run.returncode != 0  # two nodes could not use their value
    # In a string literal the value came through whole, as one value: nothing ran, nothing matched.
    assert output(project, "transform_labelled") == [(1, params["label"]), (2, params["label"]), (3, params["label"])]
    assert output(project, "transform_by_customer") == []
    # Where SQL code stands, only a number may: each refusal names the node, the param and the fix.
    assert "transform.top_orders" in run.stderr and "param 'top' comes from run config" in run.stderr
    assert "quote it in the SQL: '{{ top }}'" in run.stderr
    assert "transform.big_orders" in run.stderr and "param 'min_amount' comes from run config" in run.stderr
    assert "quote it in the SQL: '{{ minimum }}'" in run.stderr  # as the node's SQL spells it
    with dagster.DagsterInstance.from_config(str(home)) as instance:
        [record] = instance.get_run_records()
        materialized = {
            entry.dagster_event.asset_key.to_user_string()
            for entry in instance.all_logs(record.dagster_run.run_id, of_type=dagster.DagsterEventType.ASSET_MATERIALIZATION)
        }
    assert materialized == {"source/orders", "transform/labelled", "transform/by_customer"}
    assert not (project / "target/intermediate/transform_top_orders.parquet").exists()


def test_run_config_numbers_fill_code_positions(make_project):
    project = make_project({**ORDERS, **TRANSFORMS})
    result = materialize(
        project, run_config=seeknal_params_config({"top": 1, "min_amount": "20", "label": "it's", "customer": "bob"})
    )
    assert result.success
    assert output(project, "transform_top_orders") == [(2,)]
    assert output(project, "transform_big_orders") == [(2,), (3,)]
    assert output(project, "transform_labelled")[0] == (1, "it's")
    assert output(project, "transform_by_customer") == [(2,)]


def test_a_build_definitions_param_that_cannot_stand_in_the_sql_is_a_load_problem(make_project):
    project = make_project({**ORDERS, **TRANSFORMS})
    with pytest.raises(ProjectLoadError) as raised:
        build_definitions(project, params={"top": "2 UNION SELECT 42"})
    message = str(raised.value)
    assert "seeknal/transforms/top_orders.yml" in message and "transform.top_orders" in message
    assert "param 'top' comes from run config" in message


#: Values that end a literal, open a comment, end a dollar-quoted string, or carry template syntax of their own.
HOSTILE_TEXT = [
    "a'; COPY (SELECT 42) TO '/tmp/x.csv'; SELECT '1",
    "'",
    "''",
    "\\",
    "\\'; SELECT 1; --",
    "*/ SELECT 1; /*",
    "-- the rest is a comment\n; COMMIT;",
    "$$; COMMIT; $$",
    "{{ env:HOME }}",
    "naïve ☃ \u2028 \t",
]


@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_a_run_value_in_a_string_literal_is_that_string_and_one_statement(value):
    renderer = TemplateRenderer(overrides={"v": value, "n": -5})
    sql = renderer.render_sql("SELECT '{{ v }}' AS plain, E'{{ v }}' AS escaped, 10 -{{ n }} AS n").sql
    assert len(duckdb.extract_statements(sql)) == 1
    assert duckdb.sql(sql).fetchall() == [(value, value, 15)]


@pytest.mark.parametrize(("value", "expected"), [(7, 3), (-2, 12), (2.5, 7.5), ("3", 7), ("-1e1", 20.0)])
def test_numbers_stand_as_code(value, expected):
    sql = TemplateRenderer(overrides={"n": value}).render_sql("SELECT 10 -{{ n }} AS n").sql
    assert duckdb.sql(sql).fetchall() == [(expected,)]


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("false", False), ("TRUE", True)])
def test_booleans_stand_as_code(value, expected):
    sql = TemplateRenderer(overrides={"flag": value}).render_sql("SELECT {{ flag }} AND true AS flag").sql
    assert duckdb.sql(sql).fetchall() == [(expected,)]


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("SELECT {{ v }}", "1; SELECT 2"),
        ("SELECT {{ v }}", "1 OR 1=1"),
        ("SELECT {{ v }}", "nan"),
        ("SELECT {{ v }}", float("inf")),
        ("SELECT * FROM t{{ v }}", "1"),  # glued to a name: it would choose another table
        ('SELECT "{{ v }}"', "secret_column"),  # a quoted identifier
        ("SELECT $$ {{ v }} $$", "$$; COMMIT; $$"),
    ],
)
def test_a_run_value_that_could_change_the_statement_is_refused_naming_it(template, value):
    with pytest.raises(RunValueError, match="param 'v' comes from run config"):
        TemplateRenderer(overrides={"v": value}).render_sql(template)


def test_project_params_and_snippets_stay_sql(make_project):
    """Trusted text keeps Seeknal's substitution: a node's own params and common snippets are SQL on purpose."""
    project = make_project(
        {
            **ORDERS,
            "seeknal/common/rules.yml": "rules:\n  - {id: big, value: 'amount >= 20'}\n",
            "seeknal/transforms/picked.yml": """
                kind: transform
                name: picked
                params: {columns: "order_id, amount"}
                transform: SELECT {{ columns }} FROM ref('source.orders') WHERE {{ rules.big }}
            """,
        }
    )
    assert materialize(project).success
    assert output(project, "transform_picked") == [(2, 30), (3, 20)]


# Outside SQL: paths and identifiers ---------------------------------------------------------------------------


PATH_PROJECT = {
    **ORDERS,
    "data/daily/2025-12-01.csv": "order_id\n7\n",
    "seeknal/sources/daily.yml": """
        kind: source
        name: daily
        source: csv
        params: {path: "data/daily/{{ day }}.csv"}
    """,
    "seeknal/exposures/export.yml": """
        kind: exposure
        name: export
        type: file
        inputs: [{ref: source.orders}]
        params: {path: "exports/{{ export_name }}.csv"}
    """,
}


def test_a_run_value_in_a_path_names_one_file_in_the_projects_directory(make_project):
    project = make_project(PATH_PROJECT)
    result = materialize(project, run_config=seeknal_params_config({"day": "2025-12-01", "export_name": "december"}))
    assert result.success
    assert output(project, "source_daily") == [(7,)]
    assert duckdb.sql(f"SELECT count(*) FROM '{project}/exports/december.csv'").fetchall() == [(3,)]


@pytest.mark.parametrize(
    "params",
    [
        {"export_name": "../data/orders"},  # would overwrite the source it reads
        {"export_name": "/tmp/orders"},
        {"export_name": "~/orders"},
        {"day": "../../../../etc/hostname"},
        {"day": "*"},  # every file of the directory
        {"day": ".."},
    ],
)
def test_a_run_value_cannot_steer_a_path_out_of_its_directory(make_project, params):
    project = make_project(PATH_PROJECT)
    source_csv = (project / "data/orders.csv").read_bytes()
    result = materialize(project, run_config=seeknal_params_config({"day": "2025-12-01", "export_name": "x", **params}))
    assert not result.success
    [(name, value)] = params.items()
    node = "source.daily" if name == "day" else "exposure.export"
    message = failure_messages(result)
    assert f"{node}" in message and f"param '{name}' comes from run config" in message and "one file name" in message
    assert (project / "data/orders.csv").read_bytes() == source_csv
    assert not (project / "exports").exists() or list((project / "exports").iterdir()) == [project / "exports/x.csv"]


def test_a_run_value_cannot_choose_a_table_or_connection(make_project, tmp_path):
    import sqlite3

    database = tmp_path / "project/data/shop.db"
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
        connection.execute("CREATE TABLE secrets (token TEXT)")
        connection.execute("INSERT INTO customers VALUES ('ann'), ('bob')")
    project = make_project(
        {
            "seeknal/sources/customers.yml": """
                kind: source
                name: customers
                source: sqlite
                table: data/shop.db
                params: {table: "{{ table }}"}
            """,
            "seeknal/sources/named.yml": """
                kind: source
                name: named
                source: sqlite
                table: data/shop.db
                params: {query: "SELECT name FROM customers WHERE name = '{{ who }}'"}
            """,
        }
    )
    result = materialize(project, run_config=seeknal_params_config({"table": "secrets", "who": "x' OR '1'='1"}))
    message = failure_messages(result)
    assert "source.customers" in message and "params.table, which decides what the node reads or writes" in message
    assert materialized_keys(result) == {"source/named"}
    assert output(project, "source_named") == []  # the query's literal held the whole value

    assert materialize(project, 'key:"source/named"', run_config=seeknal_params_config({"who": "bob"})).success
    assert output(project, "source_named") == [("bob",)]


def test_a_build_definitions_param_that_would_steer_a_path_is_a_load_problem(make_project):
    project = make_project(PATH_PROJECT)
    with pytest.raises(ProjectLoadError) as raised:
        build_definitions(project, params={"day": "2025-12-01", "export_name": "../data/orders"})
    message = str(raised.value)
    assert "seeknal/exposures/export.yml" in message and "exposure.export" in message
    assert "param 'export_name' comes from run config" in message and "one file name" in message
