"""Driving the project's sensors in process, the way Dagster's daemon does, for the operations tests."""

from __future__ import annotations

from pathlib import Path

import dagster
from dagster._core.definitions.sensor_definition import SensorExecutionData

from seeknal_dagster import build_definitions


_FAIL_FIRST_ATTEMPT_SQL = """
    CREATE TEMP TABLE earlier_attempts AS SELECT count(*) AS n FROM glob('{marker}');
    COPY (SELECT 1 AS attempted) TO '{marker}' (FORMAT csv);
    SELECT CASE WHEN (SELECT n FROM earlier_attempts) = 0 THEN error('the first attempt always fails') ELSE 1 END AS ok
"""


def flaky_transform(name: str, upstream: str, marker: Path, settings: str = "") -> str:
    """YAML of a transform reading ``upstream`` that fails on its first attempt only: that attempt leaves
    ``marker``, which later attempts find (delete it to make the next attempt fail again)."""
    sql = _FAIL_FIRST_ATTEMPT_SQL.format(marker=marker).replace("\n", "\n  ")
    return f"kind: transform\nname: {name}\ninputs: [{{ref: {upstream}}}]\n{settings}\ntransform: |\n  {sql}\n"


def tick(
    project_dir: Path, instance: dagster.DagsterInstance, cursor: str | None, sensor: str = "source_sensor", **options
) -> SensorExecutionData:
    """Evaluate one tick of the project's sensor named ``seeknal_<project>_<sensor>`` with a freshly built code
    location (as after a restart), and record the asset events it reports, as the daemon does."""
    defs = build_definitions(project_dir, **options)
    [definition] = [item for item in defs.sensors or [] if item.name.endswith(f"_{sensor}")]
    context = dagster.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    result = definition.evaluate_tick(context)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return result


def requested_keys(result: SensorExecutionData) -> list[set[str]]:
    """The asset keys of each run a tick requested."""
    return [{key.to_user_string() for key in request.asset_selection or []} for request in result.run_requests or []]


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)
