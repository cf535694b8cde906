"""``SeeknalResource``: the execution context of a Seeknal run, as a Dagster resource.

It owns the engines (a ``DuckDBResource`` always, a lazily started ``PySparkResource`` when configured) and the
run-time template params, and runs whatever nodes a step selected.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

from dagster import AssetCheckResult, AssetExecutionContext, ConfigurableResource, MaterializeResult
from dagster_duckdb import DuckDBResource
from pydantic import Field, field_validator

from seeknal_dagster.engines.duckdb_engine import quote_literal
from seeknal_dagster.engines.duckdb_memory import (
    SPILL_SUBDIRECTORY,
    default_memory_limit,
    spill_directory,
)
from seeknal_dagster.executors import ExecutionContext
from seeknal_dagster.project.paths import PathPolicy
from seeknal_dagster.project.profiles import memory_limit_error

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject


class SeeknalResource(ConfigurableResource):
    """Runs Seeknal nodes inside Dagster steps.

    ``duckdb`` is the database nodes run SQL in (in memory by default: node outputs are Parquet files, not
    tables); ``pyspark`` is only needed for Hive sources and ``engine: spark`` nodes; ``params`` override ``{{ }}``
    template values for every node, like Seeknal's ``--params``.

    ``duckdb_memory_limit`` caps the DuckDB database of a step (``'4GB'``, ``'25%'`` of the RAM); past it, DuckDB
    spills to a directory of the step's own under ``duckdb_spill_directory`` (relative to the project root;
    default ``<target>/seeknal_dagster/tmp``), removed when the step ends. Unset, the limit is the
    ``connection_config`` of ``duckdb``, else profiles.yml's ``materialization.duckdb.memory_limit``, else 1.5 GB
    for each DuckDB thread, at most half the RAM. Every node starts from these settings (a node's own ``SET
    memory_limit`` is set back after it).
    """

    duckdb: DuckDBResource = Field(default_factory=lambda: DuckDBResource(database=":memory:"))
    # Typed as any resource, and checked below, so that importing this module (every code-location load) does not
    # import dagster_pyspark and pyspark: a quarter of a second, for a field most projects leave empty.
    pyspark: Optional[ConfigurableResource] = None
    params: dict[str, Any] = Field(default_factory=dict)
    duckdb_memory_limit: Optional[str] = None
    duckdb_spill_directory: Optional[str] = None

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_limit_duckdb_understands(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (error := memory_limit_error(value)):
            raise ValueError(f"duckdb_memory_limit: {error}")
        return value

    @field_validator("pyspark")
    @classmethod
    def _is_pyspark_resource(cls, value: Optional[ConfigurableResource]) -> Optional[ConfigurableResource]:
        if value is not None:
            from dagster_pyspark import LazyPySparkResource, PySparkResource

            if not isinstance(value, (LazyPySparkResource, PySparkResource)):
                raise ValueError(f"pyspark must be a dagster-pyspark resource, not {type(value).__name__}")
        return value

    def execution_context(
        self, project: "SeeknalProject", run_id: str, connection: Any, log: logging.Logger | None = None
    ) -> ExecutionContext:
        spark = self.pyspark
        return ExecutionContext.for_project(
            project,
            run_id=run_id,
            params=self.params,
            duckdb_connection=connection,
            spark_factory=(lambda: spark.spark_session) if spark is not None else None,
            **({"log": log} if log is not None else {}),
        )

    def materialize(self, context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        """Run the nodes and checks this step selected, in dependency order, streaming their events."""
        from seeknal_dagster.assets.decorator import project_for

        project = project_for(context.assets_def)
        with ExitStack() as stack:
            spill = self.spill_parent(project)
            spill_to = stack.enter_context(spill_directory(spill)) if spill is not None else None
            connection = stack.enter_context(self.duckdb.get_connection())
            settings = self.limit_memory(context, project, connection, spill_to)
            # Executors' messages (a Python node's output among them) go to the run's log.
            execution = self.execution_context(project, context.run.run_id, connection, context.log)
            execution.duckdb_settings = settings
            if context.assets_def.partitions_def is not None:
                window = context.partition_time_window
                execution.partition_time_window = (window.start, window.end)
            # Imported by runs only: a code-location load does not import the executors.
            from seeknal_dagster.assets.runner import StepRunner

            yield from StepRunner(project, context, execution).stream()

    def spill_parent(self, project: "SeeknalProject") -> Path | None:
        """Where this step's spill directory goes, or None when ``duckdb``'s own config names one."""
        if self.duckdb_spill_directory is None and "temp_directory" in self.duckdb.connection_config:
            return None
        policy = PathPolicy.from_settings(project.root, project.target_dir, project.settings)[0]
        parent = policy.resolve(self.duckdb_spill_directory or project.target_dir / SPILL_SUBDIRECTORY)
        if problem := policy.directory_problem(parent, "DuckDB's spilled data"):
            raise ValueError(f"duckdb_spill_directory: {problem}")
        return parent

    def limit_memory(
        self, context: AssetExecutionContext, project: "SeeknalProject", connection: Any, spill_to: Path | None
    ) -> dict[str, str]:
        """Set the step's DuckDB memory limit and spill directory, the settings every node starts from; returns
        every setting the database started with as it was given (``duckdb``'s ``connection_config`` too)."""
        limit = self.duckdb_memory_limit
        if limit is None and "memory_limit" not in self.duckdb.connection_config:
            limit = project.profiles.duckdb_memory_limit or default_memory_limit(connection)
        ours = {"memory_limit": limit, "temp_directory": str(spill_to) if spill_to is not None else None}
        ours = {name: value for name, value in ours.items() if value is not None}
        for name, value in ours.items():
            connection.execute(f"SET GLOBAL {name} = {quote_literal(value)}")
        [(shown_limit, shown_spill)] = connection.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()
        context.log.info(f"DuckDB memory limit {shown_limit}, spilling to {shown_spill}")
        return {**{name: str(value) for name, value in self.duckdb.connection_config.items()}, **ours}
