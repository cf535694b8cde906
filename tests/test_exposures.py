"""Exposures deliver for real: files, a PostgreSQL table, an HTTP API, a dashboard link and a webhook, each against
real local endpoints, with data contracts checked first and nothing delivered from missing data."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import dagster
import duckdb
import psycopg
import pytest

from seeknal_dagster import build_definitions
from seeknal_dagster.executors import ExecutionStatus, ExecutorError, ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.project.errors import ProjectLoadError
from tests.support.cli import seeknal_params_config
from tests.support.projects import (
    failure_messages,
    load_problem,
    materialization_metadata,
    materialize,
    replace_in_file,
    run_node,
)

ORDERS_CSV = """\
order_id,customer,amount,ordered_on
1,ann,10.5,2025-12-01
2,bob,20.0,2025-12-02
3,cid,30.25,2025-12-03
4,dee,5.0,2025-12-04
5,eve,7.75,2025-12-05
"""


def exposure_project(make_project, exposure: str, name: str = "delivery", **extra: str) -> Path:
    files = {
        "data/orders.csv": ORDERS_CSV,
        "seeknal/sources/orders.yml": """
            kind: source
            name: orders
            source: csv
            table: data/orders.csv
        """,
        f"seeknal/exposures/{name}.yml": exposure,
    }
    files.update(extra)
    return make_project(files)


def deliver(project: Path, exposure_id: str = "exposure.delivery"):
    """Materialize the source, then run the exposure's executor directly."""
    assert run_node(project, "source.orders").is_success()
    return run_node(project, exposure_id)


# Files -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, relative, read",
    [
        ("params: {path: exports/orders.csv}", "exports/orders.csv", "read_csv"),
        ("params: {path: exports/orders.parquet}", "exports/orders.parquet", "read_parquet"),
        ("params: {path: exports/orders.out, format: jsonl}", "exports/orders.out", "read_json"),
        ("path: exports/orders.json", "exports/orders.json", "read_json"),  # Seeknal rejects a top-level path
    ],
)
def test_file_exposures_write_every_format_relative_to_the_project(make_project, settings, relative, read):
    project = exposure_project(
        make_project, f"kind: exposure\nname: delivery\ntype: file\ninputs: [{{ref: source.orders}}]\n{settings}\n"
    )

    result = materialize(project)

    assert result.success
    target = project / relative
    rows = duckdb.sql(f"SELECT order_id, customer FROM {read}('{target}') ORDER BY order_id").fetchall()
    assert rows[0] == (1, "ann") and len(rows) == 5
    metadata = materialization_metadata(result, "exposure/delivery")
    assert metadata["dagster/row_count"] == 5
    assert metadata["seeknal/delivered"] is True
    assert [path.name for path in target.parent.iterdir()] == [target.name]  # no temporary left behind


def test_json_is_one_array_of_records(make_project):
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: file\ninputs: [{ref: source.orders}]\nparams: {path: out/orders.json}\n",
    )

    deliver(project)

    records = json.loads((project / "out/orders.json").read_text())
    assert records[1] == {"order_id": 2, "customer": "bob", "amount": 20.0, "ordered_on": "2025-12-02"}


def test_a_missing_upstream_output_fails_and_writes_nothing(make_project):
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: file\ndepends_on: [{ref: source.orders}]\nparams: {path: out/orders.csv}\n",
    )

    with pytest.raises(ExecutorExecutionError, match="source.orders has no output"):
        run_node(project, "exposure.delivery")

    assert not (project / "out").exists()


def test_a_broken_contract_fails_naming_every_difference_and_keeps_the_last_delivery(make_project):
    contract = "contract:\n  columns: {order_id: integer, customer: string, amount: double}\n  min_rows: 3\n"
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: file\ninputs: [{ref: source.orders}]\n"
        f"params: {{path: out/orders.csv}}\n{contract}",
    )
    assert deliver(project).is_success()
    delivered = (project / "out/orders.csv").read_text()

    (project / "data/orders.csv").write_text("order_id,customer,amount\nx,ann,1\n")
    with pytest.raises(ExecutorExecutionError) as raised:
        deliver(project)

    message = raised.value.message
    assert "breaks the exposure's contract" in message
    assert "column 'order_id' is VARCHAR, the contract says integer" in message
    assert "1 row(s), the contract requires at least 3" in message
    assert (project / "out/orders.csv").read_text() == delivered


