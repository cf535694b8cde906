"""How a Seeknal node appears in Dagster: one ``AssetSpec`` per node, built in one overridable place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from dagster import (
    AssetCheckSpec,
    AssetKey,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MetadataValue,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

from seeknal_dagster.delivery.files import file_format
from seeknal_dagster.project.models import ExposureSpec, NodeKind, PartitionSettings, RuleSpec

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode, SeeknalProject

NODE_ID_METADATA_KEY = "seeknal/node_id"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_CRON_AUTOMATION = re.compile(r"""^on_cron\(\s*['"](.+?)['"]\s*\)$""")


def automation_condition(expression: str | None) -> AutomationCondition | None:
    """``eager | on_missing | on_cron("0 6 * * *")`` from a node's ``dagster:`` block (validated on load)."""
    if not expression:
        return None
    expression = expression.strip()
    if expression == "eager":
        return AutomationCondition.eager()
    if expression == "on_missing":
        return AutomationCondition.on_missing()
    return AutomationCondition.on_cron(_CRON_AUTOMATION.match(expression).group(1))


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


def _owner(owner: str) -> str:
    return owner if "@" in owner or owner.startswith("team:") else f"team:{_TAG_UNSAFE.sub('_', owner)}"


def _tag_key(tag: str) -> str:
    return _TAG_UNSAFE.sub("_", tag)[:63]


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



class SeeknalTranslator:
    """Translates nodes into Dagster specs. Override :meth:`get_asset_spec` to change keys, groups, owners…;
    dependencies are re-pointed at whatever keys it returns."""

    def __init__(self, key_prefix: str | Sequence[str] | None = None):
        self.key_prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])

    def node_key(self, project: "SeeknalProject", node_id: str) -> AssetKey:
        node = project.nodes[node_id]
        custom = node.spec.dagster.key
        if custom:
            return AssetKey(custom.split("/") if isinstance(custom, str) else list(custom))
        return AssetKey([*self.key_prefix, node.kind.value, node.name])

    def get_asset_spec(self, project: "SeeknalProject", node_id: str) -> AssetSpec:
        node = project.nodes[node_id]
        settings = node.spec.dagster
        owners = ([_owner(node.spec.owner)] if node.spec.owner else []) + [_owner(o) for o in settings.owners]
        tags = {_tag_key(tag): "" for tag in node.spec.tags}
        tags.update(settings.tags)
        kinds = {"seeknal", project.engine_of(node_id)}
        if node.kind == NodeKind.SOURCE and not node.is_python:
            kinds.add(str(node.spec.source).lower())
        if node.kind == NodeKind.EXPOSURE and not node.is_python:
            kinds = {"seeknal", *exposure_kinds(node.spec)}  # type: ignore[arg-type]
        metadata: dict[str, object] = {
            NODE_ID_METADATA_KEY: node_id,
            "seeknal/file": MetadataValue.path(str(node.file)),
        }
        for field_name, sql in node.spec.sql_texts():
            metadata[f"seeknal/{field_name}"] = MetadataValue.md(f"```sql\n{sql.strip()}\n```")
        return AssetSpec(
            key=self.node_key(project, node_id),
            deps=[self.node_key(project, parent) for parent in node.upstream]
            + [key for key in [self.get_source_data_key(project, node_id)] if key is not None],
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
        text = node.spec.description or f"Seeknal {node.kind.value} `{node.name}`."
        if node.is_python:
            return (
                f"{text}\n\nDeclared in Python (`{node.file}`, function `{node.spec.function}`). seeknal-dagster "
                "shows it for lineage but does not run Python nodes: materialize it with Seeknal."
            )
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
            description=rule.spec.description or f"Seeknal rule `{rule.name}` ({rule.file}).",
            blocking=spec.severity_level == "error",
            metadata={
                NODE_ID_METADATA_KEY: rule_id,
                "seeknal/file": MetadataValue.path(str(rule.file)),
                "seeknal/severity": spec.severity_level,
            },
        )
