"""The sensors of a project: one noticing new source data, one evaluating the nodes' automation conditions.

Both are running by default, so ``dagster dev`` (or a deployed daemon) reacts to new data and fires cron and
eager nodes without anyone switching them on in the UI.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Mapping

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from seeknal_dagster.executors import ExecutorError
from seeknal_dagster.executors.fingerprints import fingerprint_source
from seeknal_dagster.operations.observation import observation_event
from seeknal_dagster.operations.tags import CHANGED_SOURCES_TAG, UNATTENDED_RUN_TAGS

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject

DEFAULT_SENSOR_INTERVAL_SECONDS = 30


def nodes_to_refresh(project: "SeeknalProject", changed: set[str], runnable: Mapping[str, AssetKey]) -> list[str]:
    """The changed nodes and everything downstream of them that a run can materialize, in run order."""
    affected = changed | project.graph.descendants(changed)
    return [node_id for node_id in project.graph.topological_order(affected) if node_id in runnable]


def source_change_sensor(
    project: "SeeknalProject",
    data_keys: Mapping[str, AssetKey],
    node_keys: Mapping[str, AssetKey],
    *,
    name: str,
    minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
) -> SensorDefinition:
    """One sensor for the whole project: it fingerprints every source on each tick, records an observation for
    each new data version, and requests one run of exactly the changed sources and their downstream.

    The cursor (node id → last seen data version) lives in the Dagster instance, so a restart picks up data that
    changed while Dagster was down. A source seen for the first time is only observed: its baseline.
    """

    @sensor(
        name=name,
        target=AssetSelection.assets(*node_keys.values()),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Re-runs the sources of Seeknal project {project.name} whose data changed, and their downstream.",
    )
    def seeknal_source_sensor(context: SensorEvaluationContext) -> SensorResult:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current: dict[str, str] = {}
        observations, changed = [], set()
        for node_id, data_key in data_keys.items():
            try:
                fingerprint = fingerprint_source(project, node_id)
            except ExecutorError as error:
                context.log.warning(f"cannot fingerprint the data of {error}")
                continue
            current[node_id] = fingerprint.version
            if seen.get(node_id) != fingerprint.version:
                observations.append(observation_event(data_key, fingerprint))
                if node_id in seen:
                    changed.add(node_id)
        cursor = json.dumps({**seen, **current}, sort_keys=True)
        if not changed:
            reason = f"first sight of {len(observations)} source(s)" if observations else "no source data changed"
            return SensorResult(skip_reason=SkipReason(reason), asset_events=observations, cursor=cursor)
        to_run = nodes_to_refresh(project, changed, node_keys)
        context.log.info(f"new data in {', '.join(sorted(changed))}: requesting {', '.join(to_run)}")
        request = RunRequest(
            # the same tick evaluated twice (a daemon restart mid-tick) must not launch a second run
            run_key=hashlib.blake2b(((context.cursor or "") + cursor).encode(), digest_size=16).hexdigest(),
            asset_selection=[node_keys[node_id] for node_id in to_run],
            tags={**UNATTENDED_RUN_TAGS, CHANGED_SOURCES_TAG: ",".join(sorted(changed))},
        )
        return SensorResult(run_requests=[request], asset_events=observations, cursor=cursor)

    return seeknal_source_sensor


def automation_sensor(
    automated_keys: list[AssetKey], *, name: str, minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS
) -> AutomationConditionSensorDefinition:
    """Evaluates the ``dagster.automation`` conditions of the project's nodes. Dagster's own default automation
    sensor starts stopped; this one runs from the first deploy."""
    return AutomationConditionSensorDefinition(
        name,
        target=AssetSelection.assets(*automated_keys),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        run_tags=UNATTENDED_RUN_TAGS,
        description="Runs the nodes whose dagster.automation condition (eager, on_missing, on_cron) is met.",
    )
