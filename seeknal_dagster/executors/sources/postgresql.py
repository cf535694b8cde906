"""PostgreSQL tables and queries, read through ``psycopg`` in READ ONLY transactions.

Rows come through a server-side cursor in batches, typed from the result's column types before the first row;
no message ever shows the password, whatever the driver put in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import quote_identifier
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.sources.arrow import ArrowColumn, arrow_batches
from seeknal_dagster.executors.sources.reader import SourceReader
from seeknal_dagster.project.checks.source import postgres_query, postgres_table
from seeknal_dagster.project.profiles import POSTGRES_CONNECT_KEYS, postgres_connect_kwargs, resolve_settings
from seeknal_dagster.project.secrets import scrub

if TYPE_CHECKING:
    import psycopg

_POSTGRES_DEFAULTS = {"host": "localhost", "port": 5432, "sslmode": "prefer", "connect_timeout": 10}
_POSTGRES_TYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "bytea": pa.binary(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "char": pa.string(),
}


def postgres_column(name: str, type_name: str | None, precision: int | None, scale: int | None) -> ArrowColumn:
    """The Arrow column for a PostgreSQL result column; types without an Arrow twin (uuid, json, arrays,
    intervals, enums…) become text."""
    if type_name == "numeric":
        if precision and precision <= 38:
            return ArrowColumn(name, pa.decimal128(precision, scale or 0))
        return ArrowColumn(name, pa.float64(), float)
    if type_name in _POSTGRES_TYPES:
        return ArrowColumn(name, _POSTGRES_TYPES[type_name])
    if type_name in ("json", "jsonb"):
        return ArrowColumn(name, pa.string(), json.dumps)
    return ArrowColumn(name, pa.string(), str)


def type_name(connection: "psycopg.Connection[Any]", oid: int) -> str | None:
    """The PostgreSQL name of a type oid (``None`` for types the connection does not know, such as enums)."""
    info = connection.adapters.types.get(oid)
    return info.name if info is not None else None


def postgres_server(settings: dict[str, Any]) -> str:
    """``user@host:port/database``: which server a message is about, without the password."""
    user = settings.get("user") or settings.get("username") or ""
    database = settings.get("database") or settings.get("dbname") or ""
    return f"{user}@{settings['host']}:{settings['port']}/{database}"


class PostgresReader(SourceReader):
    """``source: postgresql``: a table (``schema.table``) or ``params.query``, on a named profile connection
    and/or inline connection params."""

    def settings(self) -> dict[str, Any]:
        """The named profile connection (placeholders resolved now, at connect time) overridden by inline params."""
        settings: dict[str, Any] = dict(_POSTGRES_DEFAULTS)
        name = self.params.get("connection")
        if name:
            try:
                settings.update(self.context.profiles.connection(str(name)))
            except KeyError as error:
                raise ExecutorValidationError(self.node_id, str(error.args[0])) from None
        inline = {key: value for key, value in self.params.items() if key in POSTGRES_CONNECT_KEYS or key == "schema"}
        settings.update(resolve_settings(inline))
        return settings

    def plan(self) -> tuple[dict[str, Any], str, str]:
        """(connection settings, query, what is read): the ``table`` (``schema.table``, default schema
        ``public``) or ``params.query``."""
        settings = self.settings()
        location = postgres_table(self.spec, self.params)
        if location is None:
            return settings, postgres_query(str(self.params["query"])), "query"
        schema, table = location[0] or str(settings.get("schema") or "public"), location[1]
        return settings, f"SELECT * FROM {quote_identifier(schema)}.{quote_identifier(table)}", f"{schema}.{table}"

    def connection(self, settings: dict[str, Any]) -> "psycopg.Connection[Any]":
        """A connection whose transactions are all READ ONLY; a failure to connect never shows the password."""
        import psycopg

        try:
            # Strings lexed as the query check lexed them: a backslash never ends a quoted string early.
            connection = psycopg.connect(
                **postgres_connect_kwargs(settings),
                application_name="seeknal-dagster",
                options="-c standard_conforming_strings=on",
            )
        except psycopg.Error as error:
            summary = f"could not connect to PostgreSQL {postgres_server(settings)}"
            raise self.error(summary, error) from None
        connection.read_only = True
        return connection

    def read(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        import psycopg

        settings, query, location = self.plan()
        server = postgres_server(settings)
        connection = self.connection(settings)
        try:
            with connection.cursor(name="seeknal_source") as cursor:
                cursor.execute(query)
                columns = [
                    postgres_column(
                        column.name, type_name(connection, column.type_code), column.precision, column.scale
                    )
                    for column in cursor.description or []
                ]
                row_count = self.write_batches(columns, arrow_batches(cursor, columns), output_path)
        except (psycopg.Error, ValueError) as error:
            raise self.error(f"PostgreSQL read of {location} from {server} failed", error) from None
        finally:
            connection.close()
        details: dict[str, Any] = {"location": location, "server": server}
        if self.params.get("connection"):
            details["connection"] = str(self.params["connection"])
        if location == "query":
            details["sql"] = query
        return row_count, details

    def error(self, summary: str, error: Exception) -> ExecutorExecutionError:
        """An execution error whose message never contains the password, whatever the driver put in it."""
        return ExecutorExecutionError(self.node_id, scrub(f"{summary}: {str(error).strip()}"))
