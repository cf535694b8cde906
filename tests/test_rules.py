"""Rules as Dagster asset checks: passing, warning and blocking checks on real outputs, with their asset and alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster
import pytest

from seeknal_dagster import ProjectLoadError, build_definitions
from seeknal_dagster.executors import ExecutionStatus
from seeknal_dagster.executors.rule import Threshold
from tests.support.projects import (
    failing_rows,
    failure_messages,
    load_problem,
    materialize,
    materialized_keys,
    run_node,
)

SAMPLE_PROJECT = Path(__file__).resolve().parents[1] / "seeknal_project"

CUSTOMERS_CSV = """\
customer_id,email,status,amount,signed_up
1,ann@example.com,active,10.5,2025-12-30 10:00:00
2,not-an-email,active,20,2025-12-29 09:00:00
3,cid@example.org,closed,-5,2025-11-01 00:00:00
4,,active,7,2025-12-31 08:00:00
5,eve@example.net,paused,12,2025-12-31 09:00:00
"""
ORDERS_CSV = """\
order_id,customer_id,amount
100,1,10
101,2,20
102,9,30
"""


def base_files(**rules: str) -> dict[str, str]:
    """Customers and orders CSV sources, a transform downstream of customers, and the given rule files."""
    files = {
        "data/customers.csv": CUSTOMERS_CSV,
        "data/orders.csv": ORDERS_CSV,
        "seeknal/sources/customers.yml": """
            kind: source
            name: customers
            source: csv
            table: data/customers.csv
        """,
        "seeknal/sources/orders.yml": """
            kind: source
            name: orders
            source: csv
            table: data/orders.csv
        """,
        "seeknal/transforms/active_customers.yml": """
            kind: transform
            name: active_customers
            inputs: [{ref: source.customers}]
            transform: SELECT * FROM ref('source.customers') WHERE status = 'active'
        """,
    }
    files.update({f"seeknal/rules/{name}.yml": text for name, text in rules.items()})
    return files


def check_results(result: dagster.ExecuteInProcessResult) -> dict[str, dagster.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def check_metadata(evaluation: dagster.AssetCheckEvaluation) -> dict[str, object]:
    return {key: value.value for key, value in evaluation.metadata.items()}


WARN_ON_EMAILS = """
    kind: rule
    name: customer_email_valid
    description: E-mail addresses look like addresses.
    inputs: [{ref: source.customers}]
    rule: email LIKE '%_@__%.__%'
    severity: warn
"""
BLOCK_ON_NEGATIVE_AMOUNTS = """
    kind: rule
    name: amount_not_negative
    inputs:
      - ref: source.customers
    rule:
      type: range
      column: amount
      params:
        min_val: 0
    params:
      severity: error
      error_message: customers with a negative amount
