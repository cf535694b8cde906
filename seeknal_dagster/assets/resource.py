"""``SeeknalResource``: the execution context of a Seeknal run, as a Dagster resource.

It owns the engines (a ``DuckDBResource`` always, a lazily started ``PySparkResource`` when configured) and the
run-time template params, and runs whatever nodes a step selected.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterator, Optional

from dagster import AssetCheckResult, AssetExecutionContext, ConfigurableResource, MaterializeResult
from dagster_duckdb import DuckDBResource
from dagster_pyspark import LazyPySparkResource
from pydantic import Field

from seeknal_dagster.assets.runner import StepRunner
from seeknal_dagster.executors import ExecutionContext

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject


class SeeknalResource(ConfigurableResource):
    """Runs Seeknal nodes inside Dagster steps.

    ``duckdb`` is the database nodes run SQL in (in memory by default: node outputs are Parquet files, not
    tables); ``pyspark`` is only needed for Hive sources and ``engine: spark`` nodes; ``params`` override ``{{ }}``
    template values for every node, like Seeknal's ``--params``.
    """

    duckdb: DuckDBResource = Field(default_factory=lambda: DuckDBResource(database=":memory:"))
    pyspark: Optional[LazyPySparkResource] = None
    params: dict[str, Any] = Field(default_factory=dict)

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
        with self.duckdb.get_connection() as connection:
            # Executors' messages (a Python node's output among them) go to the run's log.
            execution = self.execution_context(project, context.run.run_id, connection, context.log)
            if context.assets_def.partitions_def is not None:
                window = context.partition_time_window
                execution.partition_time_window = (window.start, window.end)
            yield from StepRunner(project, context, execution).stream()
