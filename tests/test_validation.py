"""``seeknal-dagster validate`` tells the whole truth: whatever would stop a project loading in Dagster, or stop a
node for a reason in its configuration, is reported when the project loads — file, node, field, line, never a
traceback — and the code location shows the same list. Warnings are printed and do not block. A project Seeknal
would run partially loads partially when asked to, its broken nodes shown, not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster
import pytest
from dagster._core.definitions.utils import is_valid_name, validate_group_name
from dagster._utils.schedules import is_valid_cron_string
from dagster._utils.tags import is_valid_strict_tag_value, is_valid_tag_key

from seeknal_dagster import ProjectLoadError, build_definitions, load_project
from seeknal_dagster.project.dagster_rules import cron_problem, group_problem, name_problem, tag_problem
from tests.support.projects import materialize, materialized_keys

SAMPLE_PROJECT = Path(__file__).resolve().parents[1] / "seeknal_project"
ORDERS = {
    "data/orders.csv": "order_id,customer_id,amount\n1,1,10\n2,2,20\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
}


def validate(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``seeknal-dagster validate`` as a user runs it."""
    return subprocess.run(
        ["seeknal-dagster", "validate", str(project), *options], capture_output=True, text=True, timeout=120
    )


def problems(project: Path, **options) -> dict[tuple[str | None, str | None], str]:
    """(node, field) → message of every problem the project is refused with."""
    with pytest.raises(ProjectLoadError) as raised:
        load_project(project, **options)
    return {(problem.node_id, problem.field): problem.message for problem in raised.value.problems}


def assert_reported(found: dict[tuple[str | None, str | None], str], expected: dict[tuple[str | None, str], str]) -> None:
    """Every expected (node, field) problem is reported with its message, and nothing else is."""
    for where, message in expected.items():
        assert message in found.pop(where), where
    assert found == {}


def transform(name: str, dagster_block: str = "", sql: str = "SELECT * FROM ref('source.orders')") -> str:
    return f"kind: transform\nname: {name}\ntransform: \"{sql}\"\n" + (f"dagster: {dagster_block}\n" if dagster_block else "")


# Severity ------------------------------------------------------------------------------------------------------


def test_an_unknown_source_type_is_an_error_and_one_only_seeknal_reads_a_warning(make_project):
    project = make_project(
        {
            **ORDERS,
            "seeknal/sources/book.yml": "kind: source\nname: book\nsource: excel\ntable: data/book.xlsx\n",
            "seeknal/sources/lake.yml": "kind: source\nname: lake\nsource: iceberg\ntable: cat.db.events\n",
        }
    )
    warned = validate(project)
    assert warned.returncode == 0, warned.stderr
    assert "is valid, with 1 warning(s):" in warned.stdout
    assert "warning: seeknal/sources/book.yml:1 | node source.book | field 'source': Seeknal reads 'excel'" in warned.stdout

    (project / "seeknal/sources/mongo.yml").write_text("kind: source\nname: mongo\nsource: mongodb\ntable: t\n")
    refused = validate(project)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "has 1 problem(s) and 1 warning(s):" in refused.stderr
    assert "seeknal/sources/mongo.yml:1 | node source.mongo | field 'source': unknown source type 'mongodb'" in refused.stderr


def test_a_warning_loads_runs_the_rest_and_shows_on_its_asset(make_project):
    project = make_project({**ORDERS, "seeknal/sources/book.yml": "kind: source\nname: book\nsource: excel\ntable: b.xlsx\n"})
    defs = build_definitions(project)
    spec = defs.resolve_asset_graph().get(dagster.AssetKey(["source", "book"])).to_asset_spec()
    assert "Seeknal reads 'excel' sources" in spec.metadata["seeknal/warnings"].value
    result = materialize(project, raise_on_error=False)
    assert materialized_keys(result) == {"source/orders"}


# Each executor's own settings ------------------------------------------------------------------------------


