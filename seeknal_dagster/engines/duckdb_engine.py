"""DuckDB plumbing shared by the SQL-running executors.

Every node reads its upstream data from the upstream's persisted Parquet output, through views created just
before its SQL runs, so any subset of nodes gives the same answer in any process. SQL results stream straight
from DuckDB to Parquet (``COPY``), never through pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Container, Iterable, Mapping

from seeknal_dagster.engines.node_sql import NodeSql, require_output
from seeknal_dagster.engines.outputs import atomic_path, parquet_glob
from seeknal_dagster.graph.sql_refs import rewrite_node_references
from seeknal_dagster.project.sql_lexer import is_query, split_statements  # noqa: F401 - where executors import them from

if TYPE_CHECKING:
    import duckdb

    from seeknal_dagster.executors.context import ExecutionContext
    from seeknal_dagster.project.loader import ProjectNode



def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A Python scalar as a SQL literal: booleans and numbers bare, anything else a quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return quote_literal(str(value))


def csv_options(params: Mapping[str, Any]) -> dict[str, str]:
    """The ``read_csv`` options a CSV source's params set, as SQL literals."""
    options = {"delim": params.get("delimiter", params.get("delim")), "header": params.get("header"), "skip": params.get("skip")}
    return {key: sql_literal(value) for key, value in options.items() if value is not None}


def file_reader(source_type: str, path: str | Path, params: Mapping[str, Any], read_as_text: Iterable[str] = ()) -> str:
    """The DuckDB table function reading a ``csv``, ``parquet``, ``json`` or ``jsonl`` source with its params; CSV
    columns in ``read_as_text`` are read as the text they are, for a declared schema to cast (no sniffed type drops
    a leading zero first)."""
    location = quote_literal(path)
    if source_type == "csv":
        options = csv_options(params)
        text_columns = ", ".join(f"{quote_literal(name)}: 'VARCHAR'" for name in read_as_text)
        if text_columns:
            options["types"] = "{" + text_columns + "}"
        rendered = "".join(f", {key} = {value}" for key, value in options.items())
        return f"read_csv({location}, auto_detect = true{rendered})"
    if source_type == "parquet":
        return f"read_parquet({location}, union_by_name = true)"
    json_format = {"newline": "newline_delimited", "array": "array"}.get(str(params.get("format", "auto")), "auto")
    if source_type == "jsonl" and json_format == "auto":
        json_format = "newline_delimited"
    return f"read_json_auto({location}, format = {quote_literal(json_format)})"


def relation_columns(connection: "duckdb.DuckDBPyConnection", relation: str) -> dict[str, str]:
    """Column name → DuckDB type of a table, view or parenthesised query."""
    cursor = connection.execute(f"DESCRIBE SELECT * FROM {relation}")
    return {row[0]: row[1] for row in cursor.fetchall()}


