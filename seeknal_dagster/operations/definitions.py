"""Everything a project needs to run unattended, built next to its assets by ``build_definitions``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from dagster import (
    AssetKey,
    AssetSelection,
    AssetsDefinition,
    ScheduleDefinition,
    SensorDefinition,
    define_asset_job,
    in_process_executor,
)

from seeknal_dagster.assets._compat import asset_graph_of
from seeknal_dagster.assets.translator import NODE_ID_METADATA_KEY, SeeknalTranslator
from seeknal_dagster.operations.observation import source_data_assets, source_data_keys
from seeknal_dagster.operations.schedules import project_schedules
from seeknal_dagster.operations.sensors import DEFAULT_SENSOR_INTERVAL_SECONDS, automation_sensor, source_change_sensor

if TYPE_CHECKING:
    from seeknal_dagster.assets._compat import UnresolvedAssetJobDefinition
    from seeknal_dagster.project.loader import SeeknalProject


@dataclass
class ProjectOperations:
    """The observable source data, sensors, schedules and schedule jobs of one project."""

    assets: list[AssetsDefinition] = field(default_factory=list)
    sensors: list[SensorDefinition] = field(default_factory=list)
    schedules: list[ScheduleDefinition] = field(default_factory=list)
    jobs: list["UnresolvedAssetJobDefinition"] = field(default_factory=list)


def node_asset_keys(assets: Sequence[AssetsDefinition], *, unpartitioned_only: bool = False) -> dict[str, AssetKey]:
    """Node id → asset key of every node in the project's multi-assets (as translated, custom keys included)."""
    return {
        spec.metadata[NODE_ID_METADATA_KEY]: spec.key
        for assets_def in assets
        if not (unpartitioned_only and assets_def.partitions_def is not None)
        for spec in assets_def.specs
    }


def build_operations(
    project: "SeeknalProject",
    assets: Sequence[AssetsDefinition],
    translator: SeeknalTranslator,
    *,
    name: str,
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
    automation_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
) -> ProjectOperations:
    """Observable data assets and the change sensor for the fingerprintable sources among ``assets``, the
    automation sensor when a node declares ``dagster.automation``, the schedules of ``seeknal_project.yml``, and
    a job running the project's checks alone.

    The change sensor re-runs unpartitioned nodes only: a partitioned node is refreshed per partition, by its
    own schedule or backfill. ``name`` (see ``op_name``) starts the name of everything built here.
    """
    operations = ProjectOperations()
    data_keys = source_data_keys(project, set(node_asset_keys(assets)), translator)
    if data_keys:
        operations.assets.append(source_data_assets(project, data_keys, name=f"{name}_source_data"))
        operations.sensors.append(
            source_change_sensor(
                project,
                data_keys,
                node_asset_keys(assets, unpartitioned_only=True),
                name=f"{name}_source_sensor",
                minimum_interval_seconds=sensor_interval_seconds,
            )
        )
    automated = [spec.key for assets_def in assets for spec in assets_def.specs if spec.automation_condition]
    if automated:
        operations.sensors.append(
            automation_sensor(
                automated, name=f"{name}_automation", minimum_interval_seconds=automation_interval_seconds
            )
        )
    if project.schedules:  # an asset graph of a 2,000-node project costs half a second: only for schedules
        asset_graph = asset_graph_of([*assets, *operations.assets])
        operations.jobs, operations.schedules = project_schedules(project, asset_graph, translator.key_prefix)
    check_keys = [spec.key for assets_def in assets for spec in assets_def.check_specs]
    if check_keys:
        # Dagster 1.13's CLI has no command running checks alone: `dagster job execute -j <name>_checks` does.
        operations.jobs.append(
            define_asset_job(
                f"{name}_checks",
                selection=AssetSelection.checks(*check_keys),
                executor_def=in_process_executor,
                description=f"Every rule of Seeknal project {project.name}, evaluated on the data as it is now.",
            )
        )
    return operations