def test_settings_of_every_kind_are_load_problems_with_their_field(make_project):
    project = make_project(
        {
            **ORDERS,
            "profiles.yml": "connections: {warehouse: {type: postgresql, host: localhost}}\n",
            "seeknal/all.yml": """
                kind: feature_group
                name: by_mode
                entity: customer
                mode: upsert
                inputs: [{ref: source.orders}]
                ---
                kind: feature_group
                name: by_dtype
                entity: customer
                features: {amount: {dtype: money}}
                inputs: [{ref: source.orders}]
                ---
                kind: feature_group
                name: by_engine
                entity: customer
                engine: pandas
                inputs: [{ref: source.orders}]
                ---
                kind: feature_group
                name: by_time
                entity: customer
                feature_start_time: last tuesday
                inputs: [{ref: source.orders}]
                ---
                kind: profile
                name: stats
                inputs: [{ref: source.orders}]
                profile: {columns: amount, params: {max_top_values: many}}
                ---
                kind: rule
                name: checks
                inputs: [{ref: source.orders}]
                rule:
                  - {type: range, column: amount}
                  - {type: nonsense}
                ---
                kind: aggregation
                name: daily
                id_col: customer_id
                feature_date_col: day
                application_date_col: day
                source: source.orders
                features: [{name: amount, basic: [median]}]
                ---
                kind: model
                name: churn
                inputs: [{ref: source.orders}]
                training: {algorithm: deep_forest, label_column: churned}
                ---
                kind: exposure
                name: export
                type: file
                inputs: [{ref: source.orders}]
                params: {path: out/orders.xml, format: xml}
                ---
                kind: exposure
                name: warehouse
                type: database
                inputs: [{ref: source.orders}]
                params: {connection: lake, table: orders}
                ---
                kind: exposure
                name: hook
                type: api
                inputs: [{ref: source.orders}]
                params: {url: "ftp://example.com", batch_size: 0}
                ---
                kind: semantic_model
                name: sales
                model: "ref('source.orders')"
                measures: [{name: revenue, expr: amount, agg: tally}]
                ---
                kind: metric
                name: margin
                type: simple
                measure: profit
                ---
                kind: transform
                name: ddl
                transform: CREATE TABLE x AS SELECT 1
            """,
        }
    )
    assert_reported(problems(project), {
        ("feature_group.by_mode", "mode"): "'upsert' is not a write mode",
        ("feature_group.by_dtype", "features.amount"): "unknown dtype 'money'",
        ("feature_group.by_engine", "engine"): "engine 'pandas' is not supported (use duckdb or spark)",
        ("feature_group.by_time", "feature_start_time"): "'last tuesday' is not an ISO date",
        ("profile.stats", "profile.params.max_top_values"): "max_top_values must be a positive integer",
        ("rule.checks", "rule[0]"): "give min_val and/or max_val",
        ("rule.checks", "rule[1].type"): "unsupported check type 'nonsense'",
        ("aggregation.daily", "features"): "unknown aggregate 'median'",
        ("model.churn", "algorithm"): "unknown algorithm 'deep_forest'",
        ("exposure.export", "params.format"): "unknown format 'xml'",
        ("exposure.warehouse", "params.connection"): "connection 'lake' is not defined in profiles",
        ("exposure.hook", "url"): "'ftp://example.com' is not an http(s) URL",
        ("semantic_model.sales", "measures[0].agg"): "agg 'tally' is not one of",
        ("metric.margin", "measure"): "measure 'profit' is not a measure of any semantic model",
        ("transform.ddl", "transform"): "the last statement of a transform must be a query",
    })


# Dagster's rules -------------------------------------------------------------------------------------------


