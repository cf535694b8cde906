"""The real ``dagster asset materialize`` CLI in a subprocess, recording into a SQLite instance in ``DAGSTER_HOME``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping


def make_dagster_home(directory: Path) -> Path:
    """A Dagster instance directory whose runs, events and materializations live in SQLite below it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(
        f"storage:\n  sqlite:\n    base_dir: {directory / 'storage'}\ntelemetry:\n  enabled: false\n"
    )
    return directory


def materialize_with_cli(
    working_directory: Path,
    module: str,
    select: str,
    *,
    run_config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``dagster asset materialize -m module --select …`` (``--config-json`` when given), output captured."""
    command = ["dagster", "asset", "materialize", "-m", module, "--working-directory", str(working_directory)]
    command += ["--select", select]
    if run_config is not None:
        command += ["--config-json", json.dumps(run_config)]
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def seeknal_params_config(params: Mapping[str, Any], project_name: str = "project") -> dict[str, Any]:
    """Run config setting the ``{{ }}`` params of every node, as a user does in the launchpad: on the project's
    resource, ``seeknal_<project>`` (test projects are folders named ``project``)."""
    return {"resources": {f"seeknal_{project_name}": {"config": {"params": dict(params)}}}}
