"""What a changed-only run would materialize, and why, read from the Dagster instance.

A node is planned when it was never materialized, when its definition (code version) differs from the one its
last materialization recorded, when the data it read changed since (a source's fresh fingerprint, or an upstream
node re-materialized with another data version), or when an upstream node is planned. Sources are fingerprinted
afresh, so the plan is right even when no sensor observed the new data. Computing a plan records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dagster import AssetKey, AssetsDefinition, DagsterInstance, DataVersion, Definitions, ExecuteInProcessResult

from seeknal_dagster.assets._compat import (
    NEVER_OBSERVED,
    extract_data_provenance_from_entry,
    extract_data_version_from_entry,
)
from seeknal_dagster.assets.decorator import PROJECT_TAG, project_for
from seeknal_dagster.assets.runner import SOURCE_DATA_READ_METADATA_KEY
from seeknal_dagster.assets.translator import NODE_ID_METADATA_KEY
from seeknal_dagster.executors import ExecutorError
from seeknal_dagster.operations.definitions import node_asset_keys
from seeknal_dagster.executors.fingerprints import SourceFingerprint, fingerprint_source

if TYPE_CHECKING:
    from dagster import EventLogEntry

    from seeknal_dagster.project.loader import SeeknalProject

NEW = "new: never materialized"
DEFINITION_CHANGED = "definition changed"
UPSTREAM_DATA_CHANGED = "upstream data changed"
UPSTREAM_CHANGED = "upstream changed"
#: Tag on runs started by ``seeknal-dagster run --changed``.
CHANGED_RUN_TAG = "seeknal/changed_only"


@dataclass
class PlannedNode:
    node_id: str
    key: AssetKey
    reasons: list[str]


@dataclass
class Plan:
    """The nodes a changed-only run materializes, in run order, each with its reasons."""

    project: "SeeknalProject"
    planned: list[PlannedNode] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Partitioned nodes are refreshed per partition (backfills, schedules), not by a changed-only run.
    partitioned: list[str] = field(default_factory=list)
    #: Sources whose data could not be fingerprinted, with the reason; they are not planned for new data.
    unreadable: dict[str, str] = field(default_factory=dict)
    #: Observable data assets of the planned sources, observed in the same run before the sources read them.
    data_keys: list[AssetKey] = field(default_factory=list)

    @property
    def asset_keys(self) -> list[AssetKey]:
        return [*self.data_keys, *(node.key for node in self.planned)]


@dataclass
class _ProjectAssets:
    project: "SeeknalProject"
    assets: list[AssetsDefinition]
    data_keys: dict[str, AssetKey]


def _project_assets(defs: Definitions) -> _ProjectAssets:
    """The Seeknal project behind a code location: its multi-assets and its observable source data assets."""
    graph = defs.resolve_asset_graph()
    assets = [a for a in graph.assets_defs if a.is_materializable and PROJECT_TAG in a.op.tags]
    if not assets:
        raise ValueError("these definitions hold no Seeknal project assets")
    data_keys = {
        spec.metadata[NODE_ID_METADATA_KEY]: spec.key
        for assets_def in graph.assets_defs
        if assets_def.is_observable
        for spec in assets_def.specs
        if NODE_ID_METADATA_KEY in spec.metadata
    }
    return _ProjectAssets(project_for(assets[0]), assets, data_keys)


class _Planner:
    """Walks the project in run order, comparing each node with its latest recorded materialization."""

    def __init__(self, located: _ProjectAssets, instance: DagsterInstance):
        self.project = located.project
        self.instance = instance
        self.data_keys = located.data_keys
        self.keys = node_asset_keys(located.assets, unpartitioned_only=True)
        self.all_keys = node_asset_keys(located.assets)
        self.code_versions = {spec.key: spec.code_version for assets_def in located.assets for spec in assets_def.specs}
        self.entries: dict[AssetKey, EventLogEntry | None] = {}
        self.fingerprints: dict[str, SourceFingerprint] = {}
        self.planned: set[str] = set()

    def plan(self) -> Plan:
        plan = Plan(self.project, partitioned=sorted(set(self.all_keys) - set(self.keys)))
        for node_id in self.data_keys:
            try:
                self.fingerprints[node_id] = fingerprint_source(self.project, node_id)
            except ExecutorError as error:
                plan.unreadable[node_id] = error.message
        for node_id in self.project.graph.topological_order(self.keys):
            reasons = self.reasons(node_id)
            if not reasons:
                plan.unchanged.append(node_id)
                continue
            self.planned.add(node_id)
            plan.planned.append(PlannedNode(node_id, self.keys[node_id], reasons))
            if node_id in self.fingerprints:
                plan.data_keys.append(self.data_keys[node_id])
        return plan

    def latest(self, key: AssetKey) -> "EventLogEntry | None":
        if key not in self.entries:
            self.entries[key] = self.instance.get_latest_materialization_event(key)
        return self.entries[key]

    def data_version(self, key: AssetKey) -> str | None:
        entry = self.latest(key)
        version = extract_data_version_from_entry(entry) if entry is not None else None
        return version.value if version is not None else None

    def reasons(self, node_id: str) -> list[str]:
        key = self.keys[node_id]
        entry = self.latest(key)
        if entry is None:
            return [NEW]
        provenance = extract_data_provenance_from_entry(entry)
        if provenance is None or provenance.code_version != self.code_versions.get(key):
            return [DEFINITION_CHANGED]
        new_data, changed_upstream = [], []
        if node_id in self.fingerprints:
            read = _source_data_read(entry, provenance.input_data_versions.get(self.data_keys[node_id]))
            if read != self.fingerprints[node_id].version:
                new_data.append(f"new data in {getattr(self.project.nodes[node_id].spec, 'table', None) or 'its source'}")
        for parent in self.project.nodes[node_id].upstream:
            if parent in self.planned:
                changed_upstream.append(parent)
            elif parent in self.keys:
                read = provenance.input_data_versions.get(self.keys[parent])
                current = self.data_version(self.keys[parent])
                if current is not None and (read is None or read.value != current):
                    new_data.append(f"{parent}, re-materialized since")
        reasons = [f"{UPSTREAM_DATA_CHANGED} ({', '.join(new_data)})"] if new_data else []
        return reasons + ([f"{UPSTREAM_CHANGED} ({', '.join(changed_upstream)})"] if changed_upstream else [])


def _source_data_read(entry: "EventLogEntry", observed: DataVersion | None) -> str | None:
    """The data version a source's last materialization read: the observed one when an observation preceded
    it, else the fingerprint the run itself recorded."""
    if observed is not None and observed != NEVER_OBSERVED:
        return observed.value
    recorded = entry.asset_materialization.metadata.get(SOURCE_DATA_READ_METADATA_KEY)
    return str(recorded.value) if recorded is not None else None


def compute_plan(defs: Definitions, instance: DagsterInstance) -> Plan:
    """Compare a code location's project with what ``instance`` recorded; nothing is run or recorded."""
    return _Planner(_project_assets(defs), instance).plan()


def format_plan(plan: Plan) -> str:
    """The plan as the CLI prints it: what would run and why, then what stays."""
    total = len(plan.planned) + len(plan.unchanged)
    lines = [f"Seeknal project '{plan.project.name}': {len(plan.planned)} of {total} node(s) would run"]
    width = max((len(node.node_id) for node in plan.planned), default=0) + 2
    lines += [f"  {node.node_id:<{width}}{'; '.join(node.reasons)}" for node in plan.planned]
    if plan.unchanged:
        lines.append(f"unchanged: {', '.join(plan.unchanged)}")
    if plan.partitioned:
        lines.append(f"partitioned (refresh them by partition): {', '.join(plan.partitioned)}")
    lines += [f"warning: could not check the data of {node_id}: {reason}" for node_id, reason in plan.unreadable.items()]
    return "\n".join(lines)


def run_plan(defs: Definitions, instance: DagsterInstance, plan: Plan) -> ExecuteInProcessResult:
    """Materialize exactly the planned nodes as one run in this process, observing their sources' data first so
    the run records the data versions it read."""
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        asset_selection=plan.asset_keys,
        tags={CHANGED_RUN_TAG: "true"},
        raise_on_error=False,
    )
