"""PostgreSQL sources against a real server: profile connections with ${VAR} placeholders, inline overrides,
schemas, queries, types, and a password that must never leave the connection."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import dagster
import duckdb
import psycopg
import pytest

from tests.support.cli import seeknal_params_config
from tests.support.projects import load_problem, materialization_metadata, materialize, materialized_keys
from tests.test_sources import failure_text, output_rows, output_schema, source_yml

PASSWORD = "Pr0file-S3cret-d1e7"
INLINE_PASSWORD = "Inl1ne-S3cret-9a2c"


@pytest.fixture(scope="module")
def shop_database(postgres_server) -> str:
    """A database with a few typed tables, and a password-protected reader role."""
    name = postgres_server.create_database("seeknal_shop")
    with psycopg.connect(postgres_server.dsn(name), autocommit=True) as connection:
        connection.execute(
            """
            DROP ROLE IF EXISTS shop_reader;
            CREATE ROLE shop_reader LOGIN PASSWORD 'unused-under-trust';
            CREATE TABLE orders (
                id integer PRIMARY KEY, customer bigint, amount numeric(10, 2), ratio numeric, note text,
                paid boolean, ordered_on date, created_at timestamp, shipped_at timestamptz, ref uuid, extra jsonb
            );
            INSERT INTO orders VALUES
                (1, 100, 12.50, 0.5, 'first', true, '2024-01-02', '2024-01-02 03:04:05.123456',
                 '2024-01-02 10:00:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"gift": true}'),
                (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                (3, 300, 7.25, 1.25, 'third', false, '2024-02-03', '2024-02-03 00:00:00',
                 '2024-02-03 00:00:00+00', NULL, '[1, 2]');
            CREATE SCHEMA sales;
            CREATE TABLE sales.refunds (order_id integer, reason varchar(40));
            GRANT USAGE ON SCHEMA sales TO shop_reader;
            CREATE SEQUENCE order_numbers;
            GRANT SELECT ON ALL TABLES IN SCHEMA public, sales TO shop_reader;
            GRANT ALL ON SEQUENCE order_numbers TO shop_reader;
            SELECT lo_from_bytea(4242, 'a large object the reader owns');
            ALTER LARGE OBJECT 4242 OWNER TO shop_reader;
            """
        )
    return name


@pytest.fixture
def warehouse_env(monkeypatch, postgres_server, shop_database) -> None:
    """The environment the profile's placeholders read: port and password; the host falls back to its default."""
    monkeypatch.setenv("SHOP_PG_PORT", str(postgres_server.port))
    monkeypatch.setenv("SHOP_PG_PASSWORD", PASSWORD)
    monkeypatch.delenv("SHOP_PG_HOST", raising=False)


PROFILES = """
connections:
  warehouse:
    type: postgresql
    host: ${SHOP_PG_HOST:127.0.0.1}
    port: ${SHOP_PG_PORT}
    database: seeknal_shop
    user: shop_reader
    password: ${SHOP_PG_PASSWORD}
source_defaults:
  postgres:
    connection: warehouse
"""


def test_tables_schemas_and_queries_read_through_a_profile_connection(make_project, warehouse_env):
    project = make_project(
        {
            "profiles.yml": PROFILES,
            "seeknal/sources/orders.yml": source_yml(
                "orders", "source: postgresql\ntable: orders\nparams: {connection: warehouse}"
            ),
            # `postgres` alias; the connection comes from source_defaults.postgres.
            "seeknal/sources/refunds.yml": source_yml("refunds", "source: postgres\ntable: sales.refunds"),
            "seeknal/sources/big_orders.yml": source_yml(
                "big_orders",
                "source: postgres\nparams:\n  query: |\n"
                "    WITH big AS (SELECT id, amount FROM orders WHERE amount > 10)\n    SELECT * FROM big\n",
            ),
            "seeknal/transforms/paid.yml": """
                kind: transform
                name: paid
                inputs: [{ref: source.orders}]
                transform: SELECT id, amount FROM ref('source.orders') WHERE paid
            """,
        }
    )
    result = materialize(project)
    assert result.success, failure_text(result)
    assert materialized_keys(result) == {"source/orders", "source/refunds", "source/big_orders", "transform/paid"}

    assert output_schema(project, "source.orders") == [
        ("id", "INTEGER"),
        ("customer", "BIGINT"),
        ("amount", "DECIMAL(10,2)"),
        ("ratio", "DOUBLE"),
        ("note", "VARCHAR"),
        ("paid", "BOOLEAN"),
        ("ordered_on", "DATE"),
        ("created_at", "TIMESTAMP"),
        ("shipped_at", "TIMESTAMP WITH TIME ZONE"),
        ("ref", "VARCHAR"),
        ("extra", "VARCHAR"),
    ]
    path = project / "target/intermediate/source_orders.parquet"
    first, second, third = duckdb.sql(
        f"SELECT id, amount, ratio, created_at::VARCHAR, epoch(shipped_at), ref, extra FROM '{path}' ORDER BY id"
    ).fetchall()
    assert first == (1, Decimal("12.50"), 0.5, "2024-01-02 03:04:05.123456", 1704182400.0,
                     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", '{"gift": true}')
    assert second == (2, None, None, None, None, None, None)
    assert third[-1] == "[1, 2]"

    assert output_rows(project, "source.refunds") == []
    assert output_schema(project, "source.refunds") == [("order_id", "INTEGER"), ("reason", "VARCHAR")]
    assert output_rows(project, "source.big_orders") == [(1, Decimal("12.50"))]
    assert output_rows(project, "transform.paid") == [(1, Decimal("12.50"))]

    metadata = materialization_metadata(result, "source/orders")
    assert metadata["dagster/row_count"] == 3
    assert metadata["seeknal/location"] == "public.orders"
    assert metadata["seeknal/connection"] == "warehouse"
    assert "WITH big AS" in materialization_metadata(result, "source/big_orders")["seeknal/sql"]


def test_inline_params_override_the_profile(make_project, warehouse_env, postgres_server, monkeypatch):
    monkeypatch.setenv("SHOP_PG_PORT", "1")  # the profile's port is wrong; the node's own wins
    project = make_project(
        {
            "profiles.yml": PROFILES,
            "seeknal/sources/orders.yml": source_yml(
                "orders",
                f"source: postgresql\ntable: orders\nparams: {{connection: warehouse, port: {postgres_server.port}}}",
            ),
        }
    )
    result = materialize(project)
    assert result.success, failure_text(result)
    assert materialization_metadata(result, "source/orders")["dagster/row_count"] == 3


def test_the_password_never_reaches_metadata_logs_or_files(make_project, warehouse_env, postgres_server):
    inline = (
        f"source: postgresql\ntable: orders\nparams: {{host: 127.0.0.1, port: {postgres_server.port}, "
        f"database: seeknal_shop, user: shop_reader, password: {INLINE_PASSWORD}}}"
    )
    project = make_project(
        {
            "profiles.yml": PROFILES,
            "seeknal/sources/from_profile.yml": source_yml("from_profile", "source: postgres\ntable: orders"),
            "seeknal/sources/inline.yml": source_yml("inline", inline),
            "seeknal/sources/bad_query.yml": source_yml(
                "bad_query",
                f"source: postgres\nparams: {{query: 'SELECT nope FROM orders', password: {INLINE_PASSWORD}}}",
            ),
            "seeknal/sources/unreachable.yml": source_yml(
                "unreachable", f"source: postgres\ntable: orders\nparams: {{port: 1, password: {INLINE_PASSWORD}}}"
            ),
        }
    )
    instance = dagster.DagsterInstance.ephemeral()
    result = materialize(project, instance=instance)
    assert materialized_keys(result) == {"source/from_profile", "source/inline"}
    text = failure_text(result)
    assert 'column "nope" does not exist' in text and "source.bad_query" in text
    assert "source.unreachable" in text
    assert "could not connect to PostgreSQL shop_reader@127.0.0.1:1/seeknal_shop" in text
    assert materialization_metadata(result, "source/inline")["seeknal/params"]["password"] == "***"

    event_log = "\n".join(dagster.serialize_value(entry) for entry in instance.all_logs(result.run_id))
    written = b"".join(path.read_bytes() for path in Path(project, "target").rglob("*") if path.is_file())
    assert "could not connect to PostgreSQL" in event_log and "public.orders" in event_log
    for secret in (PASSWORD, INLINE_PASSWORD):
        assert secret not in event_log
        assert secret.encode() not in written


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("params: {query: 'WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone'}", "data-modifying"),
        ("params: {query: \"SELECT nextval('order_numbers')\"}", "read-only transaction"),
        ("params: {query: 'SELECT * FROM missing_table'}", 'relation "missing_table" does not exist'),
    ],
    ids=["dml-in-cte", "write-in-select", "bad-query"],
)
def test_bad_postgres_sources_fail_naming_the_node(make_project, warehouse_env, postgres_server, body, expected):
    project = make_project(
        {"profiles.yml": PROFILES, "seeknal/sources/broken.yml": source_yml("broken", f"source: postgres\n{body}")}
    )
    result = materialize(project)
    assert not result.success
    text = failure_text(result)
    assert "source.broken" in text and expected in text
    with psycopg.connect(postgres_server.dsn("seeknal_shop")) as connection:
        assert connection.execute("SELECT count(*) FROM orders").fetchone() == (3,)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("table: orders\nparams: {connection: nowhere}", "params.connection: connection 'nowhere' is not defined"),
        ("params: {query: 'DROP TABLE orders'}", "params.query: params.query must be a single SELECT or WITH query"),
        ("params: {query: 'SELECT 1; DELETE FROM orders'}", "DDL/DML is not allowed"),
    ],
    ids=["unknown-connection", "ddl", "smuggled-dml"],
)
def test_what_a_postgres_source_says_wrong_is_refused_before_connecting(make_project, body, expected):
    broken = source_yml("broken", f"source: postgres\n{body}")
    project = make_project({"profiles.yml": PROFILES, "seeknal/sources/broken.yml": broken})
    assert expected in load_problem(project, "source.broken")


