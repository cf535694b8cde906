"""Transform targets as Seeknal's QA specs write them: a copy of a transform's output in PostgreSQL (full,
upsert_by_key, incremental_by_time) and in Iceberg tables (append, overwrite), besides the Parquet output that
downstream nodes read. Checked against the real PostgreSQL the suite starts and a real local Iceberg catalog."""

from __future__ import annotations

import textwrap
from datetime import date

import pandas as pd
import psycopg
import pyarrow as pa
import pytest

from seeknal_dagster.project.errors import ProjectLoadError
from seeknal_dagster.project.loader import load_project
from tests.support.iceberg import local_catalog, read_table, write_table
from tests.support.projects import failure_messages, materialization_metadata, materialize, materialized_keys
from tests.test_sources import output_rows

ORDERS_CSV = """order_id,customer_id,amount,order_date
1,C1,10.0,2026-01-15
2,C2,20.0,2026-01-15
3,C1,5.0,2026-01-16
4,C3,7.5,2026-01-17
"""


@pytest.fixture(scope="module")
def analytics(postgres_server) -> str:
    return postgres_server.create_database("seeknal_targets")


def profiles(postgres_server, database: str, extra: str = "") -> str:
    return textwrap.dedent(
        f"""
        connections:
          local_pg:
            type: postgresql
            host: {postgres_server.host}
            port: {postgres_server.port}
            user: {postgres_server.user}
            database: {database}
        materialization:
          enabled: true
          catalog:
            type: sql
            uri: sqlite:///iceberg/catalog.db
            warehouse: iceberg/warehouse
        """
    ) + extra


def transform(name: str, sql: str, targets: str) -> str:
    return (
        f"kind: transform\nname: {name}\ninputs: [{{ref: source.orders}}]\n"
        f"transform: |\n  {sql}\nmaterializations:\n{textwrap.indent(textwrap.dedent(targets).strip(), '  ')}\n"
    )


def project_files(postgres_server, database: str, nodes: dict[str, str]) -> dict[str, str]:
    return {
        "profiles.yml": profiles(postgres_server, database),
        "data/orders.csv": ORDERS_CSV,
        "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
        **{f"seeknal/transforms/{name}.yml": text for name, text in nodes.items()},
    }


def pg_rows(postgres_server, database: str, query: str) -> list[tuple]:
    with psycopg.connect(postgres_server.dsn(database)) as connection:
        return connection.execute(query).fetchall()


def csv_frame(project) -> pd.DataFrame:
    return pd.read_csv(project / "data/orders.csv", parse_dates=["order_date"])


def test_a_transform_is_copied_to_postgres_and_iceberg_and_metadata_says_where(make_project, postgres_server, analytics):
    """The QA spec's multi-target node: a full PostgreSQL table and an Iceberg table, both equal to the output."""
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "order_details": transform(
                    "order_details",
                    "SELECT order_id, customer_id, amount, order_date FROM ref('source.orders')",
                    """
                    - type: postgresql
                      connection: local_pg
                      table: analytics.order_details
                      mode: full
                    - type: iceberg
                      table: atlas.qa_pg.silver_order_details
                    """,
                ),
                "daily_totals": """
                    kind: transform
                    name: daily_totals
                    inputs: [{ref: transform.order_details}]
                    transform: SELECT order_date, sum(amount) AS total FROM ref('transform.order_details') GROUP BY 1
                """,
            },
        )
    )
    result = materialize(project)
    assert result.success, failure_messages(result)
    assert materialized_keys(result) == {"source/orders", "transform/order_details", "transform/daily_totals"}

    expected = sorted(csv_frame(project).itertuples(index=False, name=None))
    expected = [(oid, cid, amount, day.date()) for oid, cid, amount, day in expected]
    assert sorted(pg_rows(postgres_server, analytics, "SELECT * FROM analytics.order_details")) == expected
    atlas = local_catalog(project, "atlas")  # the SQL catalog's name is the table name's first part
    iceberg = read_table(atlas, "qa_pg.silver_order_details").to_pylist()
    assert sorted(tuple(row.values()) for row in iceberg) == expected
    # The Parquet output is still what downstream nodes read.
    assert sorted(output_rows(project, "transform.daily_totals")) == [
        (date(2026, 1, 15), 30.0), (date(2026, 1, 16), 5.0), (date(2026, 1, 17), 7.5)
    ]

    [postgres, lake] = materialization_metadata(result, "transform/order_details")["seeknal/targets"]
    assert postgres == {"type": "postgresql", "table": "analytics.order_details", "mode": "full",
                        "connection": "local_pg", "rows_written": 4}
    assert {key: lake[key] for key in ("type", "table", "mode", "rows_written")} == {
        "type": "iceberg", "table": "atlas.qa_pg.silver_order_details", "mode": "append", "rows_written": 4
    }
    assert lake["snapshot_id"] == str(atlas.load_table("qa_pg.silver_order_details").current_snapshot().snapshot_id)