@pytest.mark.parametrize(
    "exposure, message",
    [
        ("type: file\ninputs: [{ref: source.orders}]\n", "params.path"),
        ("type: file\ninputs: [{ref: source.orders}]\nparams: {path: a.txt, format: xml}\n", "unknown format 'xml'"),
        ("type: carrier_pigeon\ninputs: [{ref: source.orders}]\n", "unsupported exposure type 'carrier_pigeon'"),
        (
            "type: database\ninputs: [{ref: source.orders}]\nparams: {connection: nowhere, table: t}\n",
            "connection 'nowhere' is not defined",
        ),
        ("type: api\ninputs: [{ref: source.orders}]\nurl: ftp://example.com/in\n", "is not an http(s) URL"),
        ("type: dashboard\nurl: not a url\n", "is not an http(s) URL"),
        ("type: notification\nparams: {channel: email, url: 'http://127.0.0.1:9/'}\n", "channel 'email' is not supported"),
        (
            "type: database\ninputs: [{ref: source.orders}]\nparams: {connection: w, table: t, on_schema_change: drop}\n",
            "on_schema_change 'drop' is not supported",
        ),
        ("type: api\ninputs: [{ref: source.orders}]\nurl: 'http://127.0.0.1:9/'\nparams: {max_wait: -1}\n", "max_wait must be >= 0"),
    ],
)
def test_invalid_exposures_fail_validation_naming_the_node(make_project, exposure, message):
    project = exposure_project(make_project, f"kind: exposure\nname: delivery\n{exposure}")

    assert message in load_problem(project, "exposure.delivery")


@pytest.mark.parametrize(
    "exposure, message",
    [
        ("type: starrocks_materialized_view\ninputs: [{ref: source.orders}]\n", "does not deliver 'starrocks_materialized_view'"),
        (
            "type: file\ninputs: [{ref: source.orders}]\nparams: {path: a.csv}\ncontract: {columns: {id: intger}}\n",
            "unknown type 'intger'",
        ),
    ],
)
def test_exposures_that_load_but_cannot_deliver_fail_before_reading_anything(make_project, exposure, message):
    """A type only Seeknal delivers loads (with a warning) and fails when it runs; so does a contract naming a type
    DuckDB does not know (checking it needs DuckDB's type parser, which loading a project does not import)."""
    project = exposure_project(make_project, f"kind: exposure\nname: delivery\n{exposure}")

    with pytest.raises(ExecutorValidationError) as raised:
        run_node(project, "exposure.delivery")

    assert raised.value.node_id == "exposure.delivery"
    assert message in raised.value.message


def test_exposures_are_assets_downstream_of_their_inputs_with_their_type_as_kinds(make_project):
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: file\ninputs: [{ref: source.orders}]\nparams: {path: out/o.parquet}\n",
        **{
            "seeknal/exposures/board.yml": "kind: exposure\nname: board\ntype: dashboard\n"
            "depends_on: [{ref: source.orders}]\nurl: https://bi.example.com/orders\n",
            "seeknal/exposures/warehouse.yml": "kind: exposure\nname: warehouse\ntype: database\n"
            "inputs: [{ref: source.orders}]\nparams: {connection: warehouse, table: public.orders}\n",
            "profiles.yml": "connections: {warehouse: {type: postgresql, host: localhost}}\n",
        },
    )
    graph = build_definitions(project).resolve_asset_graph()

    def spec(key: str) -> dagster.AssetSpec:
        return graph.get(dagster.AssetKey(key.split("/"))).to_asset_spec()

    assert spec("exposure/delivery").kinds == {"seeknal", "file", "parquet"}
    assert spec("exposure/board").kinds == {"seeknal", "dashboard"}
    assert spec("exposure/warehouse").kinds == {"seeknal", "database", "postgres"}
    assert {dep.asset_key for dep in spec("exposure/board").deps} == {dagster.AssetKey(["source", "orders"])}


# PostgreSQL --------------------------------------------------------------------------------------------------

SECRET = "s3cr3t-never-shown"


def database_project(make_project, postgres_server, database: str, mode: str) -> Path:
    return exposure_project(
        make_project,
        f"""
            kind: exposure
            name: delivery
            type: database
            inputs: [{{ref: source.orders}}]
            params:
              connection: warehouse
              table: analytics.orders
              mode: {mode}
        """,
        **{
            "profiles.yml": f"""
                connections:
                  warehouse:
                    type: postgresql
                    host: {postgres_server.host}
                    port: {postgres_server.port}
                    database: {database}
                    user: {postgres_server.user}
                    password: ${{EXPOSURE_TEST_PG_PASSWORD}}
            """
        },
    )


