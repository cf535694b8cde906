"""Transforms: DuckDB SQL over upstream outputs, persisted where Seeknal puts them, never reading stale data."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd

from seeknal_dagster.executors import ExecutionContext, get_executor
from seeknal_dagster.project.loader import load_project
from tests.support.projects import failure_messages, materialization_metadata, materialize, materialized_keys

SOURCES = {
    "data/orders.csv": "order_id,customer_id,amount,note\n1,10,25,ok\n2,11,-3,refund;partial\n3,10,7,ok\n",
    "data/customers.csv": "customer_id,name\n10,Ana\n11,Budi\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/sources/customers.yml": "kind: source\nname: customers\nsource: csv\ntable: data/customers.csv\n",
}


def rows(project: Path, node_file: str, order_by: str = "1") -> list[tuple]:
    path = project / "target/intermediate" / f"{node_file}.parquet"
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY {order_by}").fetchall()


def test_several_statements_with_semicolons_in_strings_and_comments_and_params(make_project):
    project = make_project(
        {
            **SOURCES,
            "seeknal/transforms/valid_orders.yml": """
                kind: transform
                name: valid_orders
                inputs: [{ref: source.orders}]
                params: {min_amount: 0, label: "big;ish"}
                transform: |
                  -- keep real orders; drop refunds
                  CREATE TEMP TABLE kept AS
                    SELECT * FROM ref('source.orders') WHERE amount > {{ min_amount }} AND note <> 'x;y';
                  /* one more statement; just to be sure */
                  CREATE TEMP TABLE labelled AS SELECT *, '{{ label }}' AS label FROM kept;
                  SELECT order_id, amount, label FROM labelled;
            """,
        }
    )
    result = materialize(project)
    assert result.success
    assert rows(project, "transform_valid_orders") == [(1, 25, "big;ish"), (3, 7, "big;ish")]
    assert materialization_metadata(result, "transform/valid_orders")["dagster/row_count"] == 2

    result = materialize(project, 'key:"transform/valid_orders"', params={"min_amount": 10})
    assert result.success
    assert rows(project, "transform_valid_orders") == [(1, 25, "big;ish")]


def test_ref_and_schema_qualified_names_read_each_upstreams_own_output(make_project):
    project = make_project(
        {
            **SOURCES,
            # Both read `input_0`; in Seeknal the later one redefines the alias the earlier one's view points at.
            "seeknal/transforms/order_amounts.yml": """
                kind: transform
                name: order_amounts
                inputs: [{ref: source.orders}]
                transform: SELECT order_id, customer_id, amount FROM input_0
            """,
            "seeknal/transforms/customer_names.yml": """
                kind: transform
                name: customer_names
                inputs: [{ref: source.customers}]
                transform: SELECT customer_id, upper(name) AS name FROM input_0
            """,
            "seeknal/transforms/report.yml": """
                kind: transform
                name: report
                transform: |
                  SELECT n.name, sum(a.amount) AS total, count(*) AS orders
                  FROM transform.order_amounts a
                  JOIN ref('transform.customer_names') n USING (customer_id)
                  GROUP BY n.name
            """,
            "seeknal/transforms/both_spellings.yml": """
                kind: transform
                name: both_spellings
                inputs: [{ref: source.orders}]
                transform: |
                  SELECT count(*) AS n FROM source.orders
                  UNION ALL SELECT count(*) FROM ref('source.orders')
                  UNION ALL SELECT count(*) FROM __THIS__
            """,
        }
    )
    result = materialize(project)
    assert result.success
    assert rows(project, "transform_report") == [("ANA", 32, 2), ("BUDI", -3, 1)]
    assert rows(project, "transform_customer_names") == [(10, "ANA"), (11, "BUDI")]
    assert rows(project, "transform_both_spellings") == [(3,), (3,), (3,)]


def test_scratch_tables_belong_to_their_node_and_run(make_project, tmp_path):
    staging = """
        kind: transform
        name: {name}
        transform: |
          CREATE TABLE staging AS SELECT * FROM source.orders WHERE amount {condition};
          CREATE VIEW picked AS SELECT order_id FROM staging;
          SELECT * FROM picked
    """
    project = make_project(
        {
            **SOURCES,
            "seeknal/transforms/positive.yml": staging.format(name="positive", condition="> 0"),
            "seeknal/transforms/negative.yml": staging.format(name="negative", condition="< 0"),
        }
    )
    database = tmp_path / "warehouse.duckdb"
    for _ in range(2):  # the second run meets the same names again in a persistent database
        assert materialize(project, duckdb_database=str(database)).success
    assert rows(project, "transform_positive") == [(1,), (3,)]
    assert rows(project, "transform_negative") == [(2,)]
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = connection.sql("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("staging",) not in tables and ("picked",) not in tables


def test_inputs_named_by_bare_name_are_input_n_in_declaration_order(make_project):
    project = make_project(
        {
            **SOURCES,
            "seeknal/transforms/joined.yml": """
                kind: transform
                name: joined
                inputs: [{ref: customers}, {ref: source.orders}]
                transform: SELECT input_0.name, input_1.amount FROM input_0 JOIN input_1 USING (customer_id)
            """,
        }
    )
    assert materialize(project).success
    assert rows(project, "transform_joined", order_by="2") == [("Budi", -3), ("Ana", 7), ("Ana", 25)]


def test_an_upstream_from_an_earlier_run_is_read_in_a_fresh_process(make_project):
    project = make_project(
        {
            **SOURCES,
            "seeknal/transforms/big_orders.yml": """
                kind: transform
                name: big_orders
                transform: SELECT order_id, amount FROM source.orders WHERE amount > 5
            """,
        }
    )
    assert materialize(project, 'key:"source/orders"').success
    # The CSV changes after the source ran: the transform must read the source's output, not the file.
    (project / "data/orders.csv").write_text("order_id,customer_id,amount,note\n9,10,1000,new\n")
    script = textwrap.dedent(
        f"""
        from tests.support.projects import materialize, materialized_keys
        result = materialize({str(project)!r}, 'key:"transform/big_orders"')
        assert result.success and materialized_keys(result) == {{"transform/big_orders"}}
        """
    )
    repository = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script], cwd=repository, check=True, capture_output=True, env=os.environ)
    assert rows(project, "transform_big_orders") == [(1, 25), (3, 7)]


def test_a_missing_upstream_output_is_a_clear_error(make_project):
    project = make_project(
        {
            **SOURCES,
            "seeknal/transforms/t.yml": "kind: transform\nname: t\ntransform: SELECT * FROM ref('source.orders')\n",
        }
    )
    result = materialize(project, 'key:"transform/t"')
    assert not result.success
    message = failure_messages(result)
    assert "transform.t" in message
    assert "upstream source.orders has no output" in message and "materialize source.orders first" in message


def test_zero_rows_replace_the_previous_output_with_an_empty_table(make_project):
    project = make_project(
        {
            **SOURCES,
            "seeknal/transforms/over.yml": """
                kind: transform
                name: over
                inputs: [{ref: source.orders}]
                params: {threshold: 0}
                transform: SELECT order_id, amount FROM ref('source.orders') WHERE amount > {{ threshold }}
            """,
        }
    )
    assert materialize(project).success
    assert len(rows(project, "transform_over")) == 2

    result = materialize(project, 'key:"transform/over"', params={"threshold": 1000})
    assert result.success
    assert materialization_metadata(result, "transform/over")["dagster/row_count"] == 0
    assert rows(project, "transform_over") == []
    columns = duckdb.sql(f"DESCRIBE SELECT * FROM '{project}/target/intermediate/transform_over.parquet'").fetchall()
    assert [(name, kind) for name, kind, *_ in columns] == [("order_id", "BIGINT"), ("amount", "BIGINT")]


def test_a_failing_statement_names_the_node_and_keeps_the_last_good_output(make_project):
    files = {
        **SOURCES,
        "seeknal/transforms/positive.yml": """
            kind: transform
            name: positive
            inputs: [{ref: source.orders}]
            transform: |
              CREATE TEMP TABLE p AS SELECT * FROM ref('source.orders') WHERE amount > 0;
              SELECT order_id, amount FROM p
        """,
    }
    project = make_project(files)
    assert materialize(project).success
    good = (project / "target/intermediate/transform_positive.parquet").read_bytes()

    (project / "seeknal/transforms/positive.yml").write_text(
        "kind: transform\nname: positive\ninputs: [{ref: source.orders}]\n"
        "transform: |\n"
        "  CREATE TEMP TABLE p AS SELECT * FROM ref('source.orders') WHERE amount > 0;\n"
        "  SELECT order_id, amount, discount FROM p\n"
    )
    result = materialize(project, 'key:"transform/positive"')
    assert not result.success
    message = failure_messages(result)
    assert "transform.positive: statement 2 of 2 failed" in message
    assert '"discount" not found' in message
    assert "Statement: SELECT order_id, amount, discount FROM p" in message
    assert (project / "target/intermediate/transform_positive.parquet").read_bytes() == good
    assert sorted(path.name for path in (project / "target/intermediate").iterdir()) == [
        "source_customers.parquet",
        "source_orders.parquet",
        "transform_positive.parquet",
    ]
    assert materialized_keys(result) == set()


def test_swapping_two_values_is_new_data_though_every_size_and_statistic_stays(make_project):
    project = make_project({**SOURCES, "seeknal/transforms/amounts.yml": AMOUNTS})

    def transform_version() -> str:
        result = materialize(project)
        assert result.success
        [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "transform/amounts"]
        return event.step_materialization_data.materialization.tags["dagster/data_version"]

    before = transform_version()
    assert transform_version() == before  # the same rows again: the same version
    orders = project / "data/orders.csv"
    orders.write_text(orders.read_text().replace("1,10,25,ok", "1,10,7,ok").replace("3,10,7,ok", "3,10,25,ok"))

    after = transform_version()
    assert rows(project, "transform_amounts") == [(1, 7), (2, -3), (3, 25)]
    assert after != before


AMOUNTS = """
    kind: transform
    name: amounts
    inputs: [{ref: source.orders}]
    transform: SELECT order_id, amount FROM ref('source.orders')
