"""What a ``source`` node may say: its type, and where each type reads from.

Whether the file or table is there is left to the run: data often arrives after the project is deployed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterator

from seeknal_dagster.project.sql_lexer import split_statements
from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError, seeknal_only
from seeknal_dagster.project.models import FILE_SOURCE_TYPES, SourceSpec
from seeknal_dagster.project.postgres_reads import refused_calls
from seeknal_dagster.project.templating import ParamUse

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

#: The source types seeknal-dagster reads (``postgres`` is Seeknal's alias of ``postgresql``).
SOURCE_TYPES = (*FILE_SOURCE_TYPES, "sqlite", "postgresql", "iceberg", "hive")
#: Types Seeknal knows (its source executor's list) that seeknal-dagster does not read: such a node loads, with a
#: warning, and fails if it runs.
SEEKNAL_ONLY_TYPES = ("excel", "starrocks", "bigquery", "snowflake", "redshift")
_READ_QUERY = re.compile(r"^\s*\(*\s*(select|with)\b", re.I)
#: How a source uses the params a run value may fill (any other param is the project's to set).
SOURCE_PARAM_USES = {
    "path": ParamUse.PATH,
    "query": ParamUse.SQL,
    **dict.fromkeys(("delimiter", "delim", "header", "skip", "format"), ParamUse.VALUE),
}


def source_params(spec: SourceSpec, scope: CheckScope, rendered: dict[str, Any]) -> dict[str, Any]:
    """Profile ``source_defaults`` for the type, overridden by the node's own (rendered) params."""
    return {**scope.profiles.defaults_for(spec.source_type), **rendered}


def read_only_query(query: str) -> str:
    """A ``params.query``, checked to be one read-only statement (SELECT or WITH)."""
    statements = split_statements(query)
    if len(statements) != 1 or not _READ_QUERY.match(statements[0]):
        raise SettingError(
            "params.query must be a single SELECT or WITH query; DDL/DML is not allowed in a source: "
            + query.strip()[:200],
            "params.query",
        )
    return statements[0]


def postgres_query(query: str) -> str:
    """A PostgreSQL source's ``params.query``: one read-only statement calling nothing that a read-only
    transaction lets change the server (large objects, SQL run from text, dblink…; see
    :mod:`seeknal_dagster.project.postgres_reads`)."""
    statement = read_only_query(query)
    refused = refused_calls(statement)
    if refused:
        raise SettingError(
            "params.query calls what a read-only transaction does not stop: "
            + "; ".join(refused)
            + " (a database role that can only read is the real guarantee)",
            "params.query",
        )
    return statement


def file_location(spec: SourceSpec, params: dict[str, Any]) -> str:
    """The file (or glob, or directory) a file source reads, as written."""
    written = spec.table or params.get("path")
    if not written:
        raise SettingError(f"a {spec.source_type} source needs 'table: <file path>'", "table")
    return str(written)


def sqlite_location(spec: SourceSpec, params: dict[str, Any]) -> tuple[str, str | None]:
    """(database file, table): ``table: data/x.db`` + ``params.table``, or ``params.path`` + ``table`` as the table
    name; the table is ``None`` when ``params.query`` is read instead."""
    if params.get("path"):
        database, table = params["path"], spec.table or params.get("table")
    else:
        database, table = spec.table, params.get("table")
    if not database:
        raise SettingError("a sqlite source needs its database file: 'table: data/x.db' or params.path", "table")
    if params.get("query"):
        return str(database), None
    if not table:
        raise SettingError(
            f"a sqlite source needs params.table (the table to read from {database}) or params.query", "params.table"
        )
    return str(database), str(table)


def postgres_table(spec: SourceSpec, params: dict[str, Any]) -> tuple[str | None, str] | None:
    """(schema, table) of ``table: [schema.]table`` (schema ``None`` when not written), or ``None`` when
    ``params.query`` is read instead."""
    if params.get("query"):
        return None
    parts = str(spec.table or "").split(".")
    if not spec.table or len(parts) > 2 or not all(parts):
        raise SettingError(
            f"a postgresql source needs 'table: [schema.]table' or params.query (got {spec.table!r})", "table"
        )
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def hive_table(spec: SourceSpec) -> str:
    if not spec.table:
        raise SettingError("a hive source needs 'table: <database>.<table>'", "table")
    return spec.table


def check_source(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    spec: SourceSpec = node.spec  # type: ignore[assignment]
    kind = spec.source_type
    if kind in SEEKNAL_ONLY_TYPES:
        yield seeknal_only("reads", f"'{spec.source}' sources", SOURCE_TYPES, "source")
        return
    if kind not in SOURCE_TYPES:
        raise SettingError(
            f"unknown source type '{spec.source}' (supported: {', '.join(SOURCE_TYPES)}; postgres is an alias of "
            "postgresql)",
            "source",
        )
    params = source_params(spec, scope, scope.params(node, SOURCE_PARAM_USES))
    if kind in FILE_SOURCE_TYPES:
        file_location(spec, params)
    elif kind == "sqlite":
        sqlite_location(spec, params)
    elif kind == "postgresql":
        postgres_table(spec, params)
        if params.get("connection") and scope.connection_problem(params["connection"]):
            yield Finding(str(scope.connection_problem(params["connection"])), "params.connection")
    elif kind == "hive":
        hive_table(spec)
    if params.get("query") and kind != "hive" and kind not in FILE_SOURCE_TYPES:
        (postgres_query if kind == "postgresql" else read_only_query)(str(params["query"]))