def test_full_replaces_the_table_and_a_second_run_changes_nothing(make_project, postgres_server, analytics):
    with psycopg.connect(postgres_server.dsn(analytics), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS public.customer_totals")
        connection.execute("CREATE TABLE public.customer_totals (customer_id text, total float8)")
        connection.execute("INSERT INTO public.customer_totals VALUES ('stale', 1)")
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "customer_totals": transform(
                    "customer_totals",
                    "SELECT customer_id, sum(amount) AS total FROM ref('source.orders') GROUP BY 1",
                    "- {type: postgres, connection: local_pg, table: customer_totals, mode: full}",
                )
            },
        )
    )
    expected = sorted(csv_frame(project).groupby("customer_id")["amount"].sum().items())
    for _ in range(2):
        assert materialize(project).success
        assert sorted(pg_rows(postgres_server, analytics, "SELECT * FROM customer_totals")) == expected


def test_upsert_by_key_updates_known_keys_inserts_new_ones_and_never_duplicates(make_project, postgres_server, analytics):
    with psycopg.connect(postgres_server.dsn(analytics), autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS gold CASCADE")
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "customer_metrics": transform(
                    "customer_metrics",
                    "SELECT customer_id, CAST(count(*) AS BIGINT) AS orders, sum(amount) AS spent "
                    "FROM ref('source.orders') GROUP BY customer_id",
                    """
                    - type: postgresql
                      connection: local_pg
                      table: gold.customer_metrics
                      mode: upsert_by_key
                      unique_keys: [customer_id]
                    """,
                )
            },
        )
    )
    assert materialize(project).success
    # A customer the source no longer has stays in the table: an upsert never deletes.
    with psycopg.connect(postgres_server.dsn(analytics), autocommit=True) as connection:
        connection.execute("INSERT INTO gold.customer_metrics VALUES ('C0', 1, 1.0)")
    (project / "data/orders.csv").write_text(ORDERS_CSV + "5,C1,100.0,2026-01-18\n6,C4,1.0,2026-01-18\n")
    result = materialize(project)
    assert result.success, failure_messages(result)

    frame = csv_frame(project).groupby("customer_id").agg(orders=("order_id", "count"), spent=("amount", "sum"))
    expected = sorted([*frame.itertuples(name=None), ("C0", 1, 1.0)])
    assert sorted(pg_rows(postgres_server, analytics, "SELECT * FROM gold.customer_metrics")) == expected
    [written] = materialization_metadata(result, "transform/customer_metrics")["seeknal/targets"]
    assert (written["rows_written"], written["rows_updated"], written["rows_inserted"]) == (4, 3, 1)

    assert materialize(project).success  # idempotent
    assert sorted(pg_rows(postgres_server, analytics, "SELECT * FROM gold.customer_metrics")) == expected
    [[primary_key]] = pg_rows(
        postgres_server, analytics,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'gold.customer_metrics'::regclass",
    )
    assert primary_key == "PRIMARY KEY (customer_id)"


def test_upsert_refuses_keys_that_do_not_identify_one_row(make_project, postgres_server, analytics):
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "by_day": transform(
                    "by_day",
                    "SELECT order_date, customer_id FROM ref('source.orders')",
                    "- {type: postgresql, connection: local_pg, table: by_day, mode: upsert_by_key, unique_keys: [order_date]}",
                )
            },
        )
    )
    result = materialize(project)
    assert not result.success
    assert "transform.by_day" in failure_messages(result)
    assert "unique_keys (order_date) do not identify one row each: 1 repeated key(s)" in failure_messages(result)


