"""What a ``metric`` node may say: its type's fields, naming measures of the project's semantic models and, for
derived metrics, other metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError
from seeknal_dagster.project.checks.semantic_model import defined_names
from seeknal_dagster.project.models import MetricSpec, NodeKind

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

#: Metric type → the fields it needs.
REQUIRED_FIELDS = {
    "simple": ("measure",),
    "cumulative": ("measure",),
    "ratio": ("numerator", "denominator"),
    "derived": ("expr",),
}


def _referenced_name(value: Any) -> str | None:
    """A measure or metric reference: a plain name or ``{name: …}``."""
    if isinstance(value, dict):
        value = value.get("name") or value.get("measure") or value.get("metric")
    return str(value) if value else None


def _measures(scope: CheckScope) -> dict[str, list[str]]:
    """Measure name → the semantic models defining it."""
    measures: dict[str, list[str]] = {}
    for node_id, other in scope.nodes.items():
        if other.kind == NodeKind.SEMANTIC_MODEL:
            for name in defined_names(other.spec, "measures"):
                measures.setdefault(name, []).append(node_id)
    return measures


def metric_sources(node: "ProjectNode", scope: CheckScope) -> dict[str, list[str]]:
    """Each measure the metric uses → the semantic models defining it; an unknown measure or metric raises."""
    spec: MetricSpec = node.spec  # type: ignore[assignment]
    fields = spec.extra_fields()
    measures = scope.once("measures", lambda: _measures(scope))
    metrics = scope.once("metrics", lambda: {other.name for other in scope.nodes.values() if other.kind == NodeKind.METRIC})
    used: dict[str, list[str]] = {}
    for field_name in ("measure", "numerator", "denominator"):
        name = _referenced_name(fields.get(field_name))
        if name is None:
            continue
        if name in measures:
            used[name] = measures[name]
        elif not (field_name != "measure" and name in metrics):
            raise SettingError(
                f"{field_name} '{name}' is not a measure of any semantic model "
                f"(measures: {', '.join(sorted(measures)) or 'none'})",
                field_name,
            )
    for index, item in enumerate(spec.inputs):
        name = _referenced_name(item)
        if name and name not in metrics:
            raise SettingError(
                f"input metric '{name}' is not defined (metrics: {', '.join(sorted(metrics))})", f"inputs[{index}]"
            )
    return used


def check_metric(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    spec: MetricSpec = node.spec  # type: ignore[assignment]
    metric_type = str(spec.type).lower()
    if metric_type not in REQUIRED_FIELDS:
        raise SettingError(f"unknown metric type '{spec.type}' (use {', '.join(REQUIRED_FIELDS)})", "type")
    missing = [name for name in REQUIRED_FIELDS[metric_type] if not spec.extra_fields().get(name)]
    if missing:
        raise SettingError(f"a {metric_type} metric needs {', '.join(missing)}", missing[0])
    metric_sources(node, scope)
    return iter(())
