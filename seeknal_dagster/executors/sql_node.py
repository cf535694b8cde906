"""What every SQL-running executor shares: a connection of its own with its inputs registered, and templating.

Each node gets a fresh cursor on the run's DuckDB database, so ``input_N`` aliases and temporary tables of one
node can never leak into another (Seeknal's late-bound alias bug).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from seeknal_dagster.engines.duckdb_engine import register_inputs, relation_columns, rewrite_sql
from seeknal_dagster.executors.base import BaseExecutor, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.project.templating import TemplateError

if TYPE_CHECKING:
    import duckdb


class SqlNodeExecutor(BaseExecutor):
    """Base for executors whose node reads its upstream outputs through DuckDB."""

    connection: "duckdb.DuckDBPyConnection | None" = None
    relations: dict[str, str]

    def render_sql(self, sql: str) -> str:
        """``{{ }}`` rendered with the node's params, refs pointed at the upstream views."""
        try:
            rendered = self.context.render(sql, self.node.spec.params)
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error
        known = self.context.project.nodes if self.context.project else self.node.upstream
        relations = getattr(self, "relations", None) or {
            upstream_id: upstream_id for upstream_id in self.node.upstream
        }
        try:
            return rewrite_sql(rendered, relations, known)
        except ValueError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error

    def upstream_for(self, reference: Any) -> str:
        """The upstream node id a reference in this node's YAML names (``kind.name``, or a unique bare name)."""
        upstream_id = self.node.upstream_id(reference)
        if upstream_id is None:
            raise ExecutorValidationError(self.node.id, f"{reference!r} does not name an upstream node of {self.node.id}")
        return upstream_id

    def require_columns(self, relation: str, described_as: str, needed: Mapping[str, str]) -> dict[str, str]:
        """Column name → type of ``relation``, once it is checked to have every ``needed`` column (column → what
        for): a clear error naming them, instead of a binder error deep inside generated SQL."""
        columns = relation_columns(self.connection, relation)
        missing = [f"'{column}' ({purpose})" for column, purpose in needed.items() if column not in columns]
        if missing:
            raise ExecutorExecutionError(
                self.node.id, f"{described_as} has no column {', '.join(missing)}; available: {', '.join(columns)}"
            )
        return columns

    def pre_execute(self) -> None:
        self.connection = self.context.get_duckdb_connection().cursor()
        self.relations = self.input_relations()

    def input_relations(self) -> dict[str, str]:
        """Node id → the relation this node reads it through: a view over each upstream's output."""
        return register_inputs(self.connection, self.node, self.context)

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        return result
