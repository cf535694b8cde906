"""``SeeknalProjectComponent``: a Seeknal project as a Dagster component, declared in a ``defs.yaml``::

    type: seeknal_dagster.SeeknalProjectComponent
    attributes:
      project: ../../seeknal_project   # project, target_dir, profiles_path: relative to the folder of defs.yaml
      select: "tag:daily+"
      allow_partial: true              # optional: nodes with problems shown, not run, instead of failing to load
      translation:                     # per node, templated with {{ node.* }} (see node_template_vars)
        group_name: "{{ node.kind }}s"
        tags: {layer: "{{ node.tags[0] if node.tags else 'none' }}"}

``dg scaffold defs seeknal_dagster.SeeknalProjectComponent my_project --project-path path/to/project`` writes such
a ``defs.yaml``; without ``--project-path`` it also writes a small starter project next to it.
"""

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Mapping

from dagster import (
    AssetSpec,
    Component,
    ComponentLoadContext,
    Definitions,
    Resolvable,
    Scaffolder,
    ScaffoldRequest,
    scaffold_with,
)
from dagster.components.component_scaffolding import scaffold_component
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import BaseModel, Field

from seeknal_dagster.assets.translator import SeeknalTranslator
from seeknal_dagster.definitions import build_definitions

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject

STARTER_DIR = "seeknal_project"
#: The starter project ``dg scaffold defs`` writes when no ``--project-path`` is given: one CSV source and one
#: transform, enough to see the graph, a run and a check in the UI.
STARTER_FILES = {
    "seeknal_project.yml": "name: starter\nversion: 1\n",
    "data/orders.csv": "order_id,customer_id,amount\n1,10,25.0\n2,11,12.5\n3,10,40.0\n",
    "seeknal/sources/orders.yml": """
        kind: source
        name: orders
        description: Orders, one row per order.
        source: csv
        table: data/orders.csv
        columns:
          order_id: Order key
          customer_id: Who ordered
          amount: Order value
    """,
    "seeknal/transforms/customer_revenue.yml": """
        kind: transform
        name: customer_revenue
        description: Revenue per customer.
        inputs:
          - ref: source.orders
        transform: |
          SELECT customer_id, count(*) AS orders, sum(amount) AS revenue
          FROM ref('source.orders')
          GROUP BY customer_id
    """,
    "seeknal/rules/positive_amounts.yml": """
        kind: rule
        name: positive_amounts
        description: Every order has a positive amount.
        inputs:
          - ref: source.orders
        rule: amount > 0
        severity: warn
    """,
}


def node_template_vars(project: "SeeknalProject", node_id: str) -> dict[str, Any]:
    """What ``{{ node.* }}`` holds in a ``translation`` block: ``id``, ``name``, ``kind``, ``description``,
    ``owner``, ``tags``, ``params``, ``file`` (relative to the project) and ``config`` (the node's YAML)."""
    node = project.nodes[node_id]
    return {
        "id": node_id,
        "name": node.name,
        "kind": node.kind.value,
        "description": node.spec.description,
        "owner": node.spec.owner,
        "tags": list(node.spec.tags),
        "params": dict(node.spec.params),
        "file": str(node.file),
        "config": node.config,
    }


class ComponentTranslator(SeeknalTranslator):
    """The translator with the component's ``translation`` applied to each node's spec."""

    def __init__(self, translation: TranslationFn[Mapping[str, Any]] | None, key_prefix: list[str] | None):
        super().__init__(key_prefix=key_prefix)
        self.translation = translation

    def get_asset_spec(self, project: "SeeknalProject", node_id: str) -> AssetSpec:
        spec = super().get_asset_spec(project, node_id)
        return self.translation(spec, node_template_vars(project, node_id)) if self.translation else spec


class SeeknalScaffoldParams(BaseModel):
    project_path: str | None = Field(
        default=None, description="an existing Seeknal project; without it, a starter project is written"
    )


class SeeknalProjectScaffolder(Scaffolder[SeeknalScaffoldParams]):
    """``dg scaffold defs seeknal_dagster.SeeknalProjectComponent <path> [--project-path <project>]``."""

    @classmethod
    def get_scaffold_params(cls) -> type[SeeknalScaffoldParams]:
        return SeeknalScaffoldParams

    def scaffold(self, request: ScaffoldRequest[SeeknalScaffoldParams]) -> None:
        target = Path(request.target_path)
        if request.params.project_path:
            given = Path(request.params.project_path)
            absolute = given if given.is_absolute() else Path(request.project_root or os.getcwd()) / given
            project = os.path.relpath(absolute.resolve(), target.resolve())
        else:
            project = STARTER_DIR
            for relative, text in STARTER_FILES.items():
                path = target / STARTER_DIR / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(text).lstrip())
        scaffold_component(request, {"project": project})


@scaffold_with(SeeknalProjectScaffolder)
@dataclass
class SeeknalProjectComponent(Component, Resolvable):
    """Loads a Seeknal project and exposes every node as an asset, with its checks, sensors and schedules.

    ``project``, ``target_dir`` and ``profiles_path`` are relative to the folder of the ``defs.yaml``.
    ``translation`` changes each node's asset (key, group_name, owners, tags, kinds, description, metadata…),
    templated with ``{{ node.* }}``.
    """

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
    translation: Annotated[
        TranslationFn[Mapping[str, Any]] | None,
        TranslationFnResolver(template_vars_for_translation_fn=lambda node: {"node": node}),
    ] = None
    #: ``spark``: nodes that can run on Spark and name no engine run there (``spark_config`` gives the session).
    default_engine: str | None = None
    #: Load what loads and show the nodes with problems (and their downstream) as not runnable.
    allow_partial: bool = False

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        def here(path: str | None) -> Path | None:
            return context.path / path if path else None

        return build_definitions(
            here(self.project),
            select=self.select,
            exclude=self.exclude,
            translator=ComponentTranslator(self.translation, self.key_prefix),
            target_dir=here(self.target_dir),
            profiles_path=here(self.profiles_path),
            params=self.params,
            duckdb_database=self.duckdb_database,
            duckdb_memory_limit=self.duckdb_memory_limit,
            duckdb_spill_directory=here(self.duckdb_spill_directory),
            spark_config=self.spark_config,
            default_engine=self.default_engine,
            allow_partial=self.allow_partial,
        )