"""


def test_a_warning_rule_reports_violations_and_blocks_nothing(make_project):
    project = make_project(base_files(customer_email_valid=WARN_ON_EMAILS))

    result = materialize(project)

    assert result.success
    assert materialized_keys(result) == {"source/customers", "source/orders", "transform/active_customers"}
    evaluation = check_results(result)["customer_email_valid"]
    assert evaluation.asset_key == dagster.AssetKey(["source", "customers"])
    assert not evaluation.passed
    assert evaluation.severity == dagster.AssetCheckSeverity.WARN
    metadata = check_metadata(evaluation)
    assert metadata["violations"] == 2  # 'not-an-email' and the empty one
    assert metadata["rows_checked"] == 5
    assert metadata["violation_ratio"] == pytest.approx(0.4)
    assert "email LIKE '%_@__%.__%'" in metadata["sql"]
    shown_emails = {row["email"] for row in failing_rows(metadata)}
    assert "not-an-email" in shown_emails and "ann@example.com" not in shown_emails


def test_a_failed_blocking_rule_skips_the_downstream_of_its_asset(make_project):
    project = make_project(base_files(amount_not_negative=BLOCK_ON_NEGATIVE_AMOUNTS))

    result = materialize(project)

    assert not result.success
    assert materialized_keys(result) == {"source/customers", "source/orders"}
    evaluation = check_results(result)["amount_not_negative"]
    assert not evaluation.passed
    assert evaluation.severity == dagster.AssetCheckSeverity.ERROR
    metadata = check_metadata(evaluation)
    assert metadata["violations"] == 1
    assert metadata["error"] == "customers with a negative amount"  # params.error_message
    assert [(row["customer_id"], row["email"], row["amount"]) for row in failing_rows(metadata)] == [
        (3, "cid@example.org", -5)
    ]
    messages = failure_messages(result)
    assert "rule.amount_not_negative" in messages and "transform.active_customers" in messages


def test_passing_typed_checks_and_a_sql_assertion_across_inputs(make_project):
    project = make_project(
        base_files(
            customers_sound="""
                kind: rule
                name: customers_sound
                inputs: [{ref: source.customers}]
                rule:
                  - type: null
                    columns: [customer_id, status]
                  - type: "null"
                    columns: [email]
                    params: {max_null_percentage: 0.25}
                  - type: uniqueness
                    columns: [customer_id]
                  - type: accepted_values
                    column: status
                    values: [active, closed, paused]
                  - type: range
                    column: amount
                    params: {min_val: -10, max_val: 100}
                  - type: freshness
                    column: signed_up
                    params: {max_age: 2d, reference_time: "2026-01-01 00:00:00"}
            """,
            orders_have_customers="""
                kind: rule
                name: orders_have_customers
                inputs:
                  - ref: source.orders
                  - ref: source.customers
                params: {severity: warn}
                rule:
                  type: sql_assertion
                  sql: |
                    SELECT o.* FROM input_data AS o
                    LEFT JOIN source_customers AS c USING (customer_id)
                    WHERE c.customer_id IS NULL
            """,
        )
    )

    result = materialize(project)

    assert result.success
    checks = check_results(result)
    assert checks["customers_sound"].passed
    assert check_metadata(checks["customers_sound"])["violations"] == 1  # one NULL e-mail, within the 25% allowed
    orphans = checks["orders_have_customers"]
    assert orphans.asset_key == dagster.AssetKey(["source", "orders"])
    assert not orphans.passed and orphans.severity == dagster.AssetCheckSeverity.WARN
    assert [(row["order_id"], row["customer_id"]) for row in failing_rows(check_metadata(orphans))] == [(102, 9)]


def test_check_specs_are_named_after_rules_with_blocking_from_severity(make_project):
    project = make_project(
        base_files(
            customer_email_valid=WARN_ON_EMAILS,
            amount_not_negative=BLOCK_ON_NEGATIVE_AMOUNTS,
            orders_match="""
                kind: rule
                name: orders_match
                inputs: [{ref: source.orders}, {ref: source.customers}]
                rule: {type: sql_assertion, sql: "SELECT * FROM input_data WHERE amount < 0"}
            """,
        )
    )
    graph = build_definitions(project).resolve_asset_graph()
    specs = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}

    assert specs["customer_email_valid"].asset_key == dagster.AssetKey(["source", "customers"])
    assert not specs["customer_email_valid"].blocking
    assert specs["amount_not_negative"].blocking
    assert specs["orders_match"].asset_key == dagster.AssetKey(["source", "orders"])
    assert {dep.asset_key for dep in specs["orders_match"].additional_deps} == {dagster.AssetKey(["source", "customers"])}


def test_a_check_runs_on_its_own_against_the_output_of_an_earlier_run(make_project):
    project = make_project(base_files(customer_email_valid=WARN_ON_EMAILS))
    check_key = dagster.AssetCheckKey(dagster.AssetKey(["source", "customers"]), "customer_email_valid")
    job = (
        build_definitions(project)
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection=set(), asset_check_selection={check_key})
    )

    never_materialized = job.execute_in_process(raise_on_error=False)
    evaluation = check_results(never_materialized)["customer_email_valid"]
    assert not evaluation.passed
    assert "source.customers has no output" in check_metadata(evaluation)["error"]

    assert materialize(project, "key:source/customers").success
    alone = job.execute_in_process()

    assert alone.get_asset_materialization_events() == []
    evaluation = check_results(alone)["customer_email_valid"]
    assert not evaluation.passed and check_metadata(evaluation)["violations"] == 2


def test_a_rule_without_input_is_a_load_error_naming_its_file(make_project):
    project = make_project(
        base_files(
            orphan="""
                kind: rule
                name: orphan
                rule: amount > 0
            """
        )
    )
    with pytest.raises(ProjectLoadError) as raised:
        build_definitions(project)
    message = str(raised.value)
    assert "seeknal/rules/orphan.yml" in message and "rule.orphan" in message and "inputs" in message


@pytest.fixture
def checked_project(make_project):
    """A project whose sources were materialized, for running rule executors directly."""

    def make(**rules: str) -> Path:
        project = make_project(base_files(**rules))
        for source in ("source.customers", "source.orders"):
            assert run_node(project, source).is_success()
        return project

    return make


@pytest.mark.parametrize(
    "rule, status, violations",
    [
        ("rule: {type: null, columns: [email]}", ExecutionStatus.FAILED, 1),
        ("rule: {type: 'null', columns: [email], params: {max_null_percentage: 0.2}}", ExecutionStatus.SUCCESS, 1),
        ("rule: {type: uniqueness, columns: [status]}", ExecutionStatus.FAILED, 3),
        ("rule: {type: accepted_values, column: status, values: [active, closed]}", ExecutionStatus.FAILED, 1),
        ("rule: {type: range, column: amount, params: {max_val: 15}}", ExecutionStatus.FAILED, 1),
        (
            "rule: {type: freshness, column: signed_up, params: {max_age: 1h, reference_time: '2026-01-02'}}",
            ExecutionStatus.FAILED,
            1,
        ),
        ("rule: [\"amount > 0\", {type: null, columns: [email]}]\nseverity: warn", ExecutionStatus.WARNING, 2),
        ("rule: {value: \"status <> 'deleted'\"}", ExecutionStatus.SUCCESS, 0),
    ],
)
def test_check_types_and_their_outcomes(checked_project, rule, status, violations):
    project = checked_project(check=f"kind: rule\nname: check\ninputs: [{{ref: source.customers}}]\n{rule}\n")

    result = run_node(project, "rule.check")

    assert result.status == status
    assert result.metadata["violations"] == violations


@pytest.mark.parametrize(
    "rule, message",
    [
        ("rule: {type: custom}", "unsupported check type 'custom'"),
        ("rule: {type: range, column: amount}", "give min_val and/or max_val"),
        ("rule: {type: 'null', columns: [email], params: {max_null_percentage: 5}}", "fraction between 0 and 1"),
        ("rule: {type: freshness, column: signed_up, params: {max_age: soon}}", "not a duration"),
        ("rule: {type: profile_check, checks: [{metric: row_count, fail: '< 1'}]}", "profile node"),
    ],
)
def test_invalid_checks_fail_validation_naming_the_rule(make_project, rule, message):
    project = make_project(base_files(check=f"kind: rule\nname: check\ninputs: [{{ref: source.customers}}]\n{rule}\n"))

    problem = load_problem(project, "rule.check")

    assert problem.startswith("rule") and message in problem


@pytest.mark.parametrize(
    "expression, matching, not_matching",
    [
        ("> 5", [5.5], [5, 4]),
        (">=5", [5, 6], [4.9]),
        ("  < -1.5 ", [-2], [-1.5]),
        ("<= 0", [0, -1], [0.1]),
        ("= 3", [3], [3.1]),
        ("!= 3", [2], [3]),
        ("BETWEEN -1 and 2.5", [-1, 0, 2.5], [-1.1, 3]),
        ("between 10 AND 1", [1, 10], [11]),
    ],
)
def test_threshold_grammar(expression, matching, not_matching):
    threshold = Threshold.parse(expression)
    assert all(threshold.matches(value) for value in matching)
    assert not any(threshold.matches(value) for value in not_matching)


@pytest.mark.parametrize("expression", ["5", "> five", "between 1", "=> 3", ""])
def test_an_invalid_threshold_is_named(expression):
    with pytest.raises(ValueError, match="Invalid threshold expression"):
        Threshold.parse(expression)


def test_sample_project_checks_warn_pass_and_deliver(tmp_path):
    project = tmp_path / "seeknal_project"
    shutil.copytree(SAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("target", "__pycache__"))
    selection = " or ".join(
        f"+key:{key}"
        for key in (
            "transform/customer_360",
            "transform/daily_revenue",
            "profile/customer_360_profile",
            "exposure/daily_revenue_csv",
            "exposure/customer_360_warehouse",
        )
    )

    result = materialize(project, selection)

    assert result.success, failure_messages(result)
    checks = check_results(result)
    emails = checks["customer_emails_valid"]
    assert not emails.passed and emails.severity == dagster.AssetCheckSeverity.WARN
    assert check_metadata(emails)["violations"] > 0
    blocking = {"orders_clean_keys", "daily_revenue_sane", "customer_360_profile_thresholds"}
    assert blocking <= set(checks)
    assert all(checks[name].passed and checks[name].severity == dagster.AssetCheckSeverity.ERROR for name in blocking)
    assert (project / "target/exports/daily_revenue.csv").is_file()
    warehouse = [
        event
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string() == "exposure/customer_360_warehouse"
    ]
    assert warehouse[0].step_materialization_data.materialization.metadata["seeknal/delivered"].value is False