"""


WIDE_ORDERS = "order_id,customer_id,amount,note,channel\n1,10,25,ok,web\n2,11,-3,refund,shop\n"


def every_column(name: str, reads: str) -> str:
    """A transform passing every column of the orders source through, read as ``reads`` names it."""
    return f"kind: transform\nname: {name}\ninputs: [{{ref: source.orders}}]\ntransform: SELECT * FROM {reads} ORDER BY order_id\n"


def columns_of(project: Path, node_file: str) -> list[str]:
    path = project / "target/intermediate" / f"{node_file}.parquet"
    return [row[0] for row in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]


def test_a_node_run_again_in_the_same_process_reads_its_upstreams_output_as_it_is_now(make_project):
    # One execution context, one database: a view over an output is made once per run, yet an upstream written
    # again (a retry, a second run on a reused resource; here a Spark directory, then a DuckDB file with other
    # columns) is read as it is now.
    project = make_project(
        {
            **SOURCES,
            "seeknal/transforms/every_column.yml": every_column("every_column", "ref('source.orders')"),
            "seeknal/transforms/through_alias.yml": every_column("through_alias", "__this__"),
        }
    )
    loaded = load_project(project)
    context = ExecutionContext.for_project(loaded)

    def run(*node_ids: str) -> None:
        for node_id in node_ids:
            assert get_executor(loaded.nodes[node_id], context).run().is_success(), node_id

    def assert_both_read(expected: pd.DataFrame) -> None:
        for node_file in ["transform_every_column", "transform_through_alias"]:
            assert columns_of(project, node_file) == list(expected.columns)
            assert rows(project, node_file) == list(expected.itertuples(index=False, name=None))

    try:
        run("source.orders")
        # The source's output replaced by a directory of part files with another column, as Spark writes it.
        output = project / "target/intermediate/source_orders.parquet"
        wide = pd.read_csv(io.StringIO(WIDE_ORDERS))
        output.unlink()
        output.mkdir()
        wide.iloc[:1].to_parquet(output / "part-00000.parquet", index=False)
        wide.iloc[1:].to_parquet(output / "part-00001.parquet", index=False)
        (output / "_SUCCESS").touch()
        run("transform.every_column", "transform.through_alias")
        assert_both_read(wide)

        run("source.orders", "transform.every_column", "transform.through_alias")  # a file again, CSV's columns
        assert_both_read(pd.read_csv(project / "data/orders.csv").sort_values("order_id"))
    finally:
        context.close()


def test_a_persistent_database_shows_each_run_the_outputs_as_they_are_now(make_project, tmp_path):
    # Views over outputs stay in a database file between runs; a later run that selects only the transform
    # must read what the source wrote in between, new columns included.
    project = make_project({**SOURCES, "seeknal/transforms/every_column.yml": every_column("every_column", "source.orders")})
    database = str(tmp_path / "warehouse.duckdb")
    assert materialize(project, duckdb_database=database).success

    (project / "data/orders.csv").write_text(WIDE_ORDERS)
    assert materialize(project, 'key:"source/orders"', duckdb_database=database).success
    result = materialize(project, 'key:"transform/every_column"', duckdb_database=database)
    assert result.success and materialized_keys(result) == {"transform/every_column"}

    expected = pd.read_csv(project / "data/orders.csv").sort_values("order_id")
    assert columns_of(project, "transform_every_column") == list(expected.columns)
    assert rows(project, "transform_every_column") == list(expected.itertuples(index=False, name=None))


def test_a_view_a_feature_groups_script_replaces_is_made_again_for_the_nodes_after_it(make_project):
    # A feature group's statements run outside a rolled-back transaction, so what they create stays in the
    # database; a view over an output they replace must not be what a later node of the run reads.
    project = make_project(
        {
            "data/scores.csv": "customer_id,event_time,score\n1,2025-01-01 10:00:00,10\n2,2025-01-03 08:00:00,20\n",
            "seeknal/sources/scores.yml": "kind: source\nname: scores\nsource: csv\ntable: data/scores.csv\n",
            "seeknal/feature_groups/scores.yml": (
                "kind: feature_group\nname: scores\nentity: customer\ninputs: [{ref: source.scores}]\n"
                "transform: |\n"
                "  CREATE OR REPLACE VIEW source.scores AS SELECT 9 AS customer_id, TIMESTAMP '2025-01-01' AS event_time, 0 AS score;\n"
                "  SELECT * FROM source\n"
            ),
            "seeknal/transforms/top.yml": (
                "kind: transform\nname: top\ninputs: [{ref: source.scores}, {ref: feature_group.scores}]\n"
                "transform: SELECT customer_id, score FROM source.scores ORDER BY customer_id\n"
            ),
        }
    )
    assert materialize(project).success
    expected = pd.read_csv(project / "data/scores.csv").sort_values("customer_id")[["customer_id", "score"]]
    assert rows(project, "transform_top") == list(expected.itertuples(index=False, name=None))
