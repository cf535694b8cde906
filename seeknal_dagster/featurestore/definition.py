"""A feature group's definition (read from YAML by :mod:`seeknal_dagster.project.checks.feature_group`) and the
DuckDB types its features are stored as.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seeknal_dagster.project.checks.feature_group import (
    MODES,
    SNAPSHOT_TIME_COLUMN,
    Feature,
    FeatureGroupDefinition,
    FeatureGroupDefinitionError,
    OnlineSettings,
)

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject

__all__ = [
    "MODES",
    "SNAPSHOT_TIME_COLUMN",
    "STORED_TYPES",
    "Feature",
    "FeatureGroupDefinition",
    "FeatureGroupDefinitionError",
    "OnlineSettings",
    "accepts",
    "feature_group_definition",
    "type_family",
]

#: Type family → the DuckDB type a feature of that family is stored as, so a version's schema stays stable.
STORED_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
#: Type family → the data families that convert to it without changing what the values mean.
_ACCEPTED_FAMILIES = {
    "int": {"int"},
    "float": {"int", "float"},
    "string": {"string"},
    "bool": {"bool"},
    "date": {"date"},
    "timestamp": {"date", "timestamp"},
}
_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}


def type_family(duckdb_type: str) -> str:
    """The family of a DuckDB column type: int, float, string, bool, date, timestamp, or the type itself."""
    upper = duckdb_type.upper()
    if upper in _INTEGER_TYPES:
        return "int"
    if upper in ("FLOAT", "DOUBLE") or upper.startswith("DECIMAL"):
        return "float"
    if upper == "VARCHAR":
        return "string"
    if upper == "BOOLEAN":
        return "bool"
    if upper == "DATE":
        return "date"
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    return upper


def accepts(dtype: str, duckdb_type: str) -> bool:
    """Whether data of ``duckdb_type`` can be stored as a feature declared ``dtype`` (a family)."""
    return type_family(duckdb_type) in _ACCEPTED_FAMILIES[dtype]


def feature_group_definition(project: "SeeknalProject", feature_group: str) -> FeatureGroupDefinition:
    """The definition of a feature group of a project, by name or ``feature_group.<name>``."""
    node_id = feature_group if feature_group.startswith("feature_group.") else f"feature_group.{feature_group}"
    if node_id not in project.nodes:
        known = sorted(node.name for node in project.nodes.values() if node.kind.value == "feature_group")
        raise KeyError(f"no feature group '{feature_group}' in project {project.name} (feature groups: {known})")
    return FeatureGroupDefinition.from_spec(project.nodes[node_id].kind_spec)  # type: ignore[arg-type]


