"""Seeknal Python pipeline files run as assets beside YAML nodes.

A team writes nodes as decorated functions (``@source``, ``@transform``, ``@feature_group``,
``@second_order_aggregation``) taking ``ctx``. Each function runs in a process of its own when its asset is
materialized, its rows land in ``target/intermediate/<kind>_<name>.parquet`` like every other node's, and whatever
it does wrong stays its own failure. Expected outputs come from pandas, computed here from the input files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster
import duckdb
import pandas as pd
import pytest

from seeknal_dagster import ProjectLoadError, build_definitions, load_project
from seeknal_dagster.cli import main as seeknal_dagster_cli
from seeknal_dagster.engines.outputs import output_fingerprint
from seeknal_dagster.engines.python_process import DEFAULT_TIMEOUT_SECONDS
from seeknal_dagster.executors import ExecutionContext, get_executor
from seeknal_dagster.featurestore import get_online_features
from seeknal_dagster.project.python_nodes import PROVIDED_NAMES
from tests.support.projects import (
    failure_messages,
    materialization_metadata,
    materialize,
    materialized_keys,
    table_rows,
)
from tests.test_dagster_cli_e2e import dagster_home, materialize_with_cli  # noqa: F401 - a fixture, used by name

RUNTIME = Path(__file__).resolve().parents[1] / "seeknal_dagster/engines/python_runtime"

ORDERS_CSV = """order_id,customer_id,amount,order_date,status
O1,C1,150.00,2026-01-15,completed
O2,C2,75.50,2026-01-16,completed
O3,C1,200.00,2026-01-17,pending
O4,C3,50.00,2026-01-18,completed
O5,C2,300.00,2026-01-19,cancelled
O6,C1,125.75,2026-01-20,completed
O7,C4,89.99,2026-01-21,completed
O8,C3,175.00,2026-01-22,pending
O9,C1,60.00,2026-01-23,completed
O10,C5,220.00,2026-01-24,completed
"""
CUSTOMERS_CSV = """customer_id,name,region,tier
C1,Alice,north,gold
C2,Bob,south,silver
C3,Chandra,east,bronze
C4,Dewi,north,gold
C5,Eko,west,silver
"""

MEDALLION = {
    "data/raw_orders.csv": ORDERS_CSV,
    "data/raw_customers.csv": CUSTOMERS_CSV,
    "seeknal/pipelines/medallion.py": '''
        # /// script
        # requires-python = ">=3.11"
        # dependencies = ["pandas", "duckdb>=1.0"]
        # ///
        """Bronze CSV sources, silver completed orders, gold lifetime value: only Python."""
        from seeknal.pipeline.decorators import source, transform


        @source(name="raw_orders", source="csv", table="data/raw_orders.csv", tags=["bronze"])
        def raw_orders():
            pass


        @source(name="raw_customers", source="csv", table="data/raw_customers.csv", tags=["bronze"])
        def raw_customers():
            pass


        @transform(name="clean_orders", inputs=["source.raw_orders"], tags=["silver"])
        def clean_orders(ctx):
            orders = ctx.ref("source.raw_orders")
            return ctx.duckdb.sql("""
                SELECT order_id, customer_id, CAST(amount AS DOUBLE) AS amount, CAST(order_date AS DATE) AS order_date
                FROM orders
                WHERE status = 'completed'
            """).df()


        @transform(name="customer_ltv", tags=["gold"])
        def customer_ltv(ctx):
            """Lifetime value of each customer with a completed order."""
            orders = ctx.ref("transform.clean_orders")
            customers = ctx.ref("source.raw_customers")
            print(f"{len(orders)} completed orders")
            return ctx.duckdb.sql("""
                SELECT c.customer_id, c.name, c.tier, count(*) AS total_orders, round(sum(o.amount), 2) AS lifetime_value
                FROM customers c JOIN orders o USING (customer_id)
                GROUP BY ALL
            """).df()
    ''',
}


def frame(path: Path, *order: str) -> pd.DataFrame:
    return pd.read_parquet(path).sort_values(list(order)).reset_index(drop=True)


def expected_ltv(project: Path) -> pd.DataFrame:
    orders = pd.read_csv(project / "data/raw_orders.csv")
    completed = orders[orders["status"] == "completed"]
    customers = pd.read_csv(project / "data/raw_customers.csv")
    ltv = (
        completed.merge(customers, on="customer_id")
        .groupby(["customer_id", "name", "tier"], as_index=False)
        .agg(total_orders=("order_id", "count"), lifetime_value=("amount", "sum"))
    )
    return ltv.assign(lifetime_value=ltv["lifetime_value"].round(2))


def test_a_csv_medallion_written_only_in_python_runs_end_to_end(make_project):
    project = make_project(MEDALLION)
    result = materialize(project)
    assert result.success
    assert materialized_keys(result) == {
        "source/raw_orders",
        "source/raw_customers",
        "transform/clean_orders",
        "transform/customer_ltv",
    }
    intermediate = project / "target/intermediate"
    clean = frame(intermediate / "transform_clean_orders.parquet", "order_id")
    orders = pd.read_csv(project / "data/raw_orders.csv")
    assert sorted(clean["order_id"]) == sorted(orders.loc[orders["status"] == "completed", "order_id"])
    ltv = frame(intermediate / "transform_customer_ltv.parquet", "customer_id")
    pd.testing.assert_frame_equal(ltv, expected_ltv(project), check_dtype=False)

    metadata = materialization_metadata(result, "transform/customer_ltv")
    assert metadata["dagster/row_count"] == 5
    assert [column.name for column in metadata["dagster/column_schema"].columns] == list(ltv.columns)
    assert list(table_rows(metadata["seeknal/preview"])[0]) == ["customer_id", "name", "tier", "total_orders", "lifetime_value"]
    assert metadata["seeknal/engine"] == "python"
    assert metadata["seeknal/function"] == "customer_ltv() in seeknal/pipelines/medallion.py"
    assert metadata["seeknal/result_type"] == "pandas.DataFrame"
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "transform/customer_ltv")
    tags = event.step_materialization_data.materialization.tags
    assert tags["dagster/data_version"] == output_fingerprint(intermediate / "transform_customer_ltv.parquet")
    assert not [path.name for path in intermediate.iterdir() if path.name.startswith(".")]


MIXED = {
    "data/orders.csv": ORDERS_CSV,
    "data/customers.csv": CUSTOMERS_CSV,
    "data/fx_rates.csv": "region,currency,rate_to_usd\nnorth,USD,1.0\nsouth,EUR,1.1\neast,GBP,1.25\nwest,JPY,0.007\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/sources/customers.yml": "kind: source\nname: customers\nsource: csv\ntable: data/customers.csv\n",
    "seeknal/pipelines/fx_rates.py": """
        from seeknal.pipeline import source

        @source(name="fx_rates", source="csv", table="data/fx_rates.csv", description="Rates by region")
        def fx_rates(ctx=None):
            pass
    """,
    # Python reading YAML nodes, returning a DuckDB relation.
    "seeknal/pipelines/orders_usd.py": '''
        from seeknal.pipeline import transform

        @transform(name="orders_usd")
        def orders_usd(ctx):
            orders = ctx.ref("source.orders")
            customers = ctx.ref("source.customers")
            rates = ctx.ref("source.fx_rates")
            return ctx.duckdb.sql("""
                SELECT o.order_id, o.customer_id, c.region, CAST(o.order_date AS DATE) AS order_date,
                       round(o.amount * r.rate_to_usd, 4) AS amount_usd
                FROM orders o JOIN customers c USING (customer_id) JOIN rates r USING (region)
                WHERE o.status = 'completed'
            """)
    ''',
    # YAML reading a Python node.
    "seeknal/transforms/customer_revenue.yml": """
        kind: transform
        name: customer_revenue
        transform: |
          SELECT customer_id, region, sum(amount_usd) AS revenue_usd, count(*) AS orders
          FROM ref('transform.orders_usd')
          GROUP BY ALL
    """,
    # Python reading a YAML node that reads Python, returning a pyarrow table.
    "seeknal/pipelines/top_customers.py": """
        # /// script
        # dependencies = ["pandas", "pyarrow"]
        # ///
        import pyarrow as pa
        from seeknal.pipeline import transform

        TOP = 2

        @transform(name="top_customers", inputs=["transform.customer_revenue"])
        def top_customers(ctx):
            revenue = ctx.ref("customer_revenue")  # a bare name works when it is unique among the inputs
            return pa.Table.from_pandas(revenue.nlargest(TOP, "revenue_usd"), preserve_index=False)
    """,
    "seeknal/rules/orders_usd_positive.yml": """
        kind: rule
        name: orders_usd_positive
        inputs: [{ref: transform.orders_usd}]
        rule: {type: range, column: amount_usd, params: {min_val: 0}}
        params: {severity: error}
    """,
}


def expected_orders_usd(project: Path) -> pd.DataFrame:
    orders = pd.read_csv(project / "data/orders.csv")
    joined = (
        orders[orders["status"] == "completed"]
        .merge(pd.read_csv(project / "data/customers.csv"), on="customer_id")
        .merge(pd.read_csv(project / "data/fx_rates.csv"), on="region")
    )
    return joined.assign(amount_usd=(joined["amount"] * joined["rate_to_usd"]).round(4))


def test_a_mixed_yaml_and_python_project_runs_with_the_dagster_cli_and_reruns_a_python_node_alone(
    make_project, dagster_home, tmp_path  # noqa: F811 - the fixture imported above
):
    make_project(MIXED, name="shop")
    (tmp_path / "shop_definitions.py").write_text(
        "from pathlib import Path\n\nfrom seeknal_dagster import build_definitions\n\n"
        "defs = build_definitions(Path(__file__).parent / 'shop')\n"
    )
    project = tmp_path / "shop"
    first = materialize_with_cli(tmp_path, "shop_definitions", "*")
    assert first.returncode == 0, first.stderr[-3000:]
    intermediate = project / "target/intermediate"
    orders_usd = frame(intermediate / "transform_orders_usd.parquet", "order_id")
    expected = expected_orders_usd(project).sort_values("order_id").reset_index(drop=True)
    assert list(orders_usd["order_id"]) == list(expected["order_id"])
    assert list(orders_usd["amount_usd"]) == pytest.approx(list(expected["amount_usd"]))
    revenue = expected.groupby("customer_id")["amount_usd"].sum()
    top = pd.read_parquet(intermediate / "transform_top_customers.parquet")
    assert list(top["customer_id"]) == list(revenue.nlargest(2).index)
    with dagster.DagsterInstance.get() as instance:
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dagster.AssetCheckKey(dagster.AssetKey(["transform", "orders_usd"]), "orders_usd_positive")]
        )
        (execution,) = checks.values()
        assert execution.evaluation.passed

    # New orders arrive, but only the last Python node runs: it reads customer_revenue as the first run wrote it.
    (project / "data/orders.csv").write_text("order_id,customer_id,amount,order_date,status\nO99,C5,1,2026-02-01,completed\n")
    second = materialize_with_cli(tmp_path, "shop_definitions", 'key:"transform/top_customers"')
    assert second.returncode == 0, second.stderr[-3000:]
    assert pd.read_parquet(intermediate / "transform_top_customers.parquet").equals(top)
    with dagster.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(run.status == dagster.DagsterRunStatus.SUCCESS for run in runs)


FEATURES = {
    "data/orders.csv": ORDERS_CSV,
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/pipelines/features.py": '''
        from seeknal.pipeline import feature_group, second_order_aggregation, transform
        from seeknal.pipeline.materialization import Materialization, OfflineConfig, OnlineConfig


        @transform(name="customer_daily")
        def customer_daily(ctx):
            orders = ctx.ref("source.orders")
            return ctx.duckdb.sql("""
                SELECT customer_id, CAST(order_date AS DATE) AS order_date, DATE '2026-01-31' AS application_date,
                       sum(amount) AS daily_amount, count(*) AS daily_count
                FROM orders WHERE status <> 'cancelled' GROUP BY ALL
            """).df()


        @feature_group(
            name="customer_spend",
            entity="customer",
            materialization=Materialization(offline=OfflineConfig(format="parquet"), online=OnlineConfig(enabled=True)),
        )
        def customer_spend(ctx):
            daily = ctx.ref("transform.customer_daily")
            return ctx.duckdb.sql("""
                SELECT customer_id, sum(daily_amount) AS total_spend, sum(daily_count) AS order_count
                FROM daily GROUP BY customer_id
            """).df()


        @second_order_aggregation(
            name="customer_patterns",
            id_col="customer_id",
            feature_date_col="order_date",
            application_date_col="application_date",
            features={"daily_amount": {"basic": ["sum", "max"]}, "daily_count": {"basic": ["sum"]}},
        )
        def customer_patterns(ctx):
            """The engine aggregates what the function returns: here, days with more than one euro spent."""
            daily = ctx.ref("transform.customer_daily")
            return daily[daily["daily_amount"] > 1]
    ''',
}


def test_python_feature_groups_fill_the_feature_store_and_second_order_aggregations_aggregate_the_function_rows(
    make_project,
):
    project = make_project(FEATURES)
    assert materialize(project).success
    orders = pd.read_csv(project / "data/orders.csv")
    kept = orders[orders["status"] != "cancelled"]
    spend = kept.groupby("customer_id").agg(total_spend=("amount", "sum"), order_count=("order_id", "count"))

    stored = frame(project / "target/intermediate/feature_group_customer_spend.parquet", "customer_id")
    assert list(stored["customer_id"]) == list(spend.index)
    assert list(stored["total_spend"]) == pytest.approx(list(spend["total_spend"]))
    assert (project / "target/feature_store/customer/customer_spend/v1").is_dir()
    entity_table = duckdb.sql(f"SELECT count(*) FROM '{project}/target/feature_store/customer/features.parquet'")
    assert entity_table.fetchall() == [(len(spend),)]
    (online,) = get_online_features(project, "customer_spend", ["C1"])
    assert (online["customer_id"], online["order_count"]) == ("C1", spend.loc["C1", "order_count"])
    assert online["total_spend"] == pytest.approx(spend.loc["C1", "total_spend"])

    patterns = frame(project / "target/intermediate/second_order_aggregation_customer_patterns.parquet", "customer_id")
    per_day = kept.groupby(["customer_id", "order_date"], as_index=False)["amount"].sum()
    per_customer = per_day.groupby("customer_id")["amount"].agg(["sum", "max"])
    assert list(patterns["customer_id"]) == list(per_customer.index)
    assert list(patterns["daily_amount_SUM"]) == pytest.approx(list(per_customer["sum"]))
    assert list(patterns["daily_amount_MAX"]) == pytest.approx(list(per_customer["max"]))
    leftovers = [path.name for path in (project / "target/intermediate").iterdir() if path.name.startswith(".")]
    assert leftovers == []


FRAGILE = """
    # Each node fails its own way once BREAK is True; their downstream YAML nodes must be skipped, and the
    # outputs they wrote while BREAK was False must stay as they were.
    import os
    import sys
    import time

    from seeknal.pipeline import transform

    BREAK = False
    HANGS_TIMEOUT = 600


    def rows():
        import pyarrow

        return pyarrow.table({"x": [1, 2, 3]})


    def check_stock(level):
        raise ValueError(f"stock level {level} is below zero")


    @transform(name="raises")
    def raises(ctx):
        if BREAK:
            check_stock(-4)
        return rows()


    @transform(name="exits")
    def exits(ctx):
        if BREAK:
            sys.exit(2)
        return rows()


    @transform(name="hangs", dagster={"timeout": HANGS_TIMEOUT})
    def hangs(ctx):
        while BREAK:
            time.sleep(0.05)
        return rows()


    @transform(name="vanishes")
    def vanishes(ctx):
        if BREAK:
            os._exit(3)
        return rows()


    @transform(name="aborts")
    def aborts(ctx):
        if BREAK:
            os.abort()
        return rows()


    @transform(name="segfaults")
    def segfaults(ctx):
        if BREAK:
            import ctypes
            ctypes.string_at(0)
        return rows()


    @transform(name="returns_nothing")
    def returns_nothing(ctx):
        return None if BREAK else rows()


    @transform(name="guesses_its_input", inputs=["source.numbers"])
    def guesses_its_input(ctx):
        name = "source." + ("letters" if BREAK else "numbers")
        return ctx.ref(name)