def test_what_dagster_would_reject_is_reported_by_validate_and_the_code_location_alike(make_project):
    project = make_project(
        {
            **ORDERS,
            "seeknal/transforms/all.yml": "---\n".join(
                [
                    transform("grouped", "{group: 'my group'}"),
                    transform("owned", "{owners: ['a@b']}"),
                    transform("team", "{owners: ['team:']}"),
                    transform("tagged", "{tags: {'my tier': gold}}"),
                    transform("valued", "{tags: {tier: 'gold plated'}}"),
                    transform("keyed", "{key: 'my key/x'}"),
                    transform("cron", "{automation: 'on_cron(\"61 * * * *\")'}"),
                    transform("february", "{automation: 'on_cron(\"0 0 30 2 *\")'}"),
                    transform("zone", "{partitions: {type: daily, start: 2025-01-01, timezone: Mars/Olympus}}"),
                    transform("someday", "{partitions: {type: daily, start: next tuesday}}"),
                    transform("backwards", "{partitions: {type: daily, start: 2025-02-01, end: 2025-01-01}}"),
                    transform("retried", "{retries: -1}"),
                ]
            ),
            "seeknal_project.yml": """
                name: shop
                schedules:
                  - {name: nightly, cron: "every night", select: "*"}
                  - {name: berlin, cron: "0 2 * * *", select: "*", timezone: Europe/Berlinn}
            """,
        }
    )
    expected = {
        ("transform.grouped", "dagster.group"): "'my group' is not a valid Dagster group name",
        ("transform.owned", "dagster.owners"): "owner 'a@b' is neither an e-mail address nor a team name",
        ("transform.team", "dagster.owners"): "owner 'team:' is neither",
        ("transform.tagged", "dagster.tags"): "tag key 'my tier' is not valid in Dagster",
        ("transform.valued", "dagster.tags"): "tag value 'gold plated' (of 'tier') is not valid in Dagster",
        ("transform.keyed", "dagster.key"): "'my key__x' is not a valid Dagster name",
        ("transform.cron", "dagster.automation"): "'61 * * * *' is not a cron expression Dagster accepts",
        ("transform.february", "dagster.automation"): "never fires: February has no 30th",
        ("transform.zone", "dagster.partitions.timezone"): "unknown time zone 'Mars/Olympus'",
        ("transform.someday", "dagster.partitions.start"): "'next tuesday' is not a date",
        ("transform.backwards", "dagster.partitions"): "end 2025-01-01 00:00:00 is not after start 2025-02-01 00:00:00",
        ("transform.retried", "dagster.retries"): "greater than or equal to 0",
        (None, "schedules[0].cron"): "'every night' is not a cron expression Dagster accepts",
        (None, "schedules[1].timezone"): "unknown time zone 'Europe/Berlinn'",
    }
    assert_reported(problems(project), dict(expected))
    with pytest.raises(ProjectLoadError) as from_code_location:
        build_definitions(project)
    assert len(from_code_location.value.problems) == len(expected)


def test_what_yaml_users_write_for_dates_and_tags_is_accepted(make_project):
    """The README's own ``partitions: {type: daily, start: 2025-01-01}`` is a YAML date, not a string."""
    project = make_project(
        {
            **ORDERS,
            "seeknal/transforms/t.yml": "---\n".join(
                [
                    transform("daily", "{partitions: {type: daily, start: 2025-01-01}, tags: {tier: 1, pii: false}}"),
                    transform("hourly", "{partitions: {type: hourly, start: 2025-01-01 06:00:00, end: 2025-01-02}}"),
                    transform("quoted", "{partitions: {type: daily, start: '2025-01-01'}}"),
                ]
            ),
        }
    )
    graph = build_definitions(project).resolve_asset_graph()

    def node(name: str) -> dagster.AssetSpec:
        return graph.get(dagster.AssetKey(["transform", name])).to_asset_spec()

    assert node("daily").partitions_def == node("quoted").partitions_def == dagster.DailyPartitionsDefinition("2025-01-01")
    assert node("daily").tags["tier"] == "1" and node("daily").tags["pii"] == "false"
    hourly = node("hourly").partitions_def
    assert hourly.get_partition_keys()[:2] == ["2025-01-01-06:00", "2025-01-01-07:00"]
    assert hourly.get_partition_keys()[-1] == "2025-01-01-23:00"


@pytest.mark.parametrize(
    "expression",
    ["0 6 * * *", "@daily", "*/15 9-17 * * mon-fri", "0 0 L * *", "0 0 * * 1#2", "0 0 ? * *", "0 0 29 2 *",
     "61 * * * *", "* * * *", "* * * * * *", "0 0 30 2 *", "0 0 15W * *", "every day", "H * * * *", "*/0 * * * *"],
)
def test_cron_verdicts_are_dagsters(expression):
    assert (cron_problem(expression) is None) == is_valid_cron_string(expression)


