"""How a Seeknal node appears in Dagster: one ``AssetSpec`` per node, built in one overridable place."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from dagster import (
    AssetCheckSpec,
    AssetKey,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    BetaWarning,
    CodeReferencesMetadataValue,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    LocalFileCodeReference,
    MetadataValue,
    MonthlyPartitionsDefinition,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

from seeknal_dagster.engines.columns import PlannedColumn, plan_columns
from seeknal_dagster.project import secrets
from seeknal_dagster.project.checks.exposure import file_format
from seeknal_dagster.project.dagster_rules import owner_for, tag_key_for
from seeknal_dagster.project.models import AUTOMATION_PATTERN, ExposureSpec, NodeKind, PartitionSettings, RuleSpec

if TYPE_CHECKING:
    from seeknal_dagster.project.errors import Problem
    from seeknal_dagster.project.loader import ProjectNode, SeeknalProject

NODE_ID_METADATA_KEY = "seeknal/node_id"
#: On a source's spec: the key of the observable asset standing for the data it reads (see ``get_source_data_key``).
SOURCE_DATA_KEY_METADATA_KEY = "seeknal/source_data_key"
#: Markdown's punctuation, escaped wherever text from the YAML is shown as markdown (descriptions).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
#: Tag of the nodes a partial load left out (``tag:seeknal/not_loaded`` selects them in the UI).
NOT_LOADED_TAG = "seeknal/not_loaded"


def automation_condition(expression: str | None) -> AutomationCondition | None:
    """``eager | on_missing | on_cron("0 6 * * *")`` from a node's ``dagster:`` block (validated on load)."""
    if not expression:
        return None
    expression = expression.strip()
    if expression == "eager":
        return AutomationCondition.eager()
    if expression == "on_missing":
        return AutomationCondition.on_missing()
    return AutomationCondition.on_cron(AUTOMATION_PATTERN.match(expression).group(2))


_PARTITION_CLASSES = {
    "hourly": HourlyPartitionsDefinition,
    "daily": DailyPartitionsDefinition,
    "weekly": WeeklyPartitionsDefinition,
    "monthly": MonthlyPartitionsDefinition,
}


def partitions_definition(settings: PartitionSettings | None) -> TimeWindowPartitionsDefinition | None:
    """The time-window partitions a node declares in ``dagster: {partitions: …}``."""
    if settings is None:
        return None
    options = {"start_date": settings.start, "end_date": settings.end}
    if settings.timezone:
        options["timezone"] = settings.timezone
    return _PARTITION_CLASSES[settings.type](**options)


def exposure_kinds(spec: ExposureSpec) -> set[str]:
    """What Dagster shows as an exposure's kinds: its type and, where it says more, its format or target."""
    kind = spec.delivery_type
    params = spec.params
    if kind == "file":
        path = params.get("path") or spec.extra_fields().get("path") or ""
        detail = file_format(params.get("format") or spec.extra_fields().get("format"), Path(str(path)))
    elif kind == "database":
        detail = "postgres"
    elif kind == "notification":
        detail = str(params.get("channel") or "webhook").lower()
    else:
        detail = None
    return {kind, detail} if detail else {kind}


