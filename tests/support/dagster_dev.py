"""A real ``dagster dev`` (webserver, daemon, code server) in its own process group, and polling what it records."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import dagster
import requests
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter

from tests.support.postgres import _free_port

T = TypeVar("T")
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@dataclass
class DagsterDev:
    port: int
    log: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"http://127.0.0.1:{self.port}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait_until(self, what: str, probe: Callable[[], T | None], timeout: float = 120) -> T:
        """Poll ``probe`` until it returns something truthy; on timeout fail with the end of Dagster's log."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; dagster log ends with:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.5)


@contextmanager
def running_dagster(
    command: list[str], working_directory: Path, dagster_home: Path, log: Path
) -> Iterator[DagsterDev]:
    """Start ``dagster dev`` / ``dagster-webserver`` (``command`` without the port), wait for the webserver, and
    kill the whole process group (code servers and run workers included) on the way out."""
    port = _free_port()
    with log.open("a") as output:
        process = subprocess.Popen(
            [*command, "-p", str(port), "-h", "127.0.0.1"],
            cwd=working_directory,
            env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterDev(port, log)
    try:
        server.wait_until("the webserver", lambda: process.poll() is not None or _answers(port))
        assert process.poll() is None, f"dagster exited:\n{log.read_text()[-4000:]}"
        yield server
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
    except requests.RequestException:
        return False


def finished_run(instance: dagster.DagsterInstance, tags: dict[str, str]) -> dagster.DagsterRun | None:
    """The first finished run carrying ``tags``, if any."""
    records = instance.get_run_records(filters=RunsFilter(tags=tags, statuses=list(FINISHED)), ascending=True)
    return records[0].dagster_run if records else None


def materialized_by(instance: dagster.DagsterInstance, run_id: str) -> set[str]:
    entries = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    return {entry.dagster_event.asset_key.to_user_string() for entry in entries}
