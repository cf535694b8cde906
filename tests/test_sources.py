"""File and SQLite sources: a small project on disk per story, materialized through Dagster, outputs read back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from tests.support.projects import load_problem, materialization_metadata, materialize, materialized_keys


def output_rows(project: Path, node: str, order_by: str = "1") -> list[tuple]:
    kind, name = node.split(".")
    path = project / "target" / "intermediate" / f"{kind}_{name}.parquet"
    path = path / "*.parquet" if path.is_dir() else path  # a directory of part files when Spark wrote it
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY {order_by}").fetchall()


def output_schema(project: Path, node: str) -> list[tuple[str, str]]:
    kind, name = node.split(".")
    path = project / "target" / "intermediate" / f"{kind}_{name}.parquet"
    path = path / "*.parquet" if path.is_dir() else path
    return [(row[0], row[1]) for row in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]


def failure_text(result) -> str:
    """What the failed step reported (Dagster shows this message in the run's UI)."""
    return "\n".join(event.step_failure_data.error.message for event in result.get_step_failure_events())


def source_yml(name: str, body: str) -> str:
    return f"kind: source\nname: {name}\n{body.strip()}\n"


def test_csv_with_delimiter_header_and_skip(make_project):
    project = make_project(
        {
            "data/orders.csv": "order_id;amount\n1;10.5\n2;3\n",
            "data/raw.csv": "exported by a tool\n7|a\n8|b\n",
            "seeknal/sources/orders.yml": source_yml(
                "orders", "source: csv\ntable: data/orders.csv\nparams: {delimiter: ';'}"
            ),
            "seeknal/sources/raw.yml": source_yml(
                "raw", "source: csv\ntable: data/raw.csv\nparams: {delim: '|', header: false, skip: 1}"
            ),
        }
    )
    result = materialize(project)
    assert result.success
    assert output_rows(project, "source.orders") == [(1, 10.5), (2, 3.0)]
    assert output_rows(project, "source.raw") == [(7, "a"), (8, "b")]
    metadata = materialization_metadata(result, "source/orders")
    assert metadata["dagster/row_count"] == 2
    assert metadata["seeknal/source_type"] == "csv"
    assert metadata["seeknal/location"] == "data/orders.csv"


def test_parquet_glob_reads_every_file(make_project):
    project = make_project(
        {
            "seeknal/sources/events.yml": source_yml("events", "source: parquet\ntable: data/events/*.parquet"),
            "seeknal/sources/all_events.yml": source_yml("all_events", "source: parquet\ntable: data/events"),
        }
    )
    (project / "data/events").mkdir(parents=True)
    for day, count in (("2024-01-01", 3), ("2024-01-02", 2)):
        duckdb.sql(
            f"COPY (SELECT range AS id, DATE '{day}' AS day FROM range({count})) "
            f"TO '{project}/data/events/{day}.parquet'"
        )
    result = materialize(project)
    assert result.success
    assert materialization_metadata(result, "source/events")["dagster/row_count"] == 5
    assert materialization_metadata(result, "source/all_events")["dagster/row_count"] == 5
    assert output_rows(project, "source.events", "day, id")[-1][0] == 1


def test_json_array_and_newline_delimited(make_project):
    project = make_project(
        {
            "data/users.json": '[{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]',
            "data/clicks.jsonl": '{"id": 1, "page": "/"}\n{"id": 2, "page": "/a"}\n{"id": 3, "page": null}\n',
            "data/views.ndjson": '{"id": 10}\n{"id": 11}\n',
            "seeknal/sources/users.yml": source_yml("users", "source: json\ntable: data/users.json"),
            "seeknal/sources/clicks.yml": source_yml("clicks", "source: jsonl\ntable: data/clicks.jsonl"),
            "seeknal/sources/views.yml": source_yml(
                "views", "source: json\ntable: data/views.ndjson\nparams: {format: newline}"
            ),
        }
    )
    result = materialize(project)
    assert result.success
    assert output_rows(project, "source.users") == [(1, "ann"), (2, "bob")]
    assert output_rows(project, "source.clicks") == [(1, "/"), (2, "/a"), (3, None)]
    assert output_rows(project, "source.views") == [(10,), (11,)]


def test_profile_source_defaults_sit_under_inline_params(make_project):
    project = make_project(
        {
            "profiles.yml": "source_defaults:\n  csv: {delimiter: '|', header: false}\n",
            "data/a.csv": "1|x\n2|y\n",
            "data/b.csv": "id|label\n3|z\n",
            "seeknal/sources/a.yml": source_yml("a", "source: csv\ntable: data/a.csv"),
            "seeknal/sources/b.yml": source_yml("b", "source: csv\ntable: data/b.csv\nparams: {header: true}"),
        }
    )
    result = materialize(project)
    assert result.success
    assert output_rows(project, "source.a") == [(1, "x"), (2, "y")]
    assert output_schema(project, "source.b")[0][0] == "id"
    assert output_rows(project, "source.b") == [(3, "z")]


def test_zero_rows_are_written_with_their_columns(make_project):
    project = make_project(
        {
            "data/empty.csv": "id,name\n",
            "seeknal/sources/empty.yml": source_yml("empty", "source: csv\ntable: data/empty.csv"),
            "seeknal/transforms/downstream.yml": """
                kind: transform
                name: downstream
                inputs: [{ref: source.empty}]
                transform: SELECT count(*) AS n FROM ref('source.empty')
            """,
        }
    )
    result = materialize(project)
    assert result.success
    assert materialized_keys(result) == {"source/empty", "transform/downstream"}
    assert materialization_metadata(result, "source/empty")["dagster/row_count"] == 0
    assert [name for name, _ in output_schema(project, "source.empty")] == ["id", "name"]
    assert output_rows(project, "transform.downstream") == [(0,)]


def make_shop_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            CREATE TABLE customers (
                id INTEGER PRIMARY KEY, name TEXT, balance DECIMAL(10, 2), active BOOLEAN,
                signed_up DATE, last_seen DATETIME, avatar BLOB, code
            );
            INSERT INTO customers VALUES (1, 'ann', 10.5, 1, '2024-01-02', '2024-01-02 03:04:05', x'00ff', 7);
            INSERT INTO customers VALUES (2, NULL, 3, 0, NULL, NULL, NULL, 'B-2');
            INSERT INTO customers VALUES (3, 'cy', NULL, NULL, '2024-03-04', '2024-03-04T05:06:07', NULL, NULL);
            CREATE TABLE returns (id INTEGER, reason TEXT);
            """
        )


def test_sqlite_database_in_table_or_path(make_project):
    project = make_project(
        {
            "seeknal/sources/customers.yml": source_yml(
                "customers", "source: sqlite\ntable: data/shop.db\nparams: {table: customers}"
            ),
            "seeknal/sources/returns.yml": source_yml(
                "returns", "source: sqlite\ntable: returns\nparams: {path: data/shop.db}"
            ),
            "seeknal/sources/big_spenders.yml": source_yml(
                "big_spenders",
                "source: sqlite\ntable: data/shop.db\n"
                "params: {query: 'SELECT id, balance * 2 AS doubled FROM customers WHERE balance > 5'}",
            ),
        }
    )
    make_shop_database(project / "data/shop.db")
    result = materialize(project)
    assert result.success
    assert output_schema(project, "source.customers") == [
        ("id", "BIGINT"),
        ("name", "VARCHAR"),
        ("balance", "DOUBLE"),
        ("active", "BOOLEAN"),
        ("signed_up", "DATE"),
        ("last_seen", "TIMESTAMP"),
        ("avatar", "BLOB"),
        ("code", "VARCHAR"),
    ]
    rows = output_rows(project, "source.customers")
    assert [row[0] for row in rows] == [1, 2, 3]
    assert rows[0][1:4] == ("ann", 10.5, True) and rows[1][7] == "B-2" and rows[0][7] == "7"
    assert str(rows[2][5]) == "2024-03-04 05:06:07" and rows[0][6] == b"\x00\xff"
    # A table with no rows keeps its declared columns.
    assert output_rows(project, "source.returns") == []
    assert output_schema(project, "source.returns") == [("id", "BIGINT"), ("reason", "VARCHAR")]
    assert output_rows(project, "source.big_spenders") == [(1, 21.0)]
    assert "SELECT id, balance * 2" in materialization_metadata(result, "source/big_spenders")["seeknal/sql"]


def test_sqlite_streams_large_tables_in_batches(make_project):
    project = make_project(
        {
            "seeknal/sources/numbers.yml": source_yml(
                "numbers", "source: sqlite\ntable: data/n.sqlite\nparams: {table: n}"
            )
        }
    )
    (project / "data").mkdir()
    with sqlite3.connect(project / "data/n.sqlite") as connection:
        connection.execute("CREATE TABLE n (value INTEGER, label TEXT)")
        # The first batch's labels are all NULL: the column type must still come out as text.
        rows = ((number, None if number < 15_000 else f"v{number}") for number in range(25_000))
        connection.executemany("INSERT INTO n VALUES (?, ?)", rows)
    result = materialize(project)
    assert result.success
    assert materialization_metadata(result, "source/numbers")["dagster/row_count"] == 25_000
    path = project / "target/intermediate/source_numbers.parquet"
    assert duckdb.sql(f"SELECT sum(value), count(label) FROM '{path}'").fetchall() == [(sum(range(25_000)), 10_000)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("source: csv\ntable: data/missing.csv", "csv source file not found: data/missing.csv"),
        ("source: excel\ntable: data/book.xlsx", "seeknal-dagster does not read 'excel' sources"),
        ("source: sqlite\ntable: data/missing.db\nparams: {table: t}", "sqlite database not found: data/missing.db"),
        ("source: sqlite\ntable: data/shop.db\nparams: {table: nope}", "no such table: nope"),
        ("source: csv\ntable: data/bad.csv\nparams: {delimiter: ',', header: true, skip: 'x'}", "data/bad.csv"),
    ],
    ids=["missing-file", "seeknal-only-type", "missing-database", "unknown-table", "bad-option"],
)
def test_bad_sources_fail_naming_node_and_path(make_project, body, expected):
    project = make_project(
        {
            "data/bad.csv": "a,b\n1,2\n",
            "seeknal/sources/broken.yml": source_yml("broken", body),
            "seeknal/sources/fine.yml": source_yml("fine", "source: csv\ntable: data/bad.csv"),
        }
    )
    make_shop_database(project / "data/shop.db")
    result = materialize(project)
    assert not result.success
    assert materialized_keys(result) == {"source/fine"}
    text = failure_text(result)
    assert "source.broken" in text and expected in text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ("source: mongodb\ntable: orders", "source", "unknown source type 'mongodb'"),
        ("source: sqlite\ntable: data/shop.db", "params.table", "needs params.table"),
        ("source: sqlite\ntable: data/shop.db\nparams: {query: 'DELETE FROM customers'}", "params.query", "DDL/DML"),
        ("source: postgres\ntable: a.b.c", "table", "needs 'table: [schema.]table'"),
        ("source: postgres\ntable: orders\nparams: {connection: lake}", "params.connection", "'lake' is not defined"),
        ("source: iceberg\ntable: lake.db.t\nparams: {query: 'DELETE FROM t'}", "params.query", "DDL/DML"),
    ],
    ids=["unknown-type", "no-table", "dml", "three-part-table", "unknown-connection", "iceberg-dml"],
)
def test_settings_a_source_cannot_run_with_are_load_problems(make_project, body, field, expected):
    """Known without reading anything: refused when the project loads, naming the node and the field."""
    project = make_project({"seeknal/sources/broken.yml": source_yml("broken", body)})
    problem = load_problem(project, "source.broken")
    assert problem.startswith(f"{field}: ") and expected in problem
    assert not (project / "target/intermediate/source_broken.parquet").exists()


# Malformed files and declared schemas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n7,8\n", "CSV Error on Line: 4; Original Line: 7,8; Expected Number of Columns: 3 Found: 2"),
        ("a,b,c\n1,2,3\n4,5\n6,7,8,9\n", "CSV Error on Line: 3; Original Line: 4,5"),
        ("a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n", "CSV Error on Line: 3; Original Line: 4,5,6,7; Expected Number of Columns: 3 Found: 4"),
        ("a,b\n" + "".join(f"{i},{i}\n" for i in range(30_000)) + "30000\n", "CSV Error on Line: 30002"),
        ("", "is empty: there is nothing to read"),
        ("\n \n", "is empty: there is nothing to read"),
        ("exported by a tool\nid,name\n1,a\n", "set params.skip: 1"),
    ],
    ids=["short-last-row", "short-row-dropped-by-the-sniffer", "long-row", "ragged-beyond-the-sniff-sample", "zero-bytes",
         "blank-lines", "undeclared-preamble"],
)
def test_a_malformed_csv_fails_naming_node_file_and_line(make_project, text, expected):
    project = make_project(
        {
            "data/bad.csv": text,
            "data/fine.csv": "a,b\n1,2\n",
            "seeknal/sources/broken.yml": source_yml("broken", "source: csv\ntable: data/bad.csv"),
            "seeknal/sources/fine.yml": source_yml("fine", "source: csv\ntable: data/fine.csv"),
        }
    )
    result = materialize(project)
    assert not result.success
    assert materialized_keys(result) == {"source/fine"}
    text = failure_text(result)
    assert "source.broken" in text and "data/bad.csv" in text and expected in text
    assert "Traceback" not in text
    assert not (project / "target/intermediate/source_broken.parquet").exists()


def test_well_formed_csvs_the_width_check_could_mistake_still_read(make_project):
    project = make_project(
        {
            "data/names.csv": '"name, full"\n"Ann, A."\n"Bob, B."\n',  # one column; its values quote the commas
            "data/tabs.csv": "a\tb\n1\t2\n",
            "seeknal/sources/names.yml": source_yml("names", "source: csv\ntable: data/names.csv"),
            "seeknal/sources/tabs.yml": source_yml("tabs", "source: csv\ntable: data/tabs.csv"),
        }
    )
    result = materialize(project)
    assert result.success, failure_text(result)
    assert output_rows(project, "source.names") == [("Ann, A.",), ("Bob, B.",)]
    assert output_rows(project, "source.tabs") == [(1, 2)]


@pytest.mark.parametrize("source, file, text", [("jsonl", "data/x.jsonl", ""), ("json", "data/x.json", " \n")])
def test_an_empty_json_file_fails_too(make_project, source, file, text):
    project = make_project({file: text, "seeknal/sources/x.yml": source_yml("x", f"source: {source}\ntable: {file}")})
    result = materialize(project)
    assert not result.success
    assert f"{source} file {file} is empty" in failure_text(result)


ORDERS_WITH_ZIPS = "order_id,zip,amount,ordered_on,note\n1,01234,10.50,2025-01-02,first\n2,90210,3,2025-01-03,\n"


def test_a_declared_schema_casts_strictly_and_keeps_undeclared_columns(make_project):
    project = make_project(
        {
            "data/orders.csv": ORDERS_WITH_ZIPS,
            "seeknal/sources/orders.yml": source_yml(
                "orders",
                "source: csv\ntable: data/orders.csv\ncolumns:\n  order_id: int\n  zip: string\n  amount: DECIMAL(10,2)\n"
                "  ordered_on: date\n",
            ),
            "seeknal/sources/documented.yml": source_yml(
                "documented", "source: csv\ntable: data/orders.csv\ncolumns:\n  order_id: Order key\n  zip: Postal code"
            ),
            "seeknal/sources/listed.yml": source_yml("listed", "source: csv\ntable: data/orders.csv\ncolumns: [order_id, note]"),
        }
    )
    result = materialize(project)
    assert result.success, failure_text(result)
    assert output_schema(project, "source.orders") == [
        ("order_id", "INTEGER"), ("zip", "VARCHAR"), ("amount", "DECIMAL(10,2)"), ("ordered_on", "DATE"), ("note", "VARCHAR"),
    ]
    assert [row[:2] for row in output_rows(project, "source.orders")] == [(1, "01234"), (2, "90210")]
    # Descriptions are documentation: the types stay those DuckDB detects, as in Seeknal.
    assert output_schema(project, "source.documented")[2] == ("amount", "DOUBLE")
    assert len(output_rows(project, "source.listed")) == 2


@pytest.mark.parametrize(
    ("columns", "data", "expected"),
    [
        ("[order_id, customer_id]", ORDERS_WITH_ZIPS, "has no column 'customer_id' of the source's declared columns"),
        ("{order_id: int, amount: int}", ORDERS_WITH_ZIPS, "column 'amount' holds a value that is not a valid INTEGER: 10.5"),
        ("{amount: double}", ORDERS_WITH_ZIPS.replace("10.50", "ten"), "column 'amount' holds a value that is not a valid DOUBLE: ten"),
        ("{ordered_on: date}", ORDERS_WITH_ZIPS.replace("2025-01-03", "2025-13-01"), "not a valid DATE: 2025-13-01"),
        ("{amount: 'DECIMAL(4,1)'}", ORDERS_WITH_ZIPS.replace("10.50", "10.55"), "not a valid DECIMAL(4,1): 10.55"),
        ("{order_id: tinyint}", ORDERS_WITH_ZIPS.replace("\n2,", "\n300,"), "not a valid TINYINT: 300"),
    ],
    ids=["missing-column", "fraction-in-integer", "text-in-number", "impossible-date", "rounded-decimal", "overflow"],
)
def test_data_that_breaks_the_declared_schema_fails_naming_column_and_value(make_project, columns, data, expected):
    project = make_project(
        {
            "data/orders.csv": data,
            "seeknal/sources/orders.yml": source_yml("orders", f"source: csv\ntable: data/orders.csv\ncolumns: {columns}"),
        }
    )
    result = materialize(project)
    assert not result.success
    text = failure_text(result)
    assert "source.orders" in text and "data/orders.csv" in text and expected in text
    assert not (project / "target/intermediate/source_orders.parquet").exists()


def test_a_declared_schema_holds_for_database_sources_too(make_project):
    project = make_project(
        {
            "seeknal/sources/customers.yml": source_yml(
                "customers", "source: sqlite\ntable: data/shop.db\nparams: {table: customers}\ncolumns: {id: int, code: int}"
            ),
        }
    )
    make_shop_database(project / "data/shop.db")
    result = materialize(project)
    assert not result.success
    assert "source.customers" in failure_text(result) and "column 'code' holds a value that is not a valid INTEGER: B-2" in failure_text(result)
