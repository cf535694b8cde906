"""``semantic_model``: a semantic layer definition over one node's output, checked and shown, not computed.

The model is the node ``model: ref('kind.name')`` names (a correct edge, where Seeknal's mangles the id). The
definition is validated (entity, dimension and measure types), and every expression is bound against the model's
persisted output, so a renamed column fails here instead of in a BI tool. Nothing is written: the asset's
metadata carries the definition.
"""

from __future__ import annotations

from typing import Any


from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult, Table
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.models import NodeKind, SemanticModelSpec

ENTITY_TYPES = ("primary", "foreign", "unique", "natural")
DIMENSION_TYPES = ("time", "categorical", "number", "boolean")
MEASURE_AGGREGATIONS = ("sum", "count", "count_distinct", "avg", "average", "min", "max", "median", "sum_boolean")
#: Section → (what one item is, its allowed ``type``/``agg`` values, the key holding them).
SECTIONS = {
    "entities": ("entity", ENTITY_TYPES, "type"),
    "dimensions": ("dimension", DIMENSION_TYPES, "type"),
    "measures": ("measure", MEASURE_AGGREGATIONS, "agg"),
}


def section_items(spec: Any, section: str) -> list[dict[str, Any]]:
    items = spec.extra_fields().get(section) or []
    return items if isinstance(items, list) else []


def defined_names(spec: Any, section: str) -> list[str]:
    return [str(item["name"]) for item in section_items(spec, section) if isinstance(item, dict) and item.get("name")]


@register_executor(NodeKind.SEMANTIC_MODEL)
class SemanticModelExecutor(SqlNodeExecutor):
    @property
    def spec(self) -> SemanticModelSpec:
        return self.node.spec  # type: ignore[return-value]

    def validate(self) -> None:
        self.upstream_for(self.spec.model)
        for section, (_, allowed, key) in SECTIONS.items():
            raw = self.spec.extra_fields().get(section)
            if raw is not None and not isinstance(raw, list):
                raise ExecutorValidationError(self.node.id, f"{section} must be a list")
            seen: set[str] = set()
            for index, item in enumerate(section_items(self.spec, section)):
                where = f"{section}[{index}]"
                if not isinstance(item, dict) or not item.get("name"):
                    raise ExecutorValidationError(self.node.id, f"{where} needs a 'name'")
                if item["name"] in seen:
                    raise ExecutorValidationError(self.node.id, f"{where}: '{item['name']}' is defined twice")
                seen.add(item["name"])
                value = str(item.get(key) or "").lower()
                if value not in allowed:
                    raise ExecutorValidationError(
                        self.node.id,
                        f"{where} ({item['name']}): {key} '{item.get(key)}' is not one of {', '.join(allowed)}",
                    )
        time_dimension = self.spec.extra_fields().get("default_time_dimension")
        time_dimensions = [
            item["name"] for item in section_items(self.spec, "dimensions") if str(item.get("type")).lower() == "time"
        ]
        if time_dimension and time_dimension not in time_dimensions:
            raise ExecutorValidationError(
                self.node.id,
                f"default_time_dimension '{time_dimension}' is not a time dimension "
                f"(time dimensions: {', '.join(time_dimensions) or 'none'})",
            )

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