"""
FAILURES = {
    "raises": "raises() in seeknal/pipelines/fragile.py: ValueError: stock level -4 is below zero",
    "exits": "called sys.exit(2) instead of returning its rows",
    "hangs": "timed out after 3 s and was stopped",
    "vanishes": "its Python process exited with code 3 before returning its rows",
    "aborts": "its Python process crashed (SIGABRT)",
    "segfaults": "its Python process crashed (SIGSEGV)",
    "returns_nothing": "returned None: a node's function must return its rows",
    "guesses_its_input": "ctx.ref('source.letters'): not an input of transform.guesses_its_input",
}


def test_a_python_node_that_raises_exits_hangs_or_crashes_fails_alone_and_leaves_its_last_output(make_project):
    files = {
        "data/numbers.csv": "n\n1\n2\n",
        "data/letters.csv": "letter\na\n",
        "seeknal/sources/numbers.yml": "kind: source\nname: numbers\nsource: csv\ntable: data/numbers.csv\n",
        "seeknal/sources/letters.yml": "kind: source\nname: letters\nsource: csv\ntable: data/letters.csv\n",
        "seeknal/pipelines/fragile.py": FRAGILE,
        "seeknal/pipelines/steady.py": """
            from seeknal.pipeline import transform

            @transform(name="steady")
            def steady(ctx):
                numbers = ctx.ref("source.numbers")
                return numbers.assign(doubled=numbers["n"] * 2)
        """,
        "seeknal/transforms/steady_report.yml": "kind: transform\nname: steady_report\ntransform: SELECT sum(doubled) AS total FROM transform.steady\n",
    }
    for name in FAILURES:
        files[f"seeknal/transforms/after_{name}.yml"] = f"kind: transform\nname: after_{name}\ntransform: SELECT * FROM transform.{name}\n"
    project = make_project(files)
    assert materialize(project).success
    intermediate = project / "target/intermediate"
    before = {name: (intermediate / f"transform_{name}.parquet").read_bytes() for name in FAILURES}

    fragile = project / "seeknal/pipelines/fragile.py"
    fragile.write_text(fragile.read_text().replace("BREAK = False", "BREAK = True").replace("TIMEOUT = 600", "TIMEOUT = 3"))
    result = materialize(project)
    assert not result.success
    assert materialized_keys(result) == {"source/numbers", "source/letters", "transform/steady", "transform/steady_report"}
    message = failure_messages(result)
    assert f"{len(FAILURES)} Seeknal node(s) failed" in message
    for name, reason in FAILURES.items():
        assert f"  - transform.{name}: " in message and reason in message, name
    assert 'line 26, in raises\n    check_stock(-4)' in message and "line 20, in check_stock" in message
    skipped = ", ".join(sorted(f"transform.after_{name}" for name in FAILURES))
    assert f"skipped (an upstream failed): {skipped}" in message
    assert {name: (intermediate / f"transform_{name}.parquet").read_bytes() for name in FAILURES} == before
    assert not [path.name for path in intermediate.iterdir() if path.name.startswith(".")]
    assert duckdb.sql(f"SELECT total FROM '{intermediate}/transform_steady_report.parquet'").fetchall() == [(6,)]


def test_a_flaky_python_node_is_retried_and_its_output_reaches_the_run_log_bounded(make_project):
    project = make_project(
        {
            "seeknal/pipelines/flaky.py": """
                import pandas as pd
                from seeknal.pipeline import transform

                @transform(name="flaky", dagster={"retries": 1})
                def flaky(ctx):
                    attempt = ctx.state.set("attempts", ctx.state.get("attempts", 0) + 1)
                    for line in range(300):
                        print(f"attempt {attempt} line {line}")
                    if attempt == 1:
                        raise ConnectionError("the API hung up")
                    return pd.DataFrame({"attempt": [attempt]})
            """,
        }
    )
    instance = dagster.DagsterInstance.ephemeral()
    result = materialize(project, instance=instance)
    assert result.success
    assert pd.read_parquet(project / "target/intermediate/transform_flaky.parquet")["attempt"].tolist() == [2]
    logs = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.dagster_event is None]
    assert any("transform.flaky: attempt 1 of 2 failed" in line and "ConnectionError: the API hung up" in line for line in logs)
    assert "transform.flaky | attempt 2 line 0" in logs and "transform.flaky | attempt 2 line 199" in logs
    assert "transform.flaky | attempt 2 line 200" not in logs
    hidden = sum(len(f"attempt 2 line {line}\n") for line in range(200, 300))
    assert f"transform.flaky | … {hidden:,} more bytes of output not shown" in logs


def test_params_come_from_the_decorator_under_the_runs_overrides_and_a_source_may_return_its_rows(make_project):
    """Also: a bare ``@transform`` names the node after its function."""
    project = make_project(
        {
            "seeknal/pipelines/calendar.py": """
                import pandas as pd
                from seeknal.pipeline import source, transform

                DAYS = 3

                @source(name="calendar", start="2026-01-01", days=DAYS)
                def calendar(ctx):
                    return pd.DataFrame({"day": pd.date_range(ctx.get_param("start"), periods=ctx.params["days"])})

                @transform(name="labelled", params={"label": "{{ label }}", "region": "north"})
                def labelled(ctx):
                    days = ctx.ref("source.calendar")
                    return days.assign(label=ctx.get_param("label"), region=ctx.get_param("region"))

                @transform
                def weekdays(ctx):
                    days = ctx.ref("transform.labelled")
                    return days[days["day"].dt.dayofweek < 5]
            """,
        }
    )
    assert materialize(project, params={"label": "promo"}).success
    weekdays = pd.read_parquet(project / "target/intermediate/transform_weekdays.parquet")
    assert list(weekdays["day"].dt.strftime("%Y-%m-%d")) == ["2026-01-01", "2026-01-02"]  # a Thursday and a Friday
    calendar = pd.read_parquet(project / "target/intermediate/source_calendar.parquet")
    assert list(calendar["day"].dt.strftime("%Y-%m-%d")) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    labelled = pd.read_parquet(project / "target/intermediate/transform_labelled.parquet")
    assert set(zip(labelled["label"], labelled["region"])) == {("promo", "north")}


def test_a_blocking_rule_on_a_python_node_skips_its_downstream(make_project):
    project = make_project(
        {
            "seeknal/pipelines/stock.py": """
                import pandas as pd
                from seeknal.pipeline import transform

                @transform(name="stock")
                def stock(ctx):
                    return pd.DataFrame({"sku": ["a", "b", "c"], "level": [3, -1, 5]})
            """,
            "seeknal/rules/stock_not_negative.yml": """
                kind: rule
                name: stock_not_negative
                inputs: [{ref: transform.stock}]
                rule: {type: range, column: level, params: {min_val: 0}}
                params: {severity: error}
            """,
            "seeknal/transforms/reorder.yml": "kind: transform\nname: reorder\ntransform: SELECT * FROM transform.stock\n",
        }
    )
    result = materialize(project)
    assert not result.success
    assert materialized_keys(result) == {"transform/stock"}
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("stock_not_negative", False)
    assert "skipped (an upstream failed): transform.reorder" in failure_messages(result)


def code_versions(project: Path) -> dict[str, str]:
    specs = build_definitions(project).resolve_all_asset_specs()
    return {spec.key.to_user_string(): spec.code_version for spec in specs if "seeknal/node_id" in spec.metadata}


def test_the_code_version_follows_the_function_and_the_files_shared_code_not_comments(make_project):
    project = make_project(
        {
            "seeknal/pipelines/scores.py": """
                from seeknal.pipeline import transform

                def scale(values):
                    return values * 10

                @transform(name="scores")
                def scores(ctx):
                    \"\"\"Scores.\"\"\"
                    import pandas as pd
                    return pd.DataFrame({"score": scale(pd.Series([1, 2]))})

                @transform(name="ranks")
                def ranks(ctx):
                    import pandas as pd
                    return pd.DataFrame({"rank": [1, 2]})
            """,
        }
    )
    path = project / "seeknal/pipelines/scores.py"
    before = code_versions(project)

    path.write_text(path.read_text().replace('"""Scores."""', '"""Scores of each customer."""  # reworded'))
    assert code_versions(project) == before

    path.write_text(path.read_text().replace('"rank": [1, 2]', '"rank": [2, 1]'))
    after = code_versions(project)
    assert {key for key in before if after[key] != before[key]} == {"transform/ranks"}

    path.write_text(path.read_text().replace("values * 10", "values * 100"))
    assert {key for key in after if code_versions(project)[key] != after[key]} == {"transform/scores", "transform/ranks"}


def test_loading_never_runs_a_pipeline_file_but_materializing_does(make_project):
    project = make_project(
        {
            "seeknal/pipelines/side_effect.py": """
                from pathlib import Path

                import pandas as pd
                from seeknal.pipeline import transform

                Path("FILE_WAS_RUN").write_text("module-level code ran")

                @transform(name="marker")
                def marker(ctx):
                    return pd.DataFrame({"ran": [True]})
            """,
        }
    )
    build_definitions(project)
    assert main_exit_code(project) == 0
    assert not list(project.rglob("FILE_WAS_RUN"))
    assert materialize(project).success
    assert (project / "FILE_WAS_RUN").is_file()  # at run time, from the project root, as Seeknal runs it


def main_exit_code(project: Path) -> int:
    return seeknal_dagster_cli(["validate", str(project)])


def test_what_a_node_needs_but_cannot_have_is_a_load_problem_naming_the_node(make_project, capsys):
    project = make_project(
        {
            "seeknal/pipelines/needs.py": """
                # /// script
                # requires-python = ">=3.11"
                # dependencies = [
                #     "pandas>=2",
                #     "seeknal",
                #     "pyarrow<1",
                #     "surely-not-an-installed-package==1.0",
                #     "pywin32; sys_platform == 'win32'",
                # ]
                # ///
                from seeknal.pipeline import transform
                from seeknal.tasks.duckdb import DuckDBTask

                THRESHOLD = 10

                def pick():
                    return 3

                @transform(name="needs", threshold=THRESHOLD, limit=pick())
                def needs(ctx):
                    return DuckDBTask()

                @transform(name="partitioned", dagster={"partitions": {"type": "daily", "start": "2026-01-01"}})
                def partitioned(ctx):
                    return None
            """,
            "seeknal_project.yml": "name: shop\ndagster:\n  python_timeout: -5\n",
        }
    )
    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)
    found = [((str(p.file), p.node_id, p.field, p.line), p.message) for p in raised.value.problems]

    def message(file: str, node_id: str | None, field: str | None, line: int | None) -> str:
        (text,) = [text for key, text in found if key == (file, node_id, field, line)]
        found.remove(((file, node_id, field, line), text))
        return text

    needs = "seeknal/pipelines/needs.py"
    assert message("seeknal_project.yml", None, "dagster.python_timeout", None) == (
        "python_timeout must be a number of seconds above 0 (got -5)"
    )
    for node_id in ("transform.needs", "transform.partitioned"):  # neither can run while the file cannot be imported
        assert "imports seeknal.tasks.duckdb, which seeknal-dagster does not provide" in message(needs, node_id, None, 12)
    assert "the value of limit= is only known by running the file" in message(needs, "transform.needs", "limit", 19)
    assert message(needs, "transform.partitioned", "dagster.partitions", 23) == "partitions are not supported on Python nodes"
    unmet = sorted((key[1], text.split(":")[0]) for key, text in found if key[2:] == ("# /// script", 1))
    assert unmet == [
        ("transform.needs", "dependency 'pyarrow<1' is not met"),
        ("transform.needs", "dependency 'surely-not-an-installed-package==1.0' is not installed"),
        ("transform.partitioned", "dependency 'pyarrow<1' is not met"),
        ("transform.partitioned", "dependency 'surely-not-an-installed-package==1.0' is not installed"),
    ]
    assert len(found) == 4
    assert "install surely-not-an-installed-package where Dagster runs" in found[-1][1] + found[-2][1]

    assert main_exit_code(project) == 1
    printed = capsys.readouterr().err
    assert "node transform.needs | field '# /// script': dependency 'surely-not-an-installed-package==1.0'" in printed


def test_the_seeknal_pipeline_api_a_node_process_provides_is_what_validate_accepts():
    names = subprocess.run(
        [sys.executable, "-c", "import seeknal.pipeline as api; print(' '.join(api.__all__))"],
        cwd=RUNTIME,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(RUNTIME)},
    ).stdout.split()
    assert set(names) == PROVIDED_NAMES



def test_a_nodes_timeout_beats_the_projects_which_beats_the_default(make_project):
    project = load_project(
        make_project(
            {
                "seeknal/pipelines/jobs.py": """
                    from seeknal.pipeline import transform

                    @transform(name="quick", dagster={"timeout": 30})
                    def quick(ctx):
                        return None

                    @transform(name="usual")
                    def usual(ctx):
                        return None
                """,
            }
        )
    )

    def timeouts(project):
        context = ExecutionContext.for_project(project)
        return {node_id: get_executor(node, context).timeout() for node_id, node in project.nodes.items()}

    assert timeouts(project) == {"transform.quick": 30, "transform.usual": DEFAULT_TIMEOUT_SECONDS}
    project.settings["dagster"] = {"python_timeout": 120}
    assert timeouts(project) == {"transform.quick": 30, "transform.usual": 120}


def test_what_a_python_node_echoes_of_a_profile_or_env_secret_is_scrubbed_from_its_log_and_error(make_project, monkeypatch):
    password, token = "pw_" + os.urandom(8).hex(), "tok_" + os.urandom(8).hex()
    monkeypatch.setenv("SHOP_DB_PASSWORD", password)
    monkeypatch.setenv("SHOP_API_TOKEN", token)
    project = make_project(
        {
            "profiles.yml": "connections:\n  warehouse: {type: postgresql, host: 127.0.0.1, password: '${SHOP_DB_PASSWORD}'}\n",
            "seeknal/pipelines/crm.py": """
                import os

                import pandas as pd
                from seeknal.pipeline import transform

                @transform(name="chatty", params={"token": "{{ env:SHOP_API_TOKEN }}"})
                def chatty(ctx):
                    print("connecting with", os.environ["SHOP_DB_PASSWORD"], "and", ctx.get_param("token"))
                    return pd.DataFrame({"ok": [True]})

                @transform(name="refused")
                def refused(ctx):
                    raise PermissionError(f"login refused for password {os.environ['SHOP_DB_PASSWORD']}")
            """,
        }
    )
    instance = dagster.DagsterInstance.ephemeral()
    result = materialize(project, instance=instance)

    assert materialized_keys(result) == {"transform/chatty"}
    assert "PermissionError: login refused for password ***" in failure_messages(result)
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert "transform.chatty | connecting with *** and ***" in logs
    everything = "\n".join(logs + [str(event) for event in result.all_events])
    assert password not in everything and token not in everything


def test_with_allow_partial_a_python_node_that_cannot_run_is_left_out_with_its_downstream(make_project):
    project = make_project(
        {
            "seeknal/pipelines/legacy.py": """
                from seeknal.pipeline import transform
                from seeknal.tasks.duckdb import DuckDBTask

                @transform(name="legacy")
                def legacy(ctx):
                    return DuckDBTask().transform()
            """,
            "seeknal/pipelines/wanting.py": """
                # /// script
                # dependencies = ["surely-not-an-installed-package"]
                # ///
                from seeknal.pipeline import transform

                @transform(name="wanting")
                def wanting(ctx):
                    return None
            """,
            "seeknal/transforms/legacy_report.yml": "kind: transform\nname: legacy_report\ntransform: SELECT * FROM transform.legacy\n",
            "seeknal/pipelines/fine.py": """
                import pandas as pd
                from seeknal.pipeline import transform

                @transform(name="fine")
                def fine(ctx):
                    return pd.DataFrame({"n": [1, 2]})
            """,
        }
    )
    loaded = load_project(project, allow_partial=True)
    assert set(loaded.broken) == {"transform.legacy", "transform.wanting", "transform.legacy_report"}
    assert "imports seeknal.tasks.duckdb" in " ".join(problem.message for problem in loaded.problems_of("transform.legacy"))
    assert "not loaded: its upstream transform.legacy is not loaded" in [
        problem.message for problem in loaded.problems_of("transform.legacy_report")
    ]
    result = materialize(project, allow_partial=True)
    assert result.success and materialized_keys(result) == {"transform/fine"}


def test_validate_applies_the_path_policy_and_says_what_python_decorators_ask_that_is_not_done(make_project):
    project = make_project(
        {
            "seeknal/pipelines/lake.py": """
                import pandas as pd
                from seeknal.pipeline import materialize, source, transform

                @source(name="outside", source="csv", table="../elsewhere/orders.csv")
                def outside():
                    pass

                @materialize(type="iceberg", table="atlas.shop.totals")
                @transform(name="totals")
                def totals(ctx):
                    return pd.DataFrame({"n": [1]})
            """,
            "seeknal/exposures/state_dump.yml": """
                kind: exposure
                name: state_dump
                type: file
                inputs: [{ref: transform.totals}]
                params: {path: target/pipeline_state/transform_totals.json, format: json}
            """,
        }
    )
    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)
    found = {(problem.node_id, problem.field, problem.severity): problem.message for problem in raised.value.problems}
    assert "is outside the project" in found[("source.outside", "table", "error")]
    assert "which seeknal-dagster manages" in found[("exposure.state_dump", "params.path", "error")]
    assert found[("transform.totals", "@materialize[0]", "warning")] == (
        "Seeknal also copies this node's rows to the iceberg table atlas.shop.totals; seeknal-dagster does not for "
        "Python nodes (it writes target/intermediate/ only)"
    )
