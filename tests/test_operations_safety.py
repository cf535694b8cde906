"""Runs that survive the real world: per-node retries, one run at a time per project (a Dagster pool), and a run
killed with SIGKILL mid-write leaving every output readable, old or new, never half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import dagster
import pyarrow.parquet as pq
import pytest
import yaml

from seeknal_dagster.operations.tags import UNATTENDED_RUN_TAGS
from tests.support.operations import flaky_transform
from tests.support.projects import failure_messages, materialize, materialized_keys


def flaky_project(make_project, tmp_path: Path, retry_settings: str) -> Path:
    """A transform failing on its first attempt only (it leaves a marker file the next attempt finds)."""
    return make_project(
        {
            "data/orders.csv": "order_id\n1\n",
            "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
            "seeknal/transforms/flaky.yml": flaky_transform("flaky", "source.orders", tmp_path / "attempted.csv", retry_settings),
        }
    )


def run_logs(instance: dagster.DagsterInstance, result: dagster.ExecuteInProcessResult) -> str:
    return "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))


@pytest.mark.parametrize(
    ("settings", "attempts"),
    [("dagster: {retries: 2, retry_delay: 0.1}", 3), ("retries: 1", 2)],
    ids=["dagster-block", "top-level"],
)
def test_a_node_with_retries_succeeds_on_a_later_attempt(make_project, tmp_path, settings, attempts):
    project = flaky_project(make_project, tmp_path, settings)
    with dagster.instance_for_test() as instance:
        result = materialize(project, instance=instance)
        assert result.success
        assert materialized_keys(result) == {"source/orders", "transform/flaky"}
        assert f"transform.flaky: attempt 1 of {attempts} failed" in run_logs(instance, result)


def test_without_retries_the_first_failure_fails_the_node(make_project, tmp_path):
    result = materialize(flaky_project(make_project, tmp_path, ""))
    assert not result.success
    assert "the first attempt always fails" in failure_messages(result)


def test_invalid_configuration_is_not_retried(make_project):
    project = make_project(
        {
            "seeknal/sources/orders.yml": (
                "kind: source\nname: orders\nsource: csv\ntable: data/missing.csv\ndagster: {retries: 5}\n"
            ),
        }
    )
    with dagster.instance_for_test() as instance:
        result = materialize(project, instance=instance)
        assert not result.success
        assert "csv source file not found: data/missing.csv" in failure_messages(result)
        assert "attempt 1 of" not in run_logs(instance, result)


POOL_PROJECT = {
    "data/orders.csv": "order_id,amount\n1,10\n",
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
}


def test_a_second_run_waits_for_the_project_pool(make_project):
    """With ``concurrency: {pools: {default_limit: 1}}`` a run of the project waits while another run holds the
    project's pool, and proceeds once it is released."""
    project = make_project(POOL_PROJECT)
    output = project / "target/intermediate/source_orders.parquet"
    with dagster.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default("seeknal_project")
        assert storage.claim_concurrency_slot("seeknal_project", "another-run", "seeknal_project").is_claimed
        outcome: dict[str, dagster.ExecuteInProcessResult] = {}
        waiting = threading.Thread(target=lambda: outcome.update(run=materialize(project, instance=instance)))
        waiting.start()
        try:
            deadline = time.monotonic() + 60
            while storage.get_concurrency_info("seeknal_project").pending_step_count == 0:
                assert time.monotonic() < deadline, "the run never asked for the pool"
                time.sleep(0.1)
            assert not output.exists()
        finally:
            storage.free_concurrency_slots_for_run("another-run")
        waiting.join(timeout=120)
        assert outcome["run"].success
        assert output.is_file()


BIG_SQL = "SELECT i FROM range({rows}) t(i) WHERE i % {every} = 0"


def write_big(project: Path, rows: int, every: int) -> None:
    (project / "seeknal/transforms").mkdir(exist_ok=True)
    (project / "seeknal/transforms/big.yml").write_text(
        f"kind: transform\nname: big\ntransform: {BIG_SQL.format(rows=rows, every=every)}\n"
    )


def test_a_run_killed_mid_write_leaves_old_outputs_and_the_next_run_cleans_up(make_project, tmp_path):
    project = make_project(POOL_PROJECT)
    write_big(project, rows=1000, every=1)
    intermediate = project / "target/intermediate"
    with dagster.instance_for_test() as instance:
        assert materialize(project, instance=instance).success

        # Minutes of work producing a row group every second or so: the kill lands while the file is written.
        write_big(project, rows=50_000_000_000, every=1000)
        (tmp_path / "definitions.py").write_text(
            f"from seeknal_dagster import build_definitions\ndefs = build_definitions({str(project)!r})\n"
        )
        run = subprocess.Popen(
            ["dagster", "asset", "materialize", "-f", str(tmp_path / "definitions.py"), "--select", "*"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not any(path.stat().st_size > 0 for path in intermediate.glob(".transform_big.parquet.tmp-*")):
                assert run.poll() is None and time.monotonic() < deadline, "the run never started writing"
                time.sleep(0.05)
        finally:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)

        [leftover] = intermediate.glob(".transform_big.parquet.tmp-*")
        assert sorted(path.name for path in intermediate.glob("*.parquet")) == ["source_orders.parquet", "transform_big.parquet"]
        assert pq.read_metadata(intermediate / "transform_big.parquet").num_rows == 1000
        assert pq.read_metadata(intermediate / "source_orders.parquet").num_rows == 1  # rewritten or not, whole

        write_big(project, rows=2000, every=1)
        assert materialize(project, instance=instance).success
        assert not leftover.exists()
        assert pq.read_metadata(intermediate / "transform_big.parquet").num_rows == 2000


# Run retries --------------------------------------------------------------------------------------------------

REPOSITORY = Path(__file__).resolve().parents[1]


def will_retry(project: Path, tags: dict[str, str] | None) -> str | None:
    """Whether Dagster's run retries (configured as this repository's dagster.yaml says) will re-run the failed
    run of ``project`` launched with ``tags`` (what the daemon reads)."""
    settings = yaml.safe_load((REPOSITORY / "dagster.yaml").read_text())
    with dagster.instance_for_test(overrides={"run_retries": settings["run_retries"]}) as instance:
        result = materialize(project, instance=instance, tags=tags)
        assert not result.success
        return instance.get_run_by_id(result.run_id).tags.get("dagster/will_retry")


def test_a_failed_sensor_schedule_or_automation_run_is_retried(make_project, tmp_path):
    assert will_retry(flaky_project(make_project, tmp_path, ""), UNATTENDED_RUN_TAGS) == "true"


def test_a_run_launched_by_hand_is_not_retried(make_project, tmp_path):
    assert will_retry(flaky_project(make_project, tmp_path, ""), None) == "false"


def test_a_run_whose_every_failure_is_invalid_configuration_is_not_retried(make_project):
    project = make_project(
        {
            **POOL_PROJECT,
            "seeknal/sources/missing.yml": "kind: source\nname: missing\nsource: csv\ntable: data/missing.csv\n",
            "seeknal/transforms/limited.yml": (
                "kind: transform\nname: limited\nparams: {top: 1}\ntransform: SELECT * FROM source.orders LIMIT {{ top }}\n"
            ),
        }
    )
    assert will_retry(project, UNATTENDED_RUN_TAGS) == "false"