SERVER_STATE = (
    "SELECT (SELECT count(*) FROM pg_largeobject_metadata), (SELECT count(*) FROM pg_largeobject_metadata WHERE oid = 4242)"
)


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ("SELECT lo_create(0) AS created", "lo_create()"),
        ("SELECT lo_unlink(4242) AS gone", "lo_unlink()"),
        ("SELECT id, lo_from_bytea(0, note::bytea) FROM orders", "lo_from_bytea()"),
        ('SELECT "lo_unlink" (4242)', "lo_unlink()"),
        ("SELECT pg_catalog.LO_UNLINK/* a comment */(4242)", "lo_unlink()"),
        ("SELECT id FROM orders WHERE id = 1 AND lo_unlink(4242) = 1", "lo_unlink()"),
        ('SELECT U&"lo\\005funlink"(4242)', 'U&"…"'),
        ("SELECT query_to_xml('SELECT lo_unlink(4242)', true, true, '')", "query_to_xml()"),
        ("SELECT set_config('statement_timeout', '1', false)", "set_config()"),
        ("SELECT pg_advisory_lock(7)", "pg_advisory_lock()"),
        ("SELECT pg_notify('orders', 'read')", "pg_notify()"),
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE false", "pg_terminate_backend()"),
    ],
    ids=["lo_create", "lo_unlink", "lo_from_bytea", "quoted", "qualified-commented", "in-where", "unicode-escape",
         "sql-as-text", "set_config", "advisory-lock", "notify", "terminate"],
)
def test_a_query_calling_what_read_only_does_not_stop_is_refused_at_load(
    make_project, warehouse_env, postgres_server, query, refused
):
    # PostgreSQL 15 runs each of these inside a READ ONLY transaction, as the reader role (rolled back here).
    reader = f"host={postgres_server.host} port={postgres_server.port} user=shop_reader dbname=seeknal_shop"
    with psycopg.connect(reader) as connection:
        connection.read_only = True
        connection.execute(query).fetchall()
        connection.rollback()
    project = make_project(
        {"profiles.yml": PROFILES, "seeknal/sources/broken.yml": source_yml("broken", f"source: postgres\nparams: {{query: {json.dumps(query)}}}")}
    )

    problem = load_problem(project, "source.broken")

    assert problem.startswith("params.query: ") and refused in problem and "read-only transaction does not stop" in problem
    with psycopg.connect(postgres_server.dsn("seeknal_shop")) as connection:
        assert connection.execute(SERVER_STATE).fetchone() == (1, 1)


