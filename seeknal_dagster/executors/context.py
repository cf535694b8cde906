"""Everything a node needs to run: paths, engines, templates, profiles, and where its inputs live."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from seeknal_dagster.project.paths import PathClaim, PathPolicy, path_claims
from seeknal_dagster.project.profiles import Profiles
from seeknal_dagster.project.templating import SqlText, TemplateRenderer

if TYPE_CHECKING:
    import duckdb

    from seeknal_dagster.engines.duckdb_engine import UpstreamViews
    from seeknal_dagster.project.loader import ProjectNode, SeeknalProject


class EngineNotConfiguredError(RuntimeError):
    """A node needs an engine (Spark) that this deployment did not configure."""


@dataclass
class ExecutionContext:
    """The execution environment shared by the nodes of one run (the seed design's fields, plus the project).

    Engines are created lazily: a run of DuckDB nodes never starts Spark, and a dry run opens nothing.
    """

    project_name: str
    workspace_path: Path
    target_path: Path
    state_dir: Path | None = None
    duckdb_connection: Any = None
    spark_session: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    verbose: bool = False
    project: "SeeknalProject | None" = None
    profiles: Profiles = field(default_factory=Profiles)
    renderer: TemplateRenderer = field(default_factory=TemplateRenderer)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    duckdb_factory: Callable[[], "duckdb.DuckDBPyConnection"] | None = None
    spark_factory: Callable[[], Any] | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("seeknal_dagster"))
    #: ``(start, end)`` of the partition being materialized (end exclusive), or ``None`` for a full run.
    #: Time-windowed nodes recompute only this window and keep the rest of their output.
    partition_time_window: tuple[datetime, datetime] | None = None
    #: Database-wide DuckDB settings the run started with, as given (``memory_limit: 3000MB``): DuckDB shows sizes
    #: rounded, so a setting a node changed is set back to these exactly.
    duckdb_settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workspace_path = Path(self.workspace_path)
        self.target_path = Path(self.target_path)
        if self.state_dir is None:
            self.state_dir = self.target_path / "state"

    @classmethod
    def for_project(cls, project: "SeeknalProject", **overrides: Any) -> "ExecutionContext":
        run_id = overrides.pop("run_id", None) or uuid.uuid4().hex
        params = overrides.pop("params", None)
        return cls(
            project_name=project.name,
            workspace_path=project.root,
            target_path=project.target_dir,
            project=project,
            profiles=project.profiles,
            renderer=project.renderer.with_run(run_id, params),
            run_id=run_id,
            **overrides,
        )

    @cached_property
    def duckdb_views(self) -> "UpstreamViews":
        """The views over node outputs made on the run's DuckDB database so far (each is made once per run)."""
        from seeknal_dagster.engines.duckdb_engine import UpstreamViews

        return UpstreamViews()

    def get_duckdb_connection(self) -> "duckdb.DuckDBPyConnection":
        """The run's DuckDB connection, opened on first use."""
        if self.duckdb_connection is None:
            self.duckdb_views.forget()  # made on another database
            if self.duckdb_factory is not None:
                self.duckdb_connection = self.duckdb_factory()
            else:
                import duckdb

                self.duckdb_connection = duckdb.connect()
        return self.duckdb_connection

    def get_spark_session(self) -> Any:
        """The run's Spark session, started on first use; a clear error when no Spark engine is configured."""
        if self.spark_session is None:
            if self.spark_factory is None:
                raise EngineNotConfiguredError(
                    "this node needs Spark, but no Spark engine is configured: pass spark_config=… to "
                    "build_definitions (or a 'pyspark' resource to SeeknalResource)"
                )
            self.spark_session = self.spark_factory()
        return self.spark_session

    def engine_for(self, node: "ProjectNode") -> str:
        """``duckdb`` or ``spark``: where the node's SQL runs (see :meth:`SeeknalProject.engine_of`)."""
        if self.project is not None and node.id in self.project.nodes:
            return self.project.engine_of(node.id)
        return node.spec.declared_engine() or "duckdb"

    def get_output_path(self, node: "ProjectNode") -> Path:
        """``target/intermediate/<kind>_<name>.parquet``, where Seeknal puts a node's output."""
        return self.output_path_for(node.id)

    def output_path_for(self, node_id: str) -> Path:
        kind, _, name = node_id.partition(".")
        return self.target_path / "intermediate" / f"{kind}_{name}.parquet"

    def get_cache_path(self, node: "ProjectNode") -> Path:
        return self.target_path / "cache" / node.kind.value / f"{node.name}.parquet"

    @cached_property
    def path_policy(self) -> PathPolicy:
        """Where this project's nodes may read and write files (paths relative to the project root, as Seeknal
        runs from it); see :mod:`seeknal_dagster.project.paths`."""
        settings = self.project.settings if self.project is not None else {}
        return PathPolicy.from_settings(self.workspace_path, self.target_path, settings)[0]

    def path_claims(self) -> list[PathClaim]:
        """What the project's nodes read and write on disk, which a file exposure may not overwrite."""
        if self.project is None:
            return []
        return list(path_claims(self.project.nodes, self.project.renderer, self.profiles, self.path_policy.root))

    def render(self, text: str, params: Mapping[str, Any] | None = None) -> str:
        """Plain text, for uses where text cannot change structure (a date to parse); SQL uses :meth:`render_sql`."""
        return self.renderer.render(text, params)

    def render_sql(
        self, text: str, params: Mapping[str, Any] | None = None, fragment: bool = False, engine: str = "duckdb"
    ) -> SqlText:
        """SQL to run on ``engine`` and to show; a run value may only stand where it stays a literal (see
        templating)."""
        return self.renderer.render_sql(text, params, fragment, engine)

    def close(self) -> None:
        if self.duckdb_connection is not None and self.duckdb_factory is None:
            self.duckdb_connection.close()
        self.duckdb_connection = None
        self.duckdb_views.forget()