def table_rows(postgres_server, database: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(postgres_server.dsn(database)) as connection:
        return connection.execute(query).fetchall()


def test_database_exposure_replaces_a_postgres_table_in_one_transaction(
    make_project, postgres_server, monkeypatch
):
    monkeypatch.setenv("EXPOSURE_TEST_PG_PASSWORD", SECRET)
    database = postgres_server.create_database("exposure_replace")
    project = database_project(make_project, postgres_server, database, "replace")

    result = materialize(project)

    assert result.success, failure_messages(result)
    rows = table_rows(
        postgres_server, database, "SELECT order_id, customer, amount, ordered_on FROM analytics.orders ORDER BY 1"
    )
    assert len(rows) == 5 and rows[0][:2] == (1, "ann") and str(rows[0][3]) == "2025-12-01"
    metadata = materialization_metadata(result, "exposure/delivery")
    assert metadata["seeknal/table"] == "analytics.orders" and metadata["seeknal/mode"] == "replace"
    assert all(SECRET not in str(event) for event in result.all_events)

    (project / "data/orders.csv").write_text("order_id,customer,amount,ordered_on\n9,zoe,1.0,2025-12-09\n")
    assert materialize(project).success
    assert table_rows(postgres_server, database, "SELECT order_id FROM analytics.orders") == [(9,)]


BI_SETUP = """
    CREATE ROLE bi_reader;
    CREATE ROLE orders_owner;
    ALTER TABLE analytics.orders OWNER TO orders_owner;
    GRANT USAGE ON SCHEMA analytics TO bi_reader;
    GRANT SELECT ON analytics.orders TO bi_reader;
    CREATE INDEX orders_by_customer ON analytics.orders (customer);
    COMMENT ON TABLE analytics.orders IS 'Orders, delivered by seeknal';
    COMMENT ON COLUMN analytics.orders.amount IS 'In EUR';
    CREATE VIEW analytics.big_orders AS SELECT * FROM analytics.orders WHERE amount > 10;
    GRANT SELECT ON analytics.big_orders TO bi_reader;
    CREATE TABLE analytics.loads (rows_loaded bigint);
    CREATE FUNCTION analytics.count_load() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO analytics.loads SELECT count(*) FROM new_rows; RETURN NULL; END $$;
    CREATE TRIGGER orders_loaded AFTER INSERT ON analytics.orders
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.count_load();
"""


def bi_view_of_the_table(postgres_server, database: str) -> dict[str, Any]:
    """What the BI team set up on the table, and what its role can read."""
    [[owner, readable, indexes, comment, column_comment, triggers]] = table_rows(
        postgres_server,
        database,
        "SELECT pg_get_userbyid(c.relowner), has_table_privilege('bi_reader', c.oid, 'SELECT'),"
        " (SELECT array_agg(indexname::text) FROM pg_indexes WHERE schemaname = 'analytics' AND tablename = 'orders'),"
        " obj_description(c.oid, 'pg_class'), col_description(c.oid, 3),"
        " (SELECT array_agg(tgname::text) FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)"
        " FROM pg_class c WHERE c.oid = 'analytics.orders'::regclass",
    )
    with psycopg.connect(postgres_server.dsn(database)) as connection:
        connection.execute("SET ROLE bi_reader")
        big_orders = connection.execute("SELECT order_id FROM analytics.big_orders ORDER BY 1").fetchall()
    return {
        "owner": owner, "readable": readable, "indexes": indexes, "comment": comment,
        "column_comment": column_comment, "triggers": triggers, "big_orders": [row[0] for row in big_orders],
    }


def delivered_then_altered(make_project, postgres_server, monkeypatch, database: str, dba_sql: str) -> Path:
    """A project whose exposure replaced ``analytics.orders`` once in a database of its own, after which its DBA
    ran ``dba_sql``."""
    monkeypatch.setenv("EXPOSURE_TEST_PG_PASSWORD", SECRET)
    postgres_server.create_database(database)
    project = database_project(make_project, postgres_server, database, "replace")
    assert materialize(project).success
    with psycopg.connect(postgres_server.dsn(database), autocommit=True) as connection:
        connection.execute(dba_sql)
    return project


def test_replacing_keeps_grants_indexes_comments_owner_triggers_and_dependent_views(
    make_project, postgres_server, monkeypatch
):
    database = "exposure_keeps_table"
    project = delivered_then_altered(make_project, postgres_server, monkeypatch, database, BI_SETUP)
    set_up = bi_view_of_the_table(postgres_server, database)

    for run in range(2):
        (project / "data/orders.csv").write_text(ORDERS_CSV.replace("30.25", f"{31 + run}.5"))
        result = materialize(project)
        assert result.success, failure_messages(result)

    assert bi_view_of_the_table(postgres_server, database) == set_up == {
        "owner": "orders_owner", "readable": True, "indexes": ["orders_by_customer"],
        "comment": "Orders, delivered by seeknal", "column_comment": "In EUR", "triggers": ["orders_loaded"],
        "big_orders": [1, 2, 3],
    }
    assert table_rows(postgres_server, database, "SELECT amount FROM analytics.orders WHERE order_id = 3") == [(32.5,)]
    assert table_rows(postgres_server, database, "SELECT rows_loaded FROM analytics.loads") == [(5,), (5,)]


def test_a_load_failing_midway_leaves_the_old_rows(make_project, postgres_server, monkeypatch):
    database = "exposure_midway"
    constraint = "ALTER TABLE analytics.orders ADD CONSTRAINT positive CHECK (amount > 0)"
    project = delivered_then_altered(make_project, postgres_server, monkeypatch, database, constraint)

    # The fifth row breaks the table's constraint: the first four were already sent when the load fails.
    (project / "data/orders.csv").write_text(ORDERS_CSV.replace("7.75", "-1") + "6,fay,1.0,2025-12-06\n")
    failed = materialize(project)

    assert not failed.success
    assert "writing analytics.orders" in failure_messages(failed) and "positive" in failure_messages(failed)
    assert table_rows(postgres_server, database, "SELECT count(*), max(order_id) FROM analytics.orders") == [(5, 5)]
    assert all(SECRET not in str(event) for event in failed.all_events)


def test_a_table_with_other_columns_fails_clearly_unless_told_to_follow_the_data(make_project, postgres_server, monkeypatch):
    database = "exposure_columns"
    grant = "CREATE ROLE columns_reader; GRANT SELECT ON analytics.orders TO columns_reader"
    project = delivered_then_altered(make_project, postgres_server, monkeypatch, database, grant)

    (project / "data/orders.csv").write_text("order_id,customer,total\n7,gus,3.5\n")
    failed = materialize(project)

    message = failure_messages(failed)
    assert "the data has column(s) total the table lacks" in message
    assert "the table has column(s) amount, ordered_on the data lacks" in message
    assert table_rows(postgres_server, database, "SELECT count(*) FROM analytics.orders") == [(5,)]

    replace_in_file(project / "seeknal/exposures/delivery.yml", "mode: replace", "mode: replace\n  on_schema_change: sync")
    assert materialize(project).success
    assert table_rows(postgres_server, database, "SELECT * FROM analytics.orders") == [(7, "gus", 3.5)]
    assert table_rows(
        postgres_server, database, "SELECT has_table_privilege('columns_reader', 'analytics.orders', 'SELECT')"
    ) == [(True,)]


def test_database_exposure_appends_and_creates_the_table_once(make_project, postgres_server, monkeypatch):
    monkeypatch.setenv("EXPOSURE_TEST_PG_PASSWORD", SECRET)
    database = postgres_server.create_database("exposure_append")
    project = database_project(make_project, postgres_server, database, "append")

    assert deliver(project).row_count == 5
    assert deliver(project).row_count == 5

    assert table_rows(postgres_server, database, "SELECT count(*), count(DISTINCT order_id) FROM analytics.orders") == [(10, 5)]


def test_an_unreachable_database_fails_without_showing_the_password(make_project, postgres_server, monkeypatch):
    monkeypatch.setenv("EXPOSURE_TEST_PG_PASSWORD", SECRET)
    project = database_project(make_project, postgres_server, "no_such_database", "replace")

    with pytest.raises(ExecutorError) as raised:
        deliver(project)

    assert "could not connect to warehouse" in raised.value.message
    assert SECRET not in raised.value.message


def test_a_disabled_exposure_delivers_nothing_and_succeeds(make_project):
    project = exposure_project(
        make_project,
        """
            kind: exposure
            name: delivery
            type: database
            inputs: [{ref: source.orders}]
            params:
              enabled: "{{ env('DELIVER_ORDERS_TO_WAREHOUSE', 'false') }}"
              connection: warehouse
              table: analytics.orders
        """,
        **{"profiles.yml": "connections:\n  warehouse: {type: postgresql, host: 127.0.0.1, port: 9}\n"},
    )

    result = materialize(project)

    assert result.success
    assert materialization_metadata(result, "exposure/delivery")["seeknal/delivered"] is False


# HTTP --------------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    delay: float = 0.0
    #: The headers, or a function returning them when the reply is sent.
    headers: dict[str, str] | Callable[[], dict[str, str]] = field(default_factory=dict)
    #: The body, or a function of the request (as recorded) returning it.
    body: bytes | Callable[[dict[str, Any]], bytes] = b"ok"


@dataclass
class Endpoint:
    """A local HTTP server that answers with the planned replies (then 200) and records every request."""

    url: str
    plan: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, *statuses: int, delay: float = 0.0, headers: Any = None, body: Any = b"ok") -> None:
        self.plan.extend(Reply(status, delay, headers or {}, body) for status in statuses)