def quote_literal(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def scan_parquet(path: Path) -> str:
    """DuckDB's reader of a node output: a Parquet file, or every part file of a directory Spark wrote."""
    return f"read_parquet({quote_literal(parquet_glob(path))})"


def relation_name(node_id: str) -> str:
    """The schema-qualified view a node's output is visible under: ``"transform"."orders"``."""
    kind, _, name = node_id.partition(".")
    return f"{quote_identifier(kind)}.{quote_identifier(name)}"


@dataclass
class UpstreamViews:
    """The views over node outputs already made on a run's DuckDB database, so a node's output gets its view once
    per run, not once per node reading it (each ``CREATE VIEW`` binds, so reads the Parquet footer, and commits).

    DuckDB binds a view again at every query, so a view over an output written again with other columns reads
    them. A view is remembered with its output's file signature all the same: the reader differs between a file
    and a directory of part files (a Spark node's), so an output replaced by the other kind has its view made
    again. Statements a node runs outside a transaction that is rolled back (a feature group's script) could
    replace any view: after them everything is forgotten (:meth:`forget`)."""

    signatures: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    schemas: set[str] = field(default_factory=set)

    def forget(self) -> None:
        self.signatures.clear()
        self.schemas.clear()


def output_signature(path: Path) -> tuple[int, int, int]:
    """What changes whenever an output is written again: the file (or Spark directory) replacing it is a new inode."""
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, status.st_size


def register_inputs(
    connection: "duckdb.DuckDBPyConnection", node: "ProjectNode", context: "ExecutionContext", aliases: bool = True
) -> dict[str, str]:
    """Make sure a view over every upstream's persisted output exists; returns node id → relation.

    Views are ``kind.name`` (so schema-qualified SQL works), made once per run (see :class:`UpstreamViews`), and,
    when ``aliases``, per cursor as ``input_N`` for the declared inputs (and ``__THIS__`` for a single input),
    matching Seeknal's aliases.
    """
    made = context.duckdb_views
    relations: dict[str, str] = {}
    for upstream_id in node.upstream:
        path = require_output(upstream_id, context.output_path_for(upstream_id))
        relation = relation_name(upstream_id)
        signature = output_signature(path)
        if made.signatures.get(upstream_id) != signature:
            kind, _, _ = upstream_id.partition(".")
            if kind not in made.schemas:
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(kind)}")
                made.schemas.add(kind)
            connection.execute(f"CREATE OR REPLACE VIEW {relation} AS SELECT * FROM {scan_parquet(path)}")
            made.signatures[upstream_id] = signature
        relations[upstream_id] = relation
    if not aliases:
        return relations
    declared = [upstream_id for upstream_id in node.input_upstream_ids() if upstream_id in relations]
    for index, upstream_id in enumerate(declared):
        connection.execute(f"CREATE OR REPLACE TEMP VIEW input_{index} AS SELECT * FROM {relations[upstream_id]}")
    if len(declared) == 1:
        connection.execute(f"CREATE OR REPLACE TEMP VIEW __THIS__ AS SELECT * FROM {relations[declared[0]]}")
    return relations


def rewrite_sql(sql: str, relations: dict[str, str], known_ids: Container[str]) -> str:
    """Point ``ref('kind.name')`` and schema-qualified node names at the registered upstream views."""

    def relation_for(node_id: str) -> str:
        if node_id in relations:
            return relations[node_id]
        by_name = [relation for upstream_id, relation in relations.items() if upstream_id.split(".", 1)[1] == node_id]
        if len(by_name) == 1:
            return by_name[0]
        available = ", ".join(relations) or "none"
        raise ValueError(f"unknown ref('{node_id}'). Available inputs: {available}")

    return rewrite_node_references(sql, relation_for, known_ids)


def write_query(
    connection: "duckdb.DuckDBPyConnection", query: str, path: Path, copy_options: str = "FORMAT parquet"
) -> int:
    """Stream a query's result to ``path`` (Parquet unless ``copy_options`` say otherwise), atomically; returns the
    number of rows written."""
    with atomic_path(path) as temporary:
        return copy_query(connection, query, temporary, copy_options)


def copy_query(
    connection: "duckdb.DuckDBPyConnection", query: str, path: Path, copy_options: str = "FORMAT parquet"
) -> int:
    """Stream a query's result to ``path`` as it is (see :func:`write_query` for an atomic write)."""
    written = connection.execute(f"COPY ({query}) TO {quote_literal(path)} ({copy_options})").fetchone()
    return int(written[0]) if written else 0


def global_settings(connection: "duckdb.DuckDBPyConnection") -> dict[str, str | None]:
    """The database-wide DuckDB settings (name → value), as every new cursor of the database starts with them."""
    cursor = connection.cursor()
    try:
        return dict(cursor.execute("SELECT name, value FROM duckdb_settings() WHERE scope = 'GLOBAL'").fetchall())
    finally:
        cursor.close()


def restore_settings(
    connection: "duckdb.DuckDBPyConnection", before: dict[str, str | None], exact: Mapping[str, str] | None = None
) -> list[str]:
    """Set back every database-wide setting that differs from ``before``; returns their names.

    A setting is reset to its default first: values are shown rounded (``18.7 GiB``), so setting one back from
    its shown value is exact only where the default is not what it was; ``exact`` gives the value as it was set
    (``3000MB``) for the settings that have one."""
    changed = [name for name, value in global_settings(connection).items() if before.get(name, value) != value]
    cursor = connection.cursor()
    try:
        for name in changed:
            if exact and name in exact:
                cursor.execute(f"SET GLOBAL {quote_identifier(name)} = {quote_literal(exact[name])}")
                continue
            cursor.execute(f"RESET GLOBAL {quote_identifier(name)}")
            query = "SELECT value FROM duckdb_settings() WHERE name = ?"
            if cursor.execute(query, [name]).fetchall() != [(before[name],)] and before[name] is not None:
                cursor.execute(f"SET GLOBAL {quote_identifier(name)} = {quote_literal(before[name])}")
    finally:
        cursor.close()
    return sorted(changed)


