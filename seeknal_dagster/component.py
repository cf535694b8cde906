"""``SeeknalProjectComponent``: a Seeknal project as a Dagster component, declared in a ``defs.yaml``::

    type: seeknal_dagster.SeeknalProjectComponent
    attributes:
      project: ../../seeknal_project   # relative to the folder of defs.yaml
      select: "tag:daily+"
      allow_partial: true              # optional: nodes with problems shown, not run, instead of failing to load
"""

from dataclasses import dataclass
from typing import Any

from dagster import Component, ComponentLoadContext, Definitions, Resolvable

from seeknal_dagster.definitions import build_definitions


@dataclass
class SeeknalProjectComponent(Component, Resolvable):
    """Loads a Seeknal project and exposes every node as an asset, with the ``seeknal`` resource."""

    project: str
    select: str | None = None
    exclude: str | None = None
    key_prefix: list[str] | None = None
    target_dir: str | None = None
    profiles_path: str | None = None
    params: dict[str, Any] | None = None
    duckdb_database: str = ":memory:"
    #: Caps of a run's DuckDB memory ('4GB', '25%') and where it spills past them (relative to defs.yaml's folder).
    duckdb_memory_limit: str | None = None
    duckdb_spill_directory: str | None = None
    spark_config: dict[str, Any] | None = None
    #: Load what loads and show the nodes with problems (and their downstream) as not runnable.
    allow_partial: bool = False

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        return build_definitions(
            context.path / self.project,
            select=self.select,
            exclude=self.exclude,
            key_prefix=self.key_prefix,
            target_dir=self.target_dir,
            profiles_path=self.profiles_path,
            params=self.params,
            duckdb_database=self.duckdb_database,
            duckdb_memory_limit=self.duckdb_memory_limit,
            duckdb_spill_directory=context.path / self.duckdb_spill_directory if self.duckdb_spill_directory else None,
            spark_config=self.spark_config,
            allow_partial=self.allow_partial,
        )
