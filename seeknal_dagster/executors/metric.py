"""``metric``: a semantic layer metric, checked against the project's semantic models and shown, not computed.

A metric names measures (defined by ``semantic_model`` nodes) and, when derived, other metrics; both are checked
here so a typo fails with the list of what exists. Nothing is written: the asset's metadata carries the
definition and the semantic models its measures come from.
"""

from __future__ import annotations

from typing import Any

from seeknal_dagster.executors.base import BaseExecutor, ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.semantic_model import defined_names
from seeknal_dagster.project.models import MetricSpec, NodeKind

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


@register_executor(NodeKind.METRIC)
class MetricExecutor(BaseExecutor):
    @property
    def spec(self) -> MetricSpec:
        return self.node.spec  # type: ignore[return-value]

    def measures(self) -> dict[str, list[str]]:
        """Measure name → the semantic models defining it, across the project."""
        found: dict[str, list[str]] = {}
        nodes = self.context.project.nodes if self.context.project else {}
        for node_id, node in nodes.items():
            if node.kind == NodeKind.SEMANTIC_MODEL:
                for name in defined_names(node.spec, "measures"):
                    found.setdefault(name, []).append(node_id)
        return found

    def metrics(self) -> set[str]:
        nodes = self.context.project.nodes.values() if self.context.project else []
        return {node.name for node in nodes if node.kind == NodeKind.METRIC}

    def validate(self) -> None:
        metric_type = str(self.spec.type).lower()
        if metric_type not in REQUIRED_FIELDS:
            raise ExecutorValidationError(
                self.node.id, f"unknown metric type '{self.spec.type}' (use {', '.join(REQUIRED_FIELDS)})"
            )
        fields = self.spec.extra_fields()
        missing = [name for name in REQUIRED_FIELDS[metric_type] if not fields.get(name)]
        if missing:
            raise ExecutorValidationError(self.node.id, f"a {metric_type} metric needs {', '.join(missing)}")
        self.sources()

    def sources(self) -> dict[str, list[str]]:
        """Each measure this metric uses → the semantic models defining it; unknown measures and metrics fail."""
        fields = self.spec.extra_fields()
        measures, metrics = self.measures(), self.metrics()
        used: dict[str, list[str]] = {}
        for field_name in ("measure", "numerator", "denominator"):
            name = _referenced_name(fields.get(field_name))
            if name is None:
                continue
            if name in measures:
                used[name] = measures[name]
            elif not (field_name != "measure" and name in metrics):
                raise ExecutorValidationError(
                    self.node.id,
                    f"{field_name} '{name}' is not a measure of any semantic model "
                    f"(measures: {', '.join(sorted(measures)) or 'none'})",
                )
        for item in self.spec.inputs:
            name = _referenced_name(item)
            if name and name not in metrics:
                raise ExecutorValidationError(
                    self.node.id, f"input metric '{name}' is not defined (metrics: {', '.join(sorted(metrics))})"
                )
        return used

    def execute(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            metadata={
                "metric_type": str(self.spec.type).lower(),
                "definition": self.spec.model_dump(mode="json", exclude_none=True, exclude={"dagster"}),
                "measures": self.sources(),
            },
        )