@contextmanager
def running_endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "json": json.loads(body) if body else None,
                "received": time.monotonic(),
            }
            state.requests.append(request)
            reply = state.plan.pop(0) if state.plan else Reply(200)
            time.sleep(reply.delay)
            content = reply.body(request) if callable(reply.body) else reply.body
            try:
                self.send_response(reply.status)
                for name, value in (reply.headers() if callable(reply.headers) else reply.headers).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_POST = do_GET = do_HEAD = do_PUT = _respond

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with running_endpoint() as state:
        yield state


def api_exposure(url: str, extra: str = "", batch_size: int = 2) -> str:
    return (
        "kind: exposure\nname: delivery\ntype: api\ninputs: [{ref: source.orders}]\n"
        f"url: {url}/orders\nparams:\n  batch_size: {batch_size}\n  backoff: 0.01\n{extra}"
    )


def test_api_exposure_posts_records_in_batches_with_headers_and_auth_from_env(make_project, endpoint, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", SECRET)
    project = exposure_project(
        make_project,
        api_exposure(
            endpoint.url,
            "  records_key: records\n  headers: {X-Source: seeknal}\n  auth: {bearer_token: '${ORDERS_API_TOKEN}'}\n",
        ),
    )

    result = materialize(project)

    assert result.success
    assert [len(request["json"]["records"]) for request in endpoint.requests] == [2, 2, 1]
    assert endpoint.requests[0]["json"]["records"][0] == {
        "order_id": 1, "customer": "ann", "amount": 10.5, "ordered_on": "2025-12-01"
    }
    headers = endpoint.requests[0]["headers"]
    assert headers["Authorization"] == f"Bearer {SECRET}" and headers["X-Source"] == "seeknal"
    assert headers["Content-Type"] == "application/json"
    metadata = materialization_metadata(result, "exposure/delivery")
    assert metadata["dagster/row_count"] == 5 and metadata["seeknal/batches"] == 3
    assert all(SECRET not in str(event) for event in result.all_events)


def test_api_exposure_retries_a_server_error_then_succeeds(make_project, endpoint):
    endpoint.answer(500)
    project = exposure_project(make_project, api_exposure(endpoint.url))

    result = deliver(project)

    assert result.status == ExecutionStatus.SUCCESS and result.row_count == 5
    assert len(endpoint.requests) == 4  # the first batch twice, then two more
    assert endpoint.requests[0]["json"] == endpoint.requests[1]["json"]


def test_api_exposure_gives_up_after_its_retries(make_project, endpoint):
    endpoint.answer(200, 503, 503, 503)
    project = exposure_project(make_project, api_exposure(endpoint.url, "  retries: 2\n"))

    with pytest.raises(ExecutorExecutionError) as raised:
        deliver(project)

    message = raised.value.message
    assert "batch 2 of 3" in message and "failed after 3 attempt(s): HTTP 503" in message
    assert "partial delivery: 2 of 5 row(s) in 1 of 3 batch(es) were delivered" in message
    assert len(endpoint.requests) == 4


def test_api_exposure_does_not_retry_a_rejected_request(make_project, endpoint):
    endpoint.answer(400)
    project = exposure_project(make_project, api_exposure(endpoint.url))

    with pytest.raises(ExecutorExecutionError, match="rejected with HTTP 400"):
        deliver(project)

    assert len(endpoint.requests) == 1


def test_api_exposure_times_out_on_a_slow_endpoint(make_project, endpoint):
    endpoint.answer(200, delay=1.0)
    project = exposure_project(make_project, api_exposure(endpoint.url, "  timeout: 0.2\n  retries: 0\n"))

    with pytest.raises(ExecutorExecutionError, match=r"failed after 1 attempt\(s\): no response within 0.2s"):
        deliver(project)


def test_api_exposure_fails_by_name_when_a_secret_is_not_set(make_project, endpoint, monkeypatch):
    monkeypatch.delenv("ORDERS_API_TOKEN", raising=False)
    project = exposure_project(
        make_project, api_exposure(endpoint.url, "  auth: {bearer_token: '${ORDERS_API_TOKEN}'}\n")
    )

    with pytest.raises(ExecutorError, match="ORDERS_API_TOKEN, which are not set"):
        deliver(project)

    assert endpoint.requests == []


def test_dashboard_exposure_records_its_link_and_checks_reachability_when_asked(make_project, endpoint):
    project = exposure_project(
        make_project,
        f"kind: exposure\nname: delivery\ntype: dashboard\ndepends_on: [{{ref: source.orders}}]\nurl: {endpoint.url}/board\n"
        "params: {check_reachable: true}\n",
    )

    result = materialize(project)

    assert result.success
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "exposure/delivery")
    link = event.step_materialization_data.materialization.metadata["seeknal/url"]
    assert isinstance(link, dagster.UrlMetadataValue) and link.value == f"{endpoint.url}/board"
    assert [request["method"] for request in endpoint.requests] == ["HEAD"]

    endpoint.answer(404, 404)
    with pytest.raises(ExecutorExecutionError, match="is not reachable: HTTP 404"):
        run_node(project, "exposure.delivery")


