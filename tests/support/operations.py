"""Driving the project's sensors in process, the way Dagster's daemon does, for the operations tests."""

from __future__ import annotations

from pathlib import Path

import dagster
from dagster._core.definitions.sensor_definition import SensorExecutionData

from seeknal_dagster import build_definitions


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
