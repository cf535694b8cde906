"""``semantic_model``: a semantic layer definition over one node's output, checked and shown, not computed.

The model is the node ``model: ref('kind.name')`` names (a correct edge, where Seeknal's mangles the id). The
definition is validated (entity, dimension and measure types), and every expression is bound against the model's
persisted output, so a renamed column fails here instead of in a BI tool. Nothing is written: the asset's
metadata carries the definition.
"""

from __future__ import annotations

from typing import Any

from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult, Table
from seeknal_dagster.executors.errors import ExecutorExecutionError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.checks.semantic_model import SECTIONS, section_items
from seeknal_dagster.project.models import NodeKind, SemanticModelSpec


@register_executor(NodeKind.SEMANTIC_MODEL)
class SemanticModelExecutor(SqlNodeExecutor):
    @property
    def spec(self) -> SemanticModelSpec:
        return self.node.spec  # type: ignore[return-value]

    def execute(self) -> ExecutorResult:
        model = self.upstream_for(self.spec.model)
        relation = self.relations[model]
        described: list[tuple[str, str, str, str, str]] = []
        for section, (role, _, _) in SECTIONS.items():
            for item in section_items(self.spec, section):
                expression = str(item.get("expr") or item["name"])
                try:
                    data_type = self.connection.execute(f"DESCRIBE SELECT {expression} FROM {relation}").fetchone()[1]
                    for condition in self._filters(item):
                        self.connection.execute(f"DESCRIBE SELECT 1 FROM {relation} WHERE {condition}")
                except Exception as error:  # DuckDB's binder says which column is missing
                    raise ExecutorExecutionError(
                        self.node.id, f"{section} '{item['name']}' does not fit {model}'s output: {error}", cause=error
                    ) from error
                kind = str(item.get("type") or item.get("agg") or "")
                described.append((role, item["name"], kind, expression, data_type))
        metadata: dict[str, Any] = {
            "model": model,
            "definition": self.spec.model_dump(mode="json", exclude_none=True, exclude={"dagster"}),
            "semantic_model": Table.of(["role", "name", "type", "expression", "data type"], described),
        }
        return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, metadata=metadata)

    @staticmethod
    def _filters(item: dict[str, Any]) -> list[str]:
        filters = item.get("filters") or item.get("filter") or []
        return [str(condition) for condition in ([filters] if isinstance(filters, str) else filters)]
