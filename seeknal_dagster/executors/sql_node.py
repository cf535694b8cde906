"""What every SQL-running executor shares: its engine's SQL with its inputs registered, and templating.

A node runs on DuckDB or on Spark (``engine: spark``; see :meth:`SeeknalProject.engine_of`), through the same
:class:`~seeknal_dagster.engines.node_sql.NodeSql` interface. On DuckDB each node gets a fresh cursor on the run's
database, so ``input_N`` aliases and temporary tables of one node can never leak into another (Seeknal's
late-bound alias bug); on Spark the views a node created are dropped when it ends, to the same effect.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping

from seeknal_dagster.engines.duckdb_engine import DuckDBSql, rewrite_sql
from seeknal_dagster.executors.base import BaseExecutor, ExecutorResult
from seeknal_dagster.executors.context import EngineNotConfiguredError
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.project.templating import TemplateError

if TYPE_CHECKING:
    import duckdb

    from seeknal_dagster.engines.node_sql import NodeSql


class SqlNodeExecutor(BaseExecutor):
    """Base for executors whose node reads its upstream outputs through SQL, on DuckDB or Spark."""

    #: The node's SQL on its engine, open between ``pre_execute`` and ``post_execute``.
    sql: "NodeSql | None" = None
    #: The DuckDB cursor under ``sql`` when the node runs on DuckDB.
    connection: "duckdb.DuckDBPyConnection | None" = None
    relations: dict[str, str]

    @cached_property
    def engine(self) -> str:
        """``duckdb`` or ``spark``."""
        return self.context.engine_for(self.node)

    @cached_property
    def dialect(self) -> "type[NodeSql]":
        """The engine's SQL dialect (quoting, functions), known before anything is opened."""
        if self.engine == "spark":
            from seeknal_dagster.engines.spark_engine import SparkSql

            return SparkSql
        return DuckDBSql

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
        columns = self.sql.columns(relation)
        missing = [f"'{column}' ({purpose})" for column, purpose in needed.items() if column not in columns]
        if missing:
            raise ExecutorExecutionError(
                self.node.id, f"{described_as} has no column {', '.join(missing)}; available: {', '.join(columns)}"
            )
        return columns

    def open_sql(self) -> "NodeSql":
        """The node's SQL on its engine: a fresh DuckDB cursor, or the run's Spark session."""
        if self.engine == "spark":
            from seeknal_dagster.engines.spark_engine import SparkSql

            try:
                return SparkSql(self.context.get_spark_session())
            except EngineNotConfiguredError as error:
                raise ExecutorValidationError(self.node.id, f"engine: spark: {error}") from None
        self.connection = self.context.get_duckdb_connection().cursor()
        return DuckDBSql(self.connection)

    def pre_execute(self) -> None:
        self.sql = self.open_sql()
        self.relations = self.sql.register_inputs(self.node, self.context)

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        if self.sql is not None:
            self.sql.close()
            self.sql = None
            self.connection = None
        return result