def test_incremental_by_time_rewrites_only_rows_from_the_latest_time_on(make_project, postgres_server, analytics):
    """The table keeps history the source has dropped; rows from the table's latest day on are replaced."""
    with psycopg.connect(postgres_server.dsn(analytics), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS analytics.daily_sales")
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "daily_sales": transform(
                    "daily_sales",
                    "SELECT order_date, CAST(count(*) AS BIGINT) AS orders, sum(amount) AS revenue "
                    "FROM ref('source.orders') GROUP BY order_date",
                    """
                    - type: postgresql
                      connection: local_pg
                      table: analytics.daily_sales
                      mode: incremental_by_time
                      time_column: order_date
                    """,
                )
            },
        )
    )
    assert materialize(project).success
    first = sorted(pg_rows(postgres_server, analytics, "SELECT * FROM analytics.daily_sales"))
    assert [row[0] for row in first] == [date(2026, 1, 15), date(2026, 1, 16), date(2026, 1, 17)]

    # The source now keeps only recent orders; the 17th got a late order and the 18th is new.
    (project / "data/orders.csv").write_text(
        "order_id,customer_id,amount,order_date\n4,C3,7.5,2026-01-17\n7,C2,2.5,2026-01-17\n8,C5,3.0,2026-01-18\n"
    )
    result = materialize(project)
    assert result.success, failure_messages(result)
    recent = csv_frame(project).groupby("order_date").agg(orders=("order_id", "count"), revenue=("amount", "sum"))
    expected = first[:2] + [(day.date(), orders, revenue) for day, orders, revenue in recent.itertuples(name=None)]
    assert sorted(pg_rows(postgres_server, analytics, "SELECT * FROM analytics.daily_sales")) == expected
    [written] = materialization_metadata(result, "transform/daily_sales")["seeknal/targets"]
    assert (written["rows_written"], written["rows_replaced"], written["since"]) == (2, 1, "2026-01-17")

    assert materialize(project).success  # idempotent
    assert sorted(pg_rows(postgres_server, analytics, "SELECT * FROM analytics.daily_sales")) == expected


@pytest.mark.parametrize(
    "target",
    [
        "{type: postgresql, connection: local_pg, table: kept, mode: full}",
        "{type: postgresql, connection: local_pg, table: kept, mode: upsert_by_key, unique_keys: [id]}",
        "{type: postgresql, connection: local_pg, table: kept, mode: incremental_by_time, time_column: id}",
    ],
    ids=["full", "upsert_by_key", "incremental_by_time"],
)
def test_a_write_failing_midway_leaves_the_previous_table(make_project, postgres_server, analytics, target):
    with psycopg.connect(postgres_server.dsn(analytics), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS kept")
        connection.execute("CREATE TABLE kept (id bigint PRIMARY KEY, note text)")
        connection.execute("INSERT INTO kept VALUES (1, 'old'), (2, 'old')")
    # PostgreSQL rejects the NUL character in text: the COPY fails after the earlier rows were sent.
    sql = "SELECT range AS id, CASE WHEN range = 2999 THEN 'bad' || chr(0) ELSE 'new' END AS note FROM range(3000)"
    project = make_project(
        project_files(postgres_server, analytics, {"kept": transform("kept", sql, f"- {target}")})
    )
    result = materialize(project)
    assert not result.success
    assert "transform.kept" in failure_messages(result) and "public.kept" in failure_messages(result)
    assert pg_rows(postgres_server, analytics, "SELECT * FROM kept ORDER BY id") == [(1, "old"), (2, "old")]


def test_iceberg_targets_append_and_overwrite_in_one_commit(make_project, postgres_server, analytics):
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "history": transform(
                    "history", "SELECT order_id, amount FROM ref('source.orders')",
                    "- {type: iceberg, table: lake.sales.history, mode: append}",
                ),
                "latest": """
                    kind: transform
                    name: latest
                    inputs: [{ref: source.orders}]
                    transform: SELECT order_id, amount FROM ref('source.orders')
                    materialization: {enabled: true, mode: overwrite, table: lake.sales.latest}
                """,
            },
        )
    )
    catalog = local_catalog(project)
    frame = csv_frame(project)[["order_id", "amount"]]
    for run in (1, 2):
        assert materialize(project).success
        latest, history = (read_table(catalog, f"sales.{name}").to_pandas() for name in ("latest", "history"))
        pd.testing.assert_frame_equal(latest.sort_values("order_id", ignore_index=True), frame)
        pd.testing.assert_frame_equal(
            history.sort_values("order_id", ignore_index=True),
            pd.concat([frame] * run).sort_values("order_id", ignore_index=True),
        )
    assert len(catalog.load_table("sales.latest").snapshots()) >= 2


