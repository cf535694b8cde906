"""``build_definitions``: a Seeknal project directory in, a ready Dagster code location out.

The top of the package: it wires the assets (``assets/``) and what runs them unattended (``operations/``), which
depend on the assets layer and never the other way round.
"""


import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

from dagster import AssetExecutionContext, Definitions, ExecutorDefinition, in_process_executor
from dagster_duckdb import DuckDBResource

from seeknal_dagster.assets.decorator import broken_asset_specs, op_name, seeknal_assets
from seeknal_dagster.assets.resource import SeeknalResource
from seeknal_dagster.assets.translator import SeeknalTranslator
from seeknal_dagster.gc_pause import without_gc
from seeknal_dagster.graph.selection import select_nodes
from seeknal_dagster.operations.definitions import build_operations, node_asset_keys
from seeknal_dagster.operations.sensors import DEFAULT_SENSOR_INTERVAL_SECONDS
from seeknal_dagster.project.loader import load_project
from seeknal_dagster.project.models import PartitionSettings


@without_gc
def build_definitions(
    project_dir: str | os.PathLike[str],
    *,
    select: str | None = None,
    exclude: str | None = None,
    translator: SeeknalTranslator | None = None,
    key_prefix: str | list[str] | None = None,
    target_dir: str | os.PathLike[str] | None = None,
    profiles_path: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    duckdb_database: str = ":memory:",
    duckdb_memory_limit: str | None = None,
    duckdb_spill_directory: str | os.PathLike[str] | None = None,
    spark_config: Mapping[str, Any] | None = None,
    default_engine: str | None = None,
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
    automation_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
    executor: ExecutorDefinition | None = in_process_executor,
    allow_partial: bool = False,
) -> Definitions:
    """Load, validate and wire a Seeknal project: its assets, checks and its ``SeeknalResource``, plus what
    runs it unattended (see :func:`build_operations`): observed source data, the sensor re-running sources whose
    data changed (every ``sensor_interval_seconds``), the automation sensor (every
    ``automation_interval_seconds``) and the schedules of ``seeknal_project.yml``.

    ``spark_config`` configures the Spark session of nodes with ``engine: spark`` and Hive sources, through
    dagster-pyspark: ``{"spark.remote": "sc://host:15002"}`` for Spark Connect, ``{"spark.master": …}`` for a
    classic session. ``default_engine="spark"`` runs every node that can run on Spark and names no engine there.

    A project with problems raises :class:`ProjectLoadError` listing all of them (file, node, field), which is
    what the Dagster UI shows for a code location that fails to load. With ``allow_partial``, the nodes with a
    problem and their downstream are left out of the runnable assets and shown as assets that cannot be
    materialized (tagged ``seeknal/not_loaded``), whose description lists their problems; the rest runs.
    Warnings are logged and shown in the metadata of their nodes' assets.

    Everything it names — the op and its pool, the resource, the sensors, the source-data op, the schedules and
    their jobs — starts with ``seeknal_<key_prefix>_<project>`` (schedules: ``<key_prefix>_<name>``), so several
    projects, or one project under several key prefixes, merge into one code location (``Definitions.merge``).

    ``executor`` is the code location's executor: in-process by default, since a run is one step per partitions
    group and a subprocess per step only adds start-up time. Pass ``executor=None`` to merge these definitions with
    others that set their own; the jobs built here (schedules, checks) keep the in-process executor either way.

    ``duckdb_memory_limit`` and ``duckdb_spill_directory`` (relative to the current directory) bound the memory
    of a run's DuckDB database; see :class:`SeeknalResource` for their defaults.
    """
    project = load_project(
        project_dir,
        profiles_path=profiles_path,
        target_dir=target_dir,
        params=params,
        default_engine=default_engine,
        allow_partial=allow_partial,
    )
    if project.problems:
        logging.getLogger("seeknal_dagster").warning(
            "Seeknal project %s loaded with %d problem(s):\n%s",
            project.root,
            len(project.problems),
            "\n".join(f"  - {problem}" for problem in project.problems),
        )
    translator = translator or SeeknalTranslator(key_prefix=key_prefix)
    name = op_name(project, translator.key_prefix)
    chosen = select_nodes(project, select, exclude)
    by_partitions: dict[str, list[str]] = defaultdict(list)
    for node_id in sorted(chosen):
        by_partitions[partitions_suffix(project.nodes[node_id].spec.dagster.partitions)].append(node_id)
    assets = []
    for suffix, node_ids in sorted(by_partitions.items()):

        @seeknal_assets(
            project=project,
            select=" ".join(node_ids),
            translator=translator,
            name=name + suffix,
            required_resource_keys={name},
        )
        def seeknal_project_assets(context: AssetExecutionContext):
            yield from getattr(context.resources, name).materialize(context)

        assets.append(seeknal_project_assets)

    pyspark = None
    if spark_config is not None:
        from dagster_pyspark import LazyPySparkResource

        pyspark = LazyPySparkResource(spark_config=dict(spark_config))
    resource = SeeknalResource(
        duckdb=DuckDBResource(database=duckdb_database),
        pyspark=pyspark,
        duckdb_memory_limit=duckdb_memory_limit,
        duckdb_spill_directory=str(Path(duckdb_spill_directory).resolve()) if duckdb_spill_directory else None,
    )
    resource.spill_parent(project)  # a spill directory outside the project fails the load, not the first run
    operations = build_operations(
        project,
        assets,
        translator,
        name=name,
        sensor_interval_seconds=sensor_interval_seconds,
        automation_interval_seconds=automation_interval_seconds,
    )
    return Definitions(
        assets=[*assets, *broken_asset_specs(project, translator, node_asset_keys(assets)), *operations.assets],
        resources={name: resource},
        executor=executor,
        sensors=operations.sensors,
        schedules=operations.schedules,
        jobs=operations.jobs,
    )


def partitions_suffix(settings: PartitionSettings | None) -> str:
    """Op-name suffix of the multi_asset holding nodes with these partitions ('' when unpartitioned)."""
    if settings is None:
        return ""
    return "_" + "".join(char if char.isalnum() else "_" for char in "_".join(settings.written()))
