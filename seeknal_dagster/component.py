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
    spark_config: dict[str, Any] | None = None
    #: ``spark``: nodes that can run on Spark and name no engine run there (``spark_config`` gives the session).
    default_engine: str | None = None
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
            spark_config=self.spark_config,
            default_engine=self.default_engine,
            allow_partial=self.allow_partial,
        )
