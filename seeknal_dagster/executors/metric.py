"""``metric``: a semantic layer metric, checked against the project's semantic models and shown, not computed.

A metric names measures (defined by ``semantic_model`` nodes) and, when derived, other metrics; both are checked
(:mod:`seeknal_dagster.project.checks.metric`) so a typo fails with the list of what exists. Nothing is written:
the asset's metadata carries the definition and the semantic models its measures come from.
"""

from __future__ import annotations

from seeknal_dagster.executors.base import BaseExecutor, ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.project.checks.metric import metric_sources
from seeknal_dagster.project.models import MetricSpec, NodeKind


@register_executor(NodeKind.METRIC)
class MetricExecutor(BaseExecutor):
    @property
    def spec(self) -> MetricSpec:
        return self.node.spec  # type: ignore[return-value]

    def execute(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            metadata={
                "metric_type": str(self.spec.type).lower(),
                "definition": self.spec.model_dump(mode="json", exclude_none=True, exclude={"dagster"}),
                "measures": metric_sources(self.node, self.check_scope()),
            },
        )
