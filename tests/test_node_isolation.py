"""One node cannot break another: a statement that would end the node's transaction or reach beyond the node fails
that node alone, naming it (at ``validate`` time when the SQL is known), and database-wide settings a node changes
are set back, so a selection gives the same answers alone and in a full run."""

from __future__ import annotations

import duckdb
import pytest

from seeknal_dagster import build_definitions
from seeknal_dagster.cli import main
from seeknal_dagster.project.errors import ProjectLoadError
from seeknal_dagster.project.loader import load_project
from tests.support.projects import failure_messages, materialize, materialized_keys

ORDERS = {
    "data/orders.csv": "order_id,amount\n1,10\n2,30\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/transforms/total.yml": "kind: transform\nname: total\ntransform: SELECT sum(amount) AS total FROM source.orders\n",
}


def scripted(name: str, sql: str) -> dict[str, str]:
    body = "\n".join("  " + line for line in sql.strip().splitlines())
    return {f"seeknal/transforms/{name}.yml": f"kind: transform\nname: {name}\ntransform: |\n{body}\n"}


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ("COMMIT", "COMMIT is not allowed: transaction control"),
        ("ROLLBACK", "ROLLBACK is not allowed"),
        ("BEGIN TRANSACTION", "BEGIN is not allowed"),
        ("ATTACH ':memory:' AS other", "ATTACH is not allowed"),
        ("USE memory", "USE is not allowed"),
        ("CHECKPOINT", "CHECKPOINT is not allowed"),
        ("LOAD json", "LOAD is not allowed"),
        ("SET GLOBAL enable_external_access = false", "changing enable_external_access is not allowed"),
    ],
)
def test_a_statement_reaching_beyond_the_node_is_a_validate_problem(make_project, capsys, statement, refused):
    project = make_project({**ORDERS, **scripted("escape", f"CREATE TEMP TABLE t AS SELECT 1 AS x;\n{statement};\nSELECT * FROM t")})
    assert main(["validate", str(project)]) == 1
    problems = capsys.readouterr().err
    assert "seeknal/transforms/escape.yml" in problems and "transform.escape" in problems
    assert f"statement 2 of 3: {refused}" in problems


def test_a_commit_known_only_at_run_time_fails_its_node_alone_and_keeps_its_output(make_project, monkeypatch):
    """The statement comes from the environment, so the loader saw a harmless default."""
    project = make_project(
        {**ORDERS, **scripted("tail", "CREATE TEMP TABLE t AS SELECT 1 AS x;\n{{ env:TAIL_STATEMENT|SELECT 1 }};\nSELECT * FROM t")}
    )
    assert materialize(project).success
    output = project / "target/intermediate/transform_tail.parquet"
    before = output.read_bytes()

    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    monkeypatch.setenv("TAIL_STATEMENT", "COMMIT")
    (project / "data/orders.csv").write_text("order_id,amount\n1,10\n2,30\n3,5\n")
    result = job.execute_in_process(raise_on_error=False)

    assert not result.success
    message = failure_messages(result)
    assert "transform.tail: statement 2 of 3:" in message and "is not allowed: transaction control" in message
    # The statement came from the environment: the message shows its expression, and the value is scrubbed.
    assert "Statement: {{ env:TAIL_STATEMENT|SELECT 1 }}" in message and "COMMIT" not in message
    assert materialized_keys(result) == {"source/orders", "transform/total"}
    assert duckdb.sql(f"SELECT * FROM '{project}/target/intermediate/transform_total.parquet'").fetchall() == [(45,)]
    assert output.read_bytes() == before


SETTINGS_PROBE = """
    SELECT current_setting('TimeZone') AS time_zone,
           current_setting('threads') AS threads,
           current_setting('memory_limit') AS memory_limit,
           hour(TIMESTAMPTZ '2025-01-01 00:00:00+00') AS local_hour
"""


def test_settings_a_node_changes_do_not_reach_the_nodes_after_it(make_project):
    project = make_project(
        {
            **ORDERS,
            # Runs first (order is alphabetical among independent nodes) and changes database-wide settings.
            **scripted(
                "a_tuned",
                "SET GLOBAL TimeZone = 'Pacific/Kiritimati';\nSET GLOBAL threads = 1;\nSET memory_limit = '300MB';\n"
                "SET TimeZone = 'Asia/Tokyo';\n" + SETTINGS_PROBE,
            ),
            # Fails after changing a setting: the setting is set back all the same.
            **scripted("a_failing", "SET GLOBAL TimeZone = 'America/Lima';\nSELECT error('deliberately') AS x"),
            **scripted("b_probe", SETTINGS_PROBE),
        }
    )
    alone = materialize(project, 'key:"transform/b_probe"')
    assert alone.success
    probe = project / "target/intermediate/transform_b_probe.parquet"
    answer_alone = duckdb.sql(f"SELECT * FROM '{probe}'").fetchall()

    full = materialize(project)
    assert "transform.a_failing: statement 2 of 2 failed" in failure_messages(full)
    assert "transform/b_probe" in materialized_keys(full)
    assert duckdb.sql(f"SELECT * FROM '{probe}'").fetchall() == answer_alone
    # What a fresh DuckDB database says, independently of this package (its default memory limit follows the
    # memory free when it starts, so only the tuned node's value is compared for it).
    [(time_zone, threads, memory_limit, local_hour)] = duckdb.connect().sql(SETTINGS_PROBE).fetchall()
    [probed] = answer_alone
    assert (probed[0], probed[1], probed[3]) == (time_zone, threads, local_hour)
    assert probed[2] != "286.1 MiB"
    # The node that asked for settings had them while it ran (a session SET wins over a global one).
    tuned = duckdb.sql(f"SELECT * FROM '{project}/target/intermediate/transform_a_tuned.parquet'").fetchall()
    assert tuned == [("Asia/Tokyo", 1, "286.1 MiB", 9)]


def test_the_loader_reports_refused_statements_of_feature_groups_too(make_project):
    project = make_project(
        {
            **ORDERS,
            "seeknal/feature_groups/totals.yml": """
                kind: feature_group
                name: totals
                entity: {name: order, join_keys: [order_id]}
                inputs: [{ref: source.orders}]
                transform: "DETACH other; SELECT order_id, amount FROM source"
            """,
        }
    )
    with pytest.raises(ProjectLoadError, match="feature_group.totals.*statement 1 of 2: DETACH is not allowed"):
        load_project(project)