def markdown_text(text: str) -> str:
    """Plain text that Dagster shows as markdown (descriptions), escaped so it reads as written: a condition like
    ``'%_@__%.__%'`` keeps its underscores instead of turning bold."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)



@dataclass
class _ProjectMemo:
    project: "SeeknalProject"
    columns: Mapping[str, list[PlannedColumn]] | None = None
    keys: dict[str, AssetKey] = field(default_factory=dict)


class SeeknalTranslator:
    """Translates nodes into Dagster specs. Override :meth:`get_asset_spec` to change keys, groups, owners…;
    dependencies are re-pointed at whatever keys it returns."""

    def __init__(self, key_prefix: str | Sequence[str] | None = None, *, plan_columns: bool = True):
        """``plan_columns=False`` leaves column schema and lineage to materializations (see ``engines/columns.py``
        for what planning them at load costs)."""
        self.key_prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])
        self.plan_columns = plan_columns
        self._memos: dict[int, _ProjectMemo] = {}

    def _memo(self, project: "SeeknalProject") -> "_ProjectMemo":
        """What this translator computed for one loaded project (a spec asks for each key several times)."""
        memo = self._memos.get(id(project))
        if memo is None or memo.project is not project:
            memo = self._memos[id(project)] = _ProjectMemo(project)
        return memo

    def node_key(self, project: "SeeknalProject", node_id: str) -> AssetKey:
        keys = self._memo(project).keys
        if node_id not in keys:
            node = project.nodes[node_id]
            custom = node.spec.dagster.key
            if custom:
                keys[node_id] = AssetKey(custom.split("/") if isinstance(custom, str) else list(custom))
            else:
                keys[node_id] = AssetKey([*self.key_prefix, node.kind.value, node.name])
        return keys[node_id]

    def get_asset_spec(self, project: "SeeknalProject", node_id: str) -> AssetSpec:
        node = project.nodes[node_id]
        settings = node.spec.dagster
        owners = ([owner_for(node.spec.owner)] if node.spec.owner else []) + [owner_for(o) for o in settings.owners]
        tags = {tag_key_for(tag): "" for tag in node.spec.tags}
        tags.update(settings.tags)
        kinds = {"seeknal", "sklearn" if node.kind == NodeKind.MODEL else project.engine_of(node_id)}
        if node.kind == NodeKind.SOURCE and not node.is_python:
            kinds.add(str(node.spec.source).lower())
        if node.kind == NodeKind.EXPOSURE and not node.is_python:
            kinds = {"seeknal", *exposure_kinds(node.spec)}  # type: ignore[arg-type]
        metadata: dict[str, object] = {
            NODE_ID_METADATA_KEY: node_id,
            "seeknal/file": MetadataValue.path(str(node.file)),
            "dagster/code_references": code_references(project, node),
        }
        for field_name, sql in node.spec.sql_texts():
            metadata[f"seeknal/{field_name}"] = MetadataValue.md(f"```sql\n{sql.strip()}\n```")
        if node.is_python:
            metadata["seeknal/python"] = MetadataValue.md(f"```python\n{node.spec.source_code}\n```")
        if node.spec.params:
            # As written (``{{ env:… }}`` unrendered), secret-named keys masked: a password written inline is not shown.
            metadata["seeknal/params"] = MetadataValue.json(json_safe(secrets.redact(node.spec.params)))
        data_key = self.get_source_data_key(project, node_id)
        if data_key is not None:
            metadata[SOURCE_DATA_KEY_METADATA_KEY] = MetadataValue.asset(data_key)
        metadata.update(self.column_metadata(project, node_id))
        node_warnings = project.problems_of(node_id)
        if node_warnings:
            metadata["seeknal/warnings"] = MetadataValue.md(_problem_list(node_warnings))
        return AssetSpec(
            key=self.node_key(project, node_id),
            deps=[self.node_key(project, parent) for parent in node.upstream] + ([data_key] if data_key else []),
            description=self.describe(node),
            metadata=metadata,
            group_name=settings.group or node.kind.value,
            code_version=project.code_version(node_id),
            owners=list(dict.fromkeys(owners)),
            tags=tags,
            kinds=kinds,
            automation_condition=self.get_automation_condition(project, node_id),
            partitions_def=partitions_definition(settings.partitions),
            skippable=True,
        )

    def column_plan(self, project: "SeeknalProject") -> Mapping[str, list[PlannedColumn]]:
        """Every node's planned columns, planned once per project (see ``engines/columns.py``)."""
        memo = self._memo(project)
        if memo.columns is None:
            memo.columns = plan_columns(project) if self.plan_columns else {}
        return memo.columns

    def column_metadata(self, project: "SeeknalProject", node_id: str) -> dict[str, object]:
        """``dagster/column_schema`` (names, types, the YAML's descriptions) and ``dagster/column_lineage`` (which
        upstream columns each column is computed from), known at load."""
        columns = self.column_plan(project).get(node_id)
        if not columns:
            return {}
        metadata: dict[str, object] = {
            "dagster/column_schema": TableSchema(
                columns=[
                    TableColumn(name=column.name, type=column.type or "unknown", description=column.description)
                    for column in columns
                ]
            )
        }
        keys = {parent: self.node_key(project, parent) for parent in {parent for column in columns for parent, _ in column.lineage}}
        lineage = {
            column.name: [TableColumnDep(asset_key=keys[parent], column_name=name) for parent, name in column.lineage]
            for column in columns
            if column.lineage
        }
        if lineage:
            metadata["dagster/column_lineage"] = TableColumnLineage(deps_by_column=lineage)
        return metadata

    def broken_node_key(self, project: "SeeknalProject", node_id: str) -> AssetKey:
        """The key of a node a partial load left out: the default one (a custom ``dagster.key`` may be what is
        wrong with it)."""
        node = project.broken[node_id]
        return AssetKey([*self.key_prefix, node.kind.value, node.name])

    def get_broken_asset_spec(
        self, project: "SeeknalProject", node_id: str, keys: Mapping[str, AssetKey]
    ) -> AssetSpec:
        """A node a partial load left out: shown with its lineage, not materializable, saying why."""
        node = project.broken[node_id]
        problems = project.problems_of(node_id)
        return AssetSpec(
            key=keys[node_id],
            deps=[keys[parent] for parent in node.upstream if parent in keys],
            description=f"**Not loaded, not runnable**: fix the problems below.\n\n{_problem_list(problems)}\n\n"
            f"Defined in `{node.file}`.",
            metadata={
                NODE_ID_METADATA_KEY: node_id,
                "seeknal/file": MetadataValue.path(str(node.file)),
                "seeknal/problems": MetadataValue.md(_problem_list(problems)),
            },
            group_name=node.kind.value,
            tags={NOT_LOADED_TAG: "true"},
            kinds={"seeknal"},
        )

    def get_source_data_key(self, project: "SeeknalProject", node_id: str) -> AssetKey | None:
        """The observable asset standing for the external data a source node reads (its files, its table): new
        data gives it a new data version, which marks the source stale. ``None`` for every other node."""
        node = project.nodes[node_id]
        return AssetKey([*self.key_prefix, "source_data", node.name]) if node.has_data_fingerprint else None

    def get_automation_condition(self, project: "SeeknalProject", node_id: str) -> AutomationCondition | None:
        """The node's ``dagster.automation``, held back while a blocking check of an upstream asset fails.

        Only ``eager`` reacts to new source data; ``on_cron`` and ``on_missing`` ignore the observed data asset,
        so a cron source refreshes on its tick and a missing one runs before its data was ever observed.
        """
        expression = project.nodes[node_id].spec.dagster.automation
        condition = automation_condition(expression)
        if condition is None:
            return None
        condition = condition & AutomationCondition.all_deps_blocking_checks_passed()
        data_key = self.get_source_data_key(project, node_id)
        if data_key is not None and expression.strip() != "eager":
            condition = condition.ignore(AssetSelection.assets(data_key))
        return condition

    def describe(self, node: "ProjectNode") -> str:
        text = markdown_text(node.spec.description) if node.spec.description else f"Seeknal {node.kind.value} `{node.name}`."
        if node.is_python:
            return f"{text}\n\nComputed by `{node.spec.function}()` in `{node.file}`."
        return f"{text}\n\nDefined in `{node.file}`."

    def get_asset_check_spec(self, project: "SeeknalProject", rule_id: str, asset_key: AssetKey) -> AssetCheckSpec:
        """A rule node as a check on the asset of its first input; further inputs become additional deps."""
        rule = project.nodes[rule_id]
        spec: RuleSpec = rule.spec  # type: ignore[assignment]
        checked, *others = rule.upstream
        return AssetCheckSpec(
            name=rule.name,
            asset=asset_key,
            additional_deps=[self.node_key(project, other) for other in others],
            description=markdown_text(rule.spec.description) if rule.spec.description else f"Seeknal rule `{rule.name}` ({rule.file}).",
            blocking=spec.severity_level == "error",
            metadata={
                NODE_ID_METADATA_KEY: rule_id,
                "seeknal/file": MetadataValue.path(str(rule.file)),
                "seeknal/severity": spec.severity_level,
                "dagster/code_references": code_references(project, rule),
                "seeknal/rule": MetadataValue.json(json_safe(spec.rule)),
            },
        )


def code_references(project: "SeeknalProject", node: "ProjectNode") -> CodeReferencesMetadataValue:
    """The node's YAML (or Python) file and line, which the UI links to: turn them into links to the git
    repository with Dagster's ``link_code_references_to_git`` (see the README)."""
    with warnings.catch_warnings():  # code references are marked beta in Dagster 1.13
        warnings.simplefilter("ignore", BetaWarning)
        reference = LocalFileCodeReference(file_path=str(project.root / node.file), line_number=node.line)
        return CodeReferencesMetadataValue(code_references=[reference])


def json_safe(value: Any) -> Any:
    """A YAML value as JSON metadata holds it (dates and other scalars as text)."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def metadata_asset_key(value: Any) -> AssetKey:
    """An asset key held in metadata (as :meth:`MetadataValue.asset`, or raw)."""
    return value.value if isinstance(value, MetadataValue) else AssetKey.from_coercible(value)


def _problem_list(problems: Sequence["Problem"]) -> str:
    """Problems as a Markdown list: severity, field and message (the file is in the asset's metadata)."""
    return "\n".join(
        f"- {problem.severity}" + (f" in `{problem.field}`" if problem.field else "") + f": {problem.message}"
        for problem in problems
    )