def test_notification_exposures_post_a_webhook_and_a_slack_message(make_project, endpoint):
    project = exposure_project(
        make_project,
        f"kind: exposure\nname: delivery\ntype: notification\ninputs: [{{ref: source.orders}}]\n"
        f"params: {{channel: webhook, url: '{endpoint.url}/hook'}}\n",
        **{
            "seeknal/exposures/slack.yml": "kind: exposure\nname: slack\ntype: notification\n"
            f"inputs: [{{ref: source.orders}}]\nparams: {{channel: slack, url: '{endpoint.url}/slack', "
            "message: 'Orders are in'}\n"
        },
    )

    assert materialize(project).success

    by_path = {request["path"]: request["json"] for request in endpoint.requests}
    assert by_path["/hook"]["node"] == "exposure.delivery" and by_path["/hook"]["rows"] == 5
    assert by_path["/hook"]["input"] == "source.orders"
    assert by_path["/slack"] == {"text": "Orders are in"}


def test_a_run_value_in_a_url_stays_in_its_path_and_never_chooses_the_host(make_project, endpoint):
    """Run config may fill a tenant into a webhook's path; it can neither climb out of it nor send elsewhere."""
    project = exposure_project(
        make_project,
        "kind: exposure\nname: delivery\ntype: notification\ninputs: [{ref: source.orders}]\n"
        f"params: {{channel: webhook, url: '{endpoint.url}/tenants/{{{{ tenant }}}}/hook?from={{{{ sender }}}}'}}\n",
    )
    run_config = seeknal_params_config({"tenant": "acme/../../admin?x=1#", "sender": "a&b=c"})

    assert materialize(project, run_config=run_config).success

    assert [request["path"] for request in endpoint.requests] == [
        "/tenants/acme%2F..%2F..%2Fadmin%3Fx%3D1%23/hook?from=a%26b%3Dc"
    ]

    elsewhere = exposure_project(
        make_project,
        "kind: exposure\nname: elsewhere\ntype: notification\ninputs: [{ref: source.orders}]\n"
        "params: {channel: webhook, url: '{{ base }}/hook'}\n",
        name="elsewhere",
    )
    with pytest.raises(ProjectLoadError) as refused:
        build_definitions(elsewhere, params={"base": "http://attacker.invalid"})
    message = str(refused.value)
    assert "exposure.elsewhere" in message and "param 'base' comes from run config" in message
    assert "may not choose a URL's scheme or host" in message
