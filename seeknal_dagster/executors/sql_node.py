"""What every SQL-running executor shares: its engine's SQL with its inputs registered, and templating.

A node runs on DuckDB or on Spark (``engine: spark``; see :meth:`SeeknalProject.engine_of`), through the same
:class:`~seeknal_dagster.engines.node_sql.NodeSql` interface. On DuckDB each node gets a fresh cursor on the run's
database, so ``input_N`` aliases and temporary tables of one node can never leak into another (Seeknal's
late-bound alias bug); on Spark each node runs in a session of its own, to the same effect.

A script of the node's own (a transform, a feature group's SQL) may not run statements that reach beyond the node
(``COMMIT``, ``ATTACH``, ``LOAD``, ``ADD JAR``…, see :mod:`seeknal_dagster.project.sql_lexer`), on either engine.
DuckDB settings it changes database-wide (``SET GLOBAL threads``, ``SET memory_limit``) are set back once it is
done, so every node starts from the same settings; a Spark node's ``SET`` stays in its own session.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping

import duckdb

from seeknal_dagster.engines.duckdb_engine import DuckDBSql, global_settings, restore_settings, rewrite_sql, split_statements
from seeknal_dagster.executors.base import BaseExecutor, ExecutorResult
from seeknal_dagster.executors.context import EngineNotConfiguredError
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.project.checks.transform import query_statements
from seeknal_dagster.project.secrets import scrub
from seeknal_dagster.project.sql_lexer import statements
from seeknal_dagster.project.templating import SqlText, TemplateError

if TYPE_CHECKING:
    from seeknal_dagster.engines.node_sql import NodeSql


@dataclass(frozen=True)
class Script:
    """A node's statements: what runs, what is shown (``{{ env… }}`` unrendered), and whether any may change a
    DuckDB setting."""

    statements: list[str]
    shown: list[str]
    changes_settings: bool = False


class SqlNodeExecutor(BaseExecutor):
    """Base for executors whose node reads its upstream outputs through SQL, on DuckDB or Spark."""

    #: The node's SQL on its engine, open between ``pre_execute`` and ``post_execute``.
    sql: "NodeSql | None" = None
    #: The DuckDB cursor under ``sql`` when the node runs on DuckDB.
    connection: "duckdb.DuckDBPyConnection | None" = None
    relations: dict[str, str]
    #: The database-wide settings before this node's statements ran, when they may change them.
    settings_before: dict[str, str | None] | None = None

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

    def render_sql(self, sql: str, fragment: bool = False) -> SqlText:
        """``{{ }}`` rendered with the node's params, refs pointed at the upstream views: the SQL to run and the
        SQL to show. ``fragment``: an expression or query that generated SQL wraps, holding no ``;``."""
        try:
            rendered = self.context.render_sql(sql, self.node.spec.params, fragment, self.dialect.engine)
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error
        known = self.context.project.nodes if self.context.project else self.node.upstream
        # Before the inputs are registered (a script is rendered once, at validation): the names they will have,
        # ``kind.name`` as written on DuckDB, the quoted view name on Spark.
        relations = getattr(self, "relations", None) or {
            upstream_id: self.dialect.relation_name(upstream_id) if self.engine == "spark" else upstream_id
            for upstream_id in self.node.upstream
        }
        try:
            return SqlText(rewrite_sql(rendered.sql, relations, known), rewrite_sql(rendered.display, relations, known))
        except ValueError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error

    def render_script(self, sql: str, what: str) -> Script:
        """The node's statements (``what`` names them in messages), checked before any runs: the last one is the
        query giving the output, and none reaches beyond the node (see :func:`query_statements`)."""
        rendered = self.render_sql(sql)
        parsed = statements(rendered.sql)
        shown = split_statements(rendered.display)
        if len(shown) != len(parsed):  # an environment value holding a ';' (pathological): show it scrubbed
            shown = [scrub(statement.text) for statement in parsed]
        return Script(
            query_statements(rendered.sql, what, "transform", shown),
            shown,
            any(statement.changes_settings for statement in parsed),
        )

    def keep_settings(self, script: Script) -> None:
        """Remember the database-wide DuckDB settings before running ``script``, if it may change them (a Spark
        node's settings stay in its own session)."""
        if script.changes_settings and self.engine == "duckdb" and self.connection is not None:
            self.settings_before = global_settings(self.connection)

    def restore_settings(self) -> None:
        """Set back the database-wide settings this node's statements changed."""
        before, self.settings_before = self.settings_before, None
        if before is None or self.connection is None:
            return
        try:
            changed = restore_settings(self.connection, before, self.context.duckdb_settings)
        except duckdb.Error as error:
            raise ExecutorExecutionError(
                self.node.id, f"could not set back the DuckDB settings its statements changed: {error}", cause=error
            ) from error
        if changed:
            self.context.log.info(f"{self.node.id}: DuckDB setting(s) {', '.join(changed)} set back after the node")

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
        self.relations = self.input_relations()

    def input_relations(self) -> dict[str, str]:
        """Node id → the relation this node reads it through: a view over each upstream's output."""
        return self.sql.register_inputs(self.node, self.context, aliases=self.reads_input_aliases())

    def reads_input_aliases(self) -> bool:
        """Whether the node's SQL may read its inputs as ``input_N`` / ``__THIS__`` (each alias is a view to make on
        every node's cursor); executors that know all their SQL up front say when it does not."""
        return True

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        try:
            self.restore_settings()
        finally:
            if self.sql is not None:
                self.sql.close()
                self.sql = None
                self.connection = None
        return result
