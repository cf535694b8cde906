"""``@seeknal_assets``: one subsettable ``multi_asset`` for a whole Seeknal project.

One step runs any selection in one process, so a 500-node run pays Dagster's per-step cost once, and Dagster
still sees one asset per node, with lineage, code versions and checks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    PartitionsDefinition,
    RetryPolicy,
    TableColumnDep,
    TableColumnLineage,
    multi_asset,
)

from seeknal_dagster.assets.translator import SeeknalTranslator
from seeknal_dagster.graph.selection import select_nodes
from seeknal_dagster.project.loader import SeeknalProject, load_project
from seeknal_dagster.project.models import NodeKind

#: Op tag carrying how the project was loaded (root, target dir, profiles file, params), as JSON: a step, or the
#: plan, loads exactly the project the specs were built from, whatever process it runs in.
PROJECT_TAG = "seeknal/project"

#: Projects already loaded in this process, by their :data:`PROJECT_TAG` value: a cache, never the source of the
#: options (a miss loads the project again from the tag).
_LOADED: dict[str, SeeknalProject] = {}


def project_tag(project: SeeknalProject) -> str:
    """The :data:`PROJECT_TAG` value of a loaded project."""
    state = {
        "root": str(project.root),
        "target_dir": str(project.target_dir),
        "profiles_path": str(project.profiles.path) if project.profiles.path else None,
        "params": project.renderer.overrides,
        "allow_partial": project.allow_partial,
    }
    return json.dumps(state, sort_keys=True, default=str)


def project_for(assets_def: AssetsDefinition) -> SeeknalProject:
    """The project a Seeknal multi_asset was built from, loaded with the same options."""
    tag = assets_def.op.tags[PROJECT_TAG]
    if tag not in _LOADED:
        state = json.loads(tag)
        _LOADED[tag] = load_project(
            state["root"],
            target_dir=state["target_dir"],
            profiles_path=state["profiles_path"],
            params=state["params"],
            allow_partial=state["allow_partial"],
        )
    return _LOADED[tag]


def _as_project(project: SeeknalProject | str | os.PathLike[str]) -> SeeknalProject:
    return project if isinstance(project, SeeknalProject) else load_project(Path(project))


def op_name(project: SeeknalProject, key_prefix: Sequence[str] = ()) -> str:
    """``seeknal_<prefix>_<project>``: the name of a project's op, pool and resource, and the stem of its sensors
    and source-data op, so two projects (or one loaded twice with different key prefixes) never share one."""
    return "seeknal_" + "".join(char if char.isalnum() else "_" for char in "_".join([*key_prefix, project.name]))


def build_asset_specs(
    project: SeeknalProject, node_ids: set[str], translator: SeeknalTranslator
) -> dict[str, AssetSpec]:
    """Specs for ``node_ids`` (rules excluded: they are checks), with deps re-pointed at the translated keys."""
    specs = {
        node_id: translator.get_asset_spec(project, node_id)
        for node_id in project.graph.topological_order()
        if node_id in node_ids and project.nodes[node_id].kind != NodeKind.RULE
    }
    default_keys = {translator.node_key(project, node_id): node_id for node_id in project.nodes}
    renamed = {
        default_key: specs[node_id].key
        for default_key, node_id in default_keys.items()
        if node_id in specs and specs[node_id].key != default_key
    }
    if not renamed:
        return specs

    def repoint(spec: AssetSpec) -> AssetSpec:
        spec = spec.replace_attributes(deps=[renamed.get(dep.asset_key, dep.asset_key) for dep in spec.deps])
        lineage = spec.metadata.get("dagster/column_lineage")
        if not isinstance(lineage, TableColumnLineage):
            return spec
        deps_by_column = {
            column: [TableColumnDep(renamed.get(dep.asset_key, dep.asset_key), dep.column_name) for dep in deps]
            for column, deps in lineage.deps_by_column.items()
        }
        return spec.merge_attributes(metadata={"dagster/column_lineage": TableColumnLineage(deps_by_column)})

    return {node_id: repoint(spec) for node_id, spec in specs.items()}


def seeknal_assets(
    *,
    project: SeeknalProject | str | os.PathLike[str],
    select: str | None = None,
    exclude: str | None = None,
    translator: SeeknalTranslator | None = None,
    name: str | None = None,
    op_tags: Mapping[str, Any] | None = None,
    pool: str | None = None,
    partitions_def: PartitionsDefinition | None = None,
    backfill_policy: BackfillPolicy | None = None,
    retry_policy: RetryPolicy | None = None,
    required_resource_keys: set[str] | None = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """Build a subsettable multi_asset over a Seeknal project's nodes; the decorated function runs them::

        @seeknal_assets(project="path/to/project")
        def my_project(context: AssetExecutionContext, seeknal: SeeknalResource):
            yield from seeknal.materialize(context)

    ``select`` / ``exclude`` take node ids, names, ``tag:…``, ``kind:…``, ``path:…``, with ``+`` for upstream or
    downstream.

    ``pool`` defaults to one Dagster pool per project, named like the op (``seeknal_<project>``, with the
    translator's key prefix before the project name when it has one): with a limit of 1 on it (``concurrency: {pools: {default_limit: 1}}`` in dagster.yaml), two runs never write the project's
    outputs at the same time; the second waits for the first.
    """
    loaded = _as_project(project)
    translator = translator or SeeknalTranslator()
    tag = project_tag(loaded)
    _LOADED[tag] = loaded
    chosen = select_nodes(loaded, select, exclude)
    specs = build_asset_specs(loaded, chosen, translator)
    check_specs = [
        translator.get_asset_check_spec(loaded, node_id, specs[loaded.nodes[node_id].upstream[0]].key)
        for node_id in loaded.graph.topological_order()
        if node_id in chosen
        and loaded.nodes[node_id].kind == NodeKind.RULE
        and loaded.nodes[node_id].upstream[0] in specs
    ]
    partitioned = {repr(spec.partitions_def): spec.partitions_def for spec in specs.values()}
    if len(partitioned) > 1:
        raise ValueError(
            "one @seeknal_assets definition cannot mix nodes with different partitions "
            f"({', '.join(sorted(partitioned))}): split them with select=, as build_definitions does"
        )
    node_partitions = next(iter(partitioned.values()), None)
    if node_partitions is not None:
        partitions_def = partitions_def or node_partitions
        backfill_policy = backfill_policy or BackfillPolicy.single_run()
    default_name = op_name(loaded, translator.key_prefix)
    return multi_asset(
        name=name or default_name,
        specs=list(specs.values()),
        check_specs=check_specs,
        can_subset=True,
        op_tags={**(op_tags or {}), PROJECT_TAG: tag},
        pool=pool or default_name,
        required_resource_keys=required_resource_keys,
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        retry_policy=retry_policy,
    )


def broken_asset_specs(
    project: SeeknalProject, translator: SeeknalTranslator, keys: Mapping[str, AssetKey]
) -> list[AssetSpec]:
    """Specs for the nodes a partial load left out (rules aside: they are checks): in the graph where they
    belong, not materializable, their description and metadata saying what is wrong. ``keys`` are the asset keys
    of the loaded nodes, so a broken node's lineage points at them."""
    broken_keys = {node_id: translator.broken_node_key(project, node_id) for node_id in project.broken}
    return [
        translator.get_broken_asset_spec(project, node_id, {**keys, **broken_keys})
        for node_id in sorted(project.broken)
        if project.broken[node_id].kind != NodeKind.RULE
    ]
