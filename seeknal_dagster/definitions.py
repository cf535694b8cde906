"""``build_definitions``: a Seeknal project directory in, a ready Dagster code location out.

The top of the package: it wires the assets (``assets/``) and what runs them unattended (``operations/``), which
depend on the assets layer and never the other way round.
"""


import os
from collections import defaultdict
from typing import Any, Mapping

from dagster import AssetExecutionContext, Definitions, in_process_executor
from dagster_duckdb import DuckDBResource
from dagster_pyspark import LazyPySparkResource

from seeknal_dagster.assets.decorator import op_name, external_asset_specs, seeknal_assets
from seeknal_dagster.assets.resource import SeeknalResource
from seeknal_dagster.assets.translator import SeeknalTranslator
from seeknal_dagster.graph.selection import select_nodes
from seeknal_dagster.operations.definitions import build_operations
from seeknal_dagster.operations.sensors import DEFAULT_SENSOR_INTERVAL_SECONDS
from seeknal_dagster.project.loader import load_project
from seeknal_dagster.project.models import PartitionSettings


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
    spark_config: Mapping[str, Any] | None = None,
    default_engine: str | None = None,
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
    automation_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
) -> Definitions:
    """Load, validate and wire a Seeknal project: its assets, checks and the ``seeknal`` resource, plus what
    runs it unattended (see :func:`build_operations`): observed source data, the sensor re-running sources whose
    data changed (every ``sensor_interval_seconds``), the automation sensor (every
    ``automation_interval_seconds``) and the schedules of ``seeknal_project.yml``.

    ``spark_config`` configures the Spark session of nodes with ``engine: spark`` and Hive sources, through
    dagster-pyspark: ``{"spark.remote": "sc://host:15002"}`` for Spark Connect, ``{"spark.master": …}`` for a
    classic session. ``default_engine="spark"`` runs every node that can run on Spark and names no engine there.

    A project with problems raises :class:`ProjectLoadError` listing all of them (file, node, field), which is
    what the Dagster UI shows for a code location that fails to load.
    """
    project = load_project(
        project_dir, profiles_path=profiles_path, target_dir=target_dir, params=params, default_engine=default_engine
    )
    translator = translator or SeeknalTranslator(key_prefix=key_prefix)
    chosen = select_nodes(project, select, exclude)
    by_partitions: dict[str, list[str]] = defaultdict(list)
    for node_id in sorted(chosen):
        node = project.nodes[node_id]
        if not node.is_python:
            by_partitions[partitions_suffix(node.spec.dagster.partitions)].append(node_id)
    assets = []
    for suffix, node_ids in sorted(by_partitions.items()):

        @seeknal_assets(
            project=project, select=" ".join(node_ids), translator=translator, name=op_name(project) + suffix
        )
        def seeknal_project_assets(context: AssetExecutionContext, seeknal: SeeknalResource):
            yield from seeknal.materialize(context)

        assets.append(seeknal_project_assets)

    resource = SeeknalResource(
        duckdb=DuckDBResource(database=duckdb_database),
        pyspark=LazyPySparkResource(spark_config=dict(spark_config)) if spark_config is not None else None,
    )
    operations = build_operations(
        project,
        assets,
        translator,
        sensor_interval_seconds=sensor_interval_seconds,
        automation_interval_seconds=automation_interval_seconds,
    )
    return Definitions(
        assets=[*assets, *external_asset_specs(project, translator), *operations.assets],
        resources={"seeknal": resource},
        # A run is one step per partitions group: a subprocess per step would only add start-up time.
        executor=in_process_executor,
        sensors=operations.sensors,
        schedules=operations.schedules,
        jobs=operations.jobs,
    )


def partitions_suffix(settings: PartitionSettings | None) -> str:
    """Op-name suffix of the multi_asset holding nodes with these partitions ('' when unpartitioned)."""
    if settings is None:
        return ""
    parts = (settings.type, settings.start, settings.end, settings.timezone)
    return "_" + "".join(char if char.isalnum() else "_" for char in "_".join(part for part in parts if part))
