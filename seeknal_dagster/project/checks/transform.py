"""What a ``transform`` node may say: SQL whose last statement is the query giving the node's output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from seeknal_dagster.engines.duckdb_engine import is_query, split_statements
from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode


def query_statements(sql: str, what: str, field: str) -> list[str]:
    """The statements of rendered SQL, checked to end with the query whose rows are the output."""
    statements = split_statements(sql)
    if not statements:
        raise SettingError(f"the SQL of {what} is empty", field)
    if not is_query(statements[-1]):
        raise SettingError(f"the last statement of {what} must be a query (SELECT/WITH) producing its output", field)
    return statements


def rendered_sql(node: "ProjectNode", scope: CheckScope, sql: str, field: str) -> str | None:
    """SQL with its ``{{ }}`` rendered, or ``None`` when a template cannot be (the loader reports that itself,
    with the references it resolves; an executor's own rendering raises it)."""
    try:
        return scope.render(node, sql, field)
    except SettingError:
        return None


def check_transform(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    sql = rendered_sql(node, scope, node.spec.transform, "transform")  # type: ignore[attr-defined]
    if sql is not None:
        query_statements(sql, "a transform", "transform")
    return iter(())
