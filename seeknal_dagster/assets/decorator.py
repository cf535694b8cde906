"""``@seeknal_assets``: one subsettable ``multi_asset`` for a whole Seeknal project.

One step runs any selection in one process, so a 500-node run pays Dagster's per-step cost once, and Dagster
still sees one asset per node, with lineage, code versions and checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    PartitionsDefinition,
    RetryPolicy,
    multi_asset,
)

from seeknal_dagster.assets.resource import PARTIAL_TAG, PROJECT_IDENTITY_TAG, PROJECT_ROOT_TAG, TARGET_DIR_TAG
from seeknal_dagster.assets.translator import SeeknalTranslator
from seeknal_dagster.graph.selection import select_nodes
from seeknal_dagster.project.loader import SeeknalProject, load_project
from seeknal_dagster.project.models import NodeKind

#: Projects the decorator built assets from, by identity, so a step runs exactly the project (and options) its
#: specs came from, even when one process loads the same folder twice with different options.
_PROJECTS: dict[str, SeeknalProject] = {}


def project_for(assets_def: AssetsDefinition) -> SeeknalProject:
    tags = assets_def.op.tags
    identity = tags[PROJECT_IDENTITY_TAG]
    if identity not in _PROJECTS:
        _PROJECTS[identity] = load_project(
            tags[PROJECT_ROOT_TAG], target_dir=tags[TARGET_DIR_TAG], allow_partial=PARTIAL_TAG in tags
        )
    return _PROJECTS[identity]


def _as_project(project: SeeknalProject | str | os.PathLike[str]) -> SeeknalProject:
    return project if isinstance(project, SeeknalProject) else load_project(Path(project))


def op_name(project: SeeknalProject) -> str:
    return "seeknal_" + "".join(char if char.isalnum() else "_" for char in project.name)


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
        return spec.replace_attributes(deps=[renamed.get(dep.asset_key, dep.asset_key) for dep in spec.deps])

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
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """Build a subsettable multi_asset over a Seeknal project's nodes; the decorated function runs them::

        @seeknal_assets(project="path/to/project")
        def my_project(context: AssetExecutionContext, seeknal: SeeknalResource):
            yield from seeknal.materialize(context)

    ``select`` / ``exclude`` take node ids, names, ``tag:…``, ``kind:…``, ``path:…``, with ``+`` for upstream or
    downstream. Python-declared nodes are not part of it (see :func:`external_asset_specs`).

    ``pool`` defaults to one Dagster pool per project, named like the op (``seeknal_<project>``): with a limit of
    1 on it (``concurrency: {pools: {default_limit: 1}}`` in dagster.yaml), two runs never write the project's
    outputs at the same time; the second waits for the first.
    """
    loaded = _as_project(project)
    translator = translator or SeeknalTranslator()
    _PROJECTS[loaded.identity] = loaded
    chosen = {node_id for node_id in select_nodes(loaded, select, exclude) if not loaded.nodes[node_id].is_python}
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
    return multi_asset(
        name=name or op_name(loaded),
        specs=list(specs.values()),
        check_specs=check_specs,
        can_subset=True,
        op_tags={
            **(op_tags or {}),
            PROJECT_ROOT_TAG: str(loaded.root),
            PROJECT_IDENTITY_TAG: loaded.identity,
            TARGET_DIR_TAG: str(loaded.target_dir),
            **({PARTIAL_TAG: "true"} if loaded.allow_partial else {}),
        },
        pool=pool or op_name(loaded),
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        retry_policy=retry_policy,
    )


def external_asset_specs(
    project: SeeknalProject, translator: SeeknalTranslator | None = None
) -> list[AssetSpec]:
    """Specs for Python-declared nodes: visible in the graph with their lineage, not run by this integration."""
    translator = translator or SeeknalTranslator()
    python_nodes = {node_id for node_id, node in project.nodes.items() if node.is_python}
    return list(build_asset_specs(project, python_nodes, translator).values()) if python_nodes else []


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
