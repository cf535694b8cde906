"""What a ``semantic_model`` node may say: the node it models, and typed entities, dimensions and measures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from seeknal_dagster.project.checks.scope import CheckScope, Finding
from seeknal_dagster.project.models import SemanticModelSpec

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

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
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def defined_names(spec: Any, section: str) -> list[str]:
    return [str(item["name"]) for item in section_items(spec, section) if item.get("name")]


def check_semantic_model(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    spec: SemanticModelSpec = node.spec  # type: ignore[assignment]
    for section, (_, allowed, key) in SECTIONS.items():
        raw = spec.extra_fields().get(section)
        if raw is not None and not isinstance(raw, list):
            yield Finding(f"{section} must be a list", section)
            continue
        seen: set[str] = set()
        for index, item in enumerate(raw or []):
            where = f"{section}[{index}]"
            if not isinstance(item, dict) or not item.get("name"):
                yield Finding(f"{where} needs a 'name'", where)
                continue
            if item["name"] in seen:
                yield Finding(f"{where}: '{item['name']}' is defined twice", where)
            seen.add(item["name"])
            value = str(item.get(key) or "").lower()
            if value not in allowed:
                yield Finding(
                    f"{where} ({item['name']}): {key} '{item.get(key)}' is not one of {', '.join(allowed)}", f"{where}.{key}"
                )
    time_dimension = spec.extra_fields().get("default_time_dimension")
    time_dimensions = [item["name"] for item in section_items(spec, "dimensions") if str(item.get("type")).lower() == "time"]
    if time_dimension and time_dimension not in time_dimensions:
        yield Finding(
            f"default_time_dimension '{time_dimension}' is not a time dimension "
            f"(time dimensions: {', '.join(time_dimensions) or 'none'})",
            "default_time_dimension",
        )