def test_a_failed_iceberg_write_leaves_the_table_as_it_was(make_project, postgres_server, analytics):
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "scores": transform(
                    "scores", "SELECT order_id, 'not a number' AS amount FROM ref('source.orders')",
                    "- {type: iceberg, table: lake.sales.scores, mode: overwrite}",
                )
            },
        )
    )
    catalog = local_catalog(project)
    before = write_table(catalog, "sales.scores", pa.table({"order_id": [9], "amount": [9.0]}))
    result = materialize(project)
    assert not result.success
    assert "iceberg target lake.sales.scores (overwrite)" in failure_messages(result)
    table = catalog.load_table("sales.scores")
    assert table.current_snapshot().snapshot_id == before
    assert table.scan().to_arrow().to_pylist() == [{"order_id": 9, "amount": 9.0}]


def test_an_iceberg_stream_failing_midway_commits_nothing(tmp_path):
    """The engine level: a stream that breaks after its first batch leaves the table's snapshot unchanged."""
    from seeknal_dagster.engines.iceberg import CatalogSettings, IcebergError, TableName

    catalog = local_catalog(tmp_path)
    before = write_table(catalog, "sales.events", pa.table({"id": [1]}))
    schema = pa.schema([("id", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([2])], schema=schema)
        raise OSError("the disk went away")

    settings = CatalogSettings.from_config(
        "lake", [{"uri": "sqlite:///iceberg/catalog.db", "warehouse": "iceberg/warehouse"}], tmp_path
    )
    with pytest.raises(IcebergError, match="could not write Iceberg table sales.events .*the disk went away"):
        settings.open(must_exist=True).write(
            TableName.parse("sales.events", require_catalog=False),
            pa.RecordBatchReader.from_batches(schema, batches()),
            "overwrite",
        )
    table = catalog.load_table("sales.events")
    assert table.current_snapshot().snapshot_id == before
    assert table.scan().to_arrow().to_pylist() == [{"id": 1}]


def test_target_mistakes_fail_at_load_naming_node_and_field(make_project, postgres_server, analytics):
    project = make_project(
        project_files(
            postgres_server,
            analytics,
            {
                "a": transform("a", "SELECT 1 AS id", "- {type: postgresql, connection: nowhere, table: a}"),
                "b": transform("b", "SELECT 1 AS id", "- {type: postgresql, connection: local_pg, table: b, mode: upsert}"),
                "c": transform(
                    "c", "SELECT 1 AS id", "- {type: postgresql, connection: local_pg, table: c, mode: upsert_by_key}"
                ),
                "d": transform("d", "SELECT 1 AS id", "- {type: iceberg, table: just_a_name}"),
                "e": transform("e", "SELECT 1 AS id", "- {type: postgresql, connection: local_pg, table: e, mode: incremental_by_time}"),
            },
        )
    )
    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)
    found = {(problem.node_id, problem.field): problem.message for problem in raised.value.problems}
    assert "connection 'nowhere' is not defined in profiles" in found[("transform.a", "materializations.0.connection")]
    assert "unknown mode 'upsert'" in found[("transform.b", "materializations.0.mode")]
    assert "needs 'unique_keys'" in found[("transform.c", "materializations.0.unique_keys")]
    assert "[catalog.]namespace.table" in found[("transform.d", "materializations.0.table")]
    assert "needs 'time_column'" in found[("transform.e", "materializations.0.time_column")]