def replace_rows(
    connection: "duckdb.DuckDBPyConnection", query: str, path: Path, stale_rows: str, order_by: str | None = None
) -> int:
    """Rewrite ``path`` with the rows matching the SQL condition ``stale_rows`` replaced by ``query``'s rows, the
    others kept (atomically, so a partition backfill never leaves a half-replaced file); returns the file's rows."""
    if not path.exists():
        return write_query(connection, query, path)
    kept = f"SELECT * FROM {scan_parquet(path)} WHERE NOT coalesce(({stale_rows}), false)"
    combined = f"SELECT * FROM ({kept} UNION ALL BY NAME SELECT * FROM ({query}))"
    return write_query(connection, f"{combined} ORDER BY {order_by}" if order_by else combined, path)


def describe_parquet(connection: "duckdb.DuckDBPyConnection", path: Path, preview_rows: int = 5) -> dict[str, Any]:
    """Column names and types, and the first rows, of a Parquet file, for metadata."""
    cursor = connection.execute(f"SELECT * FROM {scan_parquet(path)} LIMIT {int(preview_rows)}")
    columns = [(column[0], str(column[1])) for column in cursor.description]
    return {"columns": columns, "rows": cursor.fetchall()}


class DuckDBSql(NodeSql):
    """A node's SQL on a cursor of its own over the run's DuckDB database."""

    engine = "duckdb"
    text_type = "VARCHAR"
    instant_type = "TIMESTAMPTZ"
    local_time_type = "TIMESTAMP"
    now = "now()"

    def __init__(self, cursor: "duckdb.DuckDBPyConnection"):
        self.cursor = cursor
        self.in_scratch_transaction = False
        #: The run's record of views over outputs, once this node's inputs are registered.
        self.views: UpstreamViews | None = None

    def register_inputs(self, node: "ProjectNode", context: "ExecutionContext", aliases: bool = True) -> dict[str, str]:
        self.views = context.duckdb_views
        return register_inputs(self.cursor, node, context, aliases)

    def execute(self, statement: str) -> None:
        self.cursor.execute(statement)
        if not self.in_scratch_transaction and self.views is not None:
            self.views.forget()  # a statement that stays may have replaced a view over an output

    def fetch(self, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = self.cursor.execute(query)
        return [column[0] for column in result.description], result.fetchall()

    def columns(self, relation: str) -> dict[str, str]:
        return relation_columns(self.cursor, relation)

    def copy_query(self, query: str, path: Path) -> int:
        return copy_query(self.cursor, query, path)

    def scan(self, path: Path) -> str:
        return scan_parquet(path)

    def replace_rows(self, query: str, path: Path, stale_rows: str, order_by: str | None = None) -> int:
        return replace_rows(self.cursor, query, path, stale_rows, order_by)

    quote_identifier = staticmethod(quote_identifier)
    quote_literal = staticmethod(quote_literal)
    relation_name = staticmethod(relation_name)

    @staticmethod
    def type_name(duckdb_type: str) -> str:
        return duckdb_type

    @staticmethod
    def days_between(start: str, end: str) -> str:
        return f"date_diff('day', {start}, {end})"

    def begin_scratch(self) -> None:
        """Statements run in a transaction rolled back at :meth:`close`, so a name like ``staging`` never clashes
        with another node's, or with an earlier run's in a persistent ``duckdb_database``."""
        self.cursor.execute("BEGIN TRANSACTION")
        self.in_scratch_transaction = True

    def end_scratch(self) -> None:
        """Roll the node's transaction back; raises if its statements ended it some other way."""
        if self.in_scratch_transaction:
            self.in_scratch_transaction = False
            self.cursor.execute("ROLLBACK")

    def close(self) -> None:
        if self.in_scratch_transaction:
            self.in_scratch_transaction = False
            import duckdb

            try:
                self.cursor.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the node failed already; its cursor is closed next
        self.cursor.close()