@pytest.mark.parametrize("text", ["orders", "my group", "a/b", "a//b", "", "x" * 70, "with.dot", "säle", "input"])
def test_name_group_and_tag_verdicts_are_dagsters(text):
    assert (name_problem(text) is None) == is_valid_name(text)
    try:
        validate_group_name(text or None)
        group_ok = True
    except dagster.DagsterInvalidDefinitionError:
        group_ok = False
    assert (group_problem(text) is None) == group_ok or text == ""
    assert (tag_problem(text, "v") is None) == is_valid_tag_key(text)
    assert (tag_problem("k", text) is None) == is_valid_strict_tag_value(text)


# Names ---------------------------------------------------------------------------------------------------------


def test_names_dagster_cannot_tell_apart_and_a_name_ending_in_a_newline(make_project):
    project = make_project(
        {
            **ORDERS,
            "seeknal/transforms/a.yml": transform("daily-orders"),
            "seeknal/transforms/b.yml": transform("daily_orders"),
            "seeknal/transforms/c.yml": transform("copy", "{key: source/orders}"),
            "seeknal/transforms/d.yml": 'kind: transform\nname: "trailing\\n"\ntransform: SELECT 1\n',
        }
    )
    found = problems(project)
    assert "same Dagster name 'transform__daily_orders'" in found.pop(("transform.daily_orders", "name"))
    assert "key source/orders of source.orders" in found.pop(("transform.copy", "dagster.key"))
    assert "'trailing\\n' is not a valid node name" in found.pop(("transform.trailing\n", "name"))
    assert found == {}


# YAML --------------------------------------------------------------------------------------------------------


def test_a_key_written_twice_is_reported_with_its_line(make_project):
    project = make_project(
        {
            **ORDERS,
            "seeknal/transforms/t.yml": """
                kind: transform
                name: big
                transform: SELECT * FROM ref('source.orders') WHERE amount > 10
                params: {limit: 1, limit: 2}
                transform: SELECT * FROM ref('source.orders')
            """,
            "profiles.yml": "connections:\n  pg: {host: a}\n  pg: {host: b}\n",
        }
    )
    completed = validate(project)
    assert completed.returncode == 1
    assert "seeknal/transforms/t.yml:4 | node transform.big | field 'limit': duplicate key 'limit'" in completed.stderr
    assert (
        "seeknal/transforms/t.yml:5 | node transform.big | field 'transform': duplicate key 'transform' (first on line 3)"
        in completed.stderr
    )
    assert "profiles.yml:3 | field 'pg': duplicate key 'pg' (first on line 2)" in completed.stderr


BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + level)}: &{chr(98 + level)} [{', '.join([f'*{chr(97 + level)}'] * 10)}]" for level in range(9)]
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["params", "lineage"])
def test_an_alias_bomb_is_refused_at_once(make_project, where):
    """A billion values (10⁹ from ten nested aliases), under the node's params or a field nobody reads."""
    nested = "\n".join(f"  {line}" for line in BOMB.splitlines())
    project = make_project({**ORDERS, "seeknal/transforms/bomb.yml": f"{transform('bomb')}{where}:\n{nested}\n"})
    completed = validate(project)
    assert completed.returncode == 1
    assert "seeknal/transforms/bomb.yml:1: the document is not loaded: its aliases (*name) expand to" in completed.stderr
    assert "(a YAML alias bomb?)" in completed.stderr


# Templates and profiles ---------------------------------------------------------------------------------------


def test_commas_inside_quoted_template_arguments_and_wrong_arguments(make_project, monkeypatch):
    monkeypatch.delenv("SEEKNAL_TEST_UNSET_LIST", raising=False)
    project = make_project(
        {
            **ORDERS,
            "seeknal/transforms/listed.yml": transform(
                "listed", sql="SELECT * FROM ref('source.orders') WHERE 'a,b' = '{{ env('SEEKNAL_TEST_UNSET_LIST', 'a,b') }}'"
            ),
            "seeknal/transforms/wrong.yml": transform("wrong", sql="SELECT '{{ today('yesterday') }}'"),
        }
    )
    completed = validate(project)
    assert "Traceback" not in completed.stderr
    assert completed.returncode == 1
    assert "node transform.wrong | field 'transform': {{ today('yesterday') }} cannot be evaluated" in completed.stderr
    assert "transform.listed" not in completed.stderr
    (project / "seeknal/transforms/wrong.yml").unlink()
    assert materialized_keys(materialize(project)) == {"source/orders", "transform/listed"}