def test_function_names_in_strings_and_comments_are_only_text(make_project, warehouse_env):
    query = (
        "SELECT id, 'call lo_unlink(4242) later' AS note, $tag$ set_config('x', 'y', false) $tag$ AS quoted\n"
        "FROM orders -- lo_create(0)\nWHERE /* pg_notify('a', 'b') */ id < 3"
    )
    project = make_project(
        {"profiles.yml": PROFILES, "seeknal/sources/notes.yml": source_yml("notes", f"source: postgres\nparams: {{query: {json.dumps(query)}}}")}
    )

    result = materialize(project)

    assert result.success, failure_text(result)
    assert output_rows(project, "source.notes") == [
        (1, "call lo_unlink(4242) later", " set_config('x', 'y', false) "),
        (2, "call lo_unlink(4242) later", " set_config('x', 'y', false) "),
    ]


def test_a_run_value_in_a_postgres_query_is_one_literal_and_cannot_pick_the_server(make_project, warehouse_env):
    project = make_project(
        {
            "profiles.yml": PROFILES,
            "seeknal/sources/by_note.yml": source_yml(
                "by_note", "source: postgres\nparams: {query: \"SELECT id FROM orders WHERE note = '{{ note }}'\"}"
            ),
            "seeknal/sources/elsewhere.yml": source_yml(
                "elsewhere", "source: postgres\ntable: orders\nparams: {host: '{{ host }}'}"
            ),
        }
    )
    hostile = {"note": "x' OR '1'='1'; SELECT pg_sleep(0) --", "host": "attacker.invalid"}
    result = materialize(project, run_config=seeknal_params_config(hostile))
    assert materialized_keys(result) == {"source/by_note"}
    assert output_rows(project, "source.by_note") == []  # no note is that text
    text = failure_text(result)
    assert "source.elsewhere" in text and "param 'host' comes from run config" in text and "params.host" in text

    good = seeknal_params_config({"note": "third"})
    assert materialize(project, 'key:"source/by_note"', run_config=good).success
    assert output_rows(project, "source.by_note") == [(3,)]
