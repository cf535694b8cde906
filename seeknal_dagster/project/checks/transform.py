"""What a ``transform`` node may say: SQL whose last statement is the query giving the node's output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from seeknal_dagster.project import sql_lexer
from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode


def query_statements(sql: str, what: str, field: str, shown: list[str] | None = None) -> list[str]:
    """The statements of rendered SQL, checked to end with the query whose rows are the output and to hold no
    statement that reaches beyond the node (``COMMIT``, ``ATTACH``…; see :mod:`seeknal_dagster.project.sql_lexer`).
    ``shown``: the statements as messages may show them (``{{ env… }}`` unrendered)."""
    lexed = sql_lexer.statements(sql)  # lexed once, for both questions
    for number, count, reason in sql_lexer.refused_statements(lexed)[:1]:
        statement = f"\n  Statement: {shown[number - 1][:200]}" if shown and len(shown) == count else ""
        raise SettingError(f"statement {number} of {count}: {reason}{statement}", field)
    if not lexed:
        raise SettingError(f"the SQL of {what} is empty", field)
    if not lexed[-1].is_query:
        raise SettingError(f"the last statement of {what} must be a query (SELECT/WITH) producing its output", field)
    return [statement.text for statement in lexed]


def rendered_sql(node: "ProjectNode", scope: CheckScope, sql: str, field: str) -> str | None:
    """SQL with its ``{{ }}`` rendered, or ``None`` when a template cannot be (the loader reports that itself,
    with the references it resolves; an executor's own rendering raises it)."""
    try:
        return scope.render_sql(node, sql, field)
    except SettingError:
        return None


def check_transform(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    sql = rendered_sql(node, scope, node.spec.transform, "transform")  # type: ignore[attr-defined]
    if sql is not None:
        query_statements(sql, "a transform", "transform")
    return iter(())