def test_connections_of_the_wrong_shape_in_profiles(make_project):
    project = make_project({**ORDERS, "profiles.yml": "connections:\n  - warehouse\nsource_defaults:\n  postgres: main\n"})
    found = problems(project)
    assert found == {
        (None, "connections"): "'connections' must map each connection to its settings (connections: {name: {…}})",
        (None, "source_defaults.postgres"): "source type 'postgres' must be a mapping of settings, not str",
    }


# Loading partially ----------------------------------------------------------------------------------------------

PARTIAL = {
    **ORDERS,
    "seeknal/transforms/big.yml": transform("big_orders", sql="SELECT * FROM ref('source.orders') WHERE amount > 15"),
    "seeknal/transforms/customers.yml": transform("by_customer", sql="SELECT * FROM ref('source.customers')"),
    "seeknal/transforms/report.yml": transform("report", sql="SELECT * FROM ref('transform.by_customer')"),
    "seeknal/rules/report_rows.yml": "kind: rule\nname: report_rows\ninputs: [{ref: transform.report}]\nrule: amount > 0\n",
}


def test_a_partial_project_is_refused_unless_asked(make_project):
    project = make_project(PARTIAL)
    refused = validate(project)
    assert refused.returncode == 1
    assert "node transform.by_customer | field 'transform': ref('source.customers'): reference to a node" in refused.stderr

    partial = validate(project, "--partial")
    assert partial.returncode == 0, partial.stderr
    lines = partial.stdout.splitlines()
    assert lines[0] == f"✓ Seeknal project 'project' at {project} loads without 3 of its 5 nodes, with 3 problem(s):"
    assert "  - seeknal/transforms/report.yml:1 | node transform.report: not loaded: its upstream transform.by_customer is not loaded" in lines
    assert "  not loaded: rule.report_rows, transform.by_customer, transform.report" in lines
    assert "  2 nodes, 1 edges" in lines


def test_a_partial_project_runs_what_loads_and_shows_what_does_not(make_project):
    project = make_project(PARTIAL)
    defs = build_definitions(project, allow_partial=True)
    graph = defs.resolve_asset_graph()
    report = graph.get(dagster.AssetKey(["transform", "report"]))
    assert not report.is_executable
    spec = report.to_asset_spec()
    assert spec.tags["seeknal/not_loaded"] == "true"
    assert "not loaded: its upstream transform.by_customer is not loaded" in spec.description
    assert {dep.asset_key for dep in spec.deps} == {dagster.AssetKey(["transform", "by_customer"])}
    assert "reference to a node that does not exist: 'source.customers'" in (
        graph.get(dagster.AssetKey(["transform", "by_customer"])).to_asset_spec().metadata["seeknal/problems"].value
    )
    assert not graph.asset_check_keys  # the rule on a node that is not loaded is not loaded either

    result = materialize(project, allow_partial=True)
    assert result.success and materialized_keys(result) == {"source/orders", "transform/big_orders"}


def test_a_problem_no_node_owns_still_stops_a_partial_load(make_project):
    project = make_project({**PARTIAL, "profiles.yml": "connections: [a]\n"})
    assert (None, "connections") in problems(project, allow_partial=True)


# Cost ----------------------------------------------------------------------------------------------------------


def test_checking_a_project_imports_no_heavy_library():
    code = (
        "import sys; from seeknal_dagster.project import load_project; "
        f"load_project({str(SAMPLE_PROJECT)!r}); "
        "print(sorted(m for m in ('dagster', 'pandas', 'pyarrow', 'sklearn') if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert completed.stdout.strip() == "[]", completed.stderr
