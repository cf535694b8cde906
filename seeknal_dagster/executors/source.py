"""``source``: read external data (files, SQLite, PostgreSQL, Iceberg, Hive) into the node's Parquet output.

Every reader works offline: files through DuckDB's built-in readers, databases through Python drivers (stdlib
``sqlite3``, ``psycopg``), Iceberg tables through pyiceberg, Hive through the configured Spark catalog, never
through DuckDB extensions downloaded at run time. Database rows are streamed in batches into Arrow under a schema
fixed before the first row is read (from the database's column types), so a large table never sits in Python
lists and a zero-row result keeps its columns.
"""

from __future__ import annotations

import glob
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import duckdb
import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import (
    csv_options,
    file_reader,
    quote_identifier,
    relation_columns,
    write_query,
)
from seeknal_dagster.engines.iceberg import (
    CatalogSettings,
    IcebergError,
    TableName,
    query_columns,
    shown_params,
    snapshot_state,
)
from seeknal_dagster.engines.source_data import (
    SourceDataError,
    check_csv_dialect,
    declared_schema,
    duckdb_reason,
    empty_files,
    shaped_select,
)
from seeknal_dagster.executors.base import BaseExecutor, ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.context import EngineNotConfiguredError
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.project.checks.source import (
    SOURCE_PARAM_USES,
    file_location,
    hive_table,
    postgres_query,
    postgres_table,
    read_only_query,
    source_params,
    sqlite_location,
)
from seeknal_dagster.project.models import FILE_SOURCE_TYPES, NodeKind, SourceSpec
from seeknal_dagster.project.profiles import POSTGRES_CONNECT_KEYS, postgres_connect_kwargs, resolve_settings
from seeknal_dagster.project.secrets import redact, scrub
from seeknal_dagster.project.templating import TemplateError

if TYPE_CHECKING:
    import psycopg

#: Source params that say where an Iceberg catalog is (Seeknal's ``catalog_uri`` and ``warehouse``, plus ours).
ICEBERG_CATALOG_PARAMS = ("catalog_uri", "catalog_type", "warehouse", "bearer_token", "properties")
#: Rows fetched from a database per Arrow record batch.
BATCH_ROWS = 10_000
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


@dataclass(frozen=True)
class ArrowColumn:
    """One result column: its Arrow type, and how a driver's non-null values become values of that type."""

    name: str
    type: pa.DataType
    convert: Callable[[Any], Any] | None = None

    def array(self, values: tuple[Any, ...]) -> pa.Array:
        try:
            if self.convert is not None:
                values = tuple(None if value is None else self.convert(value) for value in values)
            return pa.array(values, type=self.type)
        except (ValueError, TypeError, pa.ArrowException) as error:
            raise ValueError(f"column '{self.name}' cannot be read as {self.type}: {error}") from error


@contextmanager
def surfacing_stream_errors(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatchReader]:
    """A reader over ``batches`` for DuckDB to consume; an error raised while producing them is re-raised as
    itself, not as DuckDB's wrapper around it."""
    failures: list[Exception] = []

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except Exception as error:
            failures.append(error)
            raise

    try:
        yield pa.RecordBatchReader.from_batches(schema, guarded())
    except duckdb.Error as error:
        if failures:
            raise failures[0] from None
        raise ValueError(duckdb_reason(error)) from error


def arrow_batches(cursor: Any, columns: list[ArrowColumn]) -> Iterator[pa.RecordBatch]:
    """Record batches of ``BATCH_ROWS`` rows from a DB-API cursor whose query is already executed."""
    schema = pa.schema([pa.field(column.name, column.type) for column in columns])
    while rows := cursor.fetchmany(BATCH_ROWS):
        values = list(zip(*rows))
        yield pa.record_batch([column.array(values[index]) for index, column in enumerate(columns)], schema=schema)


def sqlite_column(name: str, declared: str, stored: set[str]) -> ArrowColumn:
    """The Arrow column for a SQLite column, from its declared type and the storage classes its values use.

    SQLite types values, not columns. The declared type decides where the values agree with it or there are none
    (so a zero-row table keeps its types); an INTEGER column that also holds text becomes text. Text in a DATE or
    DATETIME column must be ISO 8601, as DuckDB's own SQLite reader requires.
    """
    declared = declared.upper()
    stored = stored - {"null", ""}
    if len(stored) > 1 and stored & {"text", "blob"}:
        if "blob" in stored:
            raise ValueError(f"column '{name}' mixes blob and {', '.join(sorted(stored - {'blob'}))} values")
        return ArrowColumn(name, pa.string(), str)
    if stored <= {"text"}:
        if "DATETIME" in declared or "TIMESTAMP" in declared:
            return ArrowColumn(name, pa.timestamp("us"), datetime.fromisoformat)
        if "DATE" in declared:
            return ArrowColumn(name, pa.date32(), date.fromisoformat)
        if stored or any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
            return ArrowColumn(name, pa.string())
    if stored <= {"blob"} and (stored or "BLOB" in declared):
        return ArrowColumn(name, pa.binary())
    numeric = any(word in declared for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"))
    if stored <= {"integer"} and "BOOL" in declared:
        return ArrowColumn(name, pa.bool_(), bool)
    if stored <= {"integer"} and ("INT" in declared or (stored and not numeric)):
        return ArrowColumn(name, pa.int64())
    if stored <= {"integer", "real"} and (stored or numeric):
        return ArrowColumn(name, pa.float64(), float)
    return ArrowColumn(name, pa.string(), str)


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


@register_executor(NodeKind.SOURCE)
class SourceExecutor(BaseExecutor):
    @property
    def spec(self) -> SourceSpec:
        return self.node.spec  # type: ignore[return-value]

    @property
    def source_type(self) -> str:
        return self.spec.source_type

    @cached_property
    def params(self) -> dict[str, Any]:
        """Profile ``source_defaults`` for the type, overridden by the node's own (rendered) params."""
        try:
            inline = self.context.renderer.render_params(self.spec.params, SOURCE_PARAM_USES)
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error
        return source_params(self.spec, self.check_scope(), inline)

    @property
    def shown_params(self) -> dict[str, Any]:
        """The params as metadata shows them: rendered, ``{{ env… }}`` values as their expression (secret-named
        keys are masked by :func:`redact`)."""
        return source_params(self.spec, self.check_scope(), self.context.renderer.display_params(self.spec.params))

    def validate(self) -> None:
        super().validate()
        planners: dict[str, Callable[[], Any]] = {
            **dict.fromkeys(FILE_SOURCE_TYPES, self.file_relation),
            "sqlite": self.sqlite_plan,
            "postgresql": self.postgres_plan,
            "iceberg": self.iceberg_plan,
            "hive": self.hive_table,
        }
        if self.source_type not in planners:  # a type only Seeknal reads: it loaded with a warning, and cannot run
            raise ExecutorValidationError(self.node.id, f"seeknal-dagster does not read '{self.spec.source}' sources")
        planners[self.source_type]()

    def execute(self) -> ExecutorResult:
        readers: dict[str, Callable[[Path], tuple[int, dict[str, Any]]]] = {
            **dict.fromkeys(FILE_SOURCE_TYPES, self._read_file),
            "sqlite": self._read_sqlite,
            "postgresql": self._read_postgresql,
            "iceberg": self._read_iceberg,
            "hive": self._read_hive,
        }
        output_path = self.context.get_output_path(self.node)
        row_count, details = readers[self.source_type](output_path)
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=row_count,
            output_path=output_path,
            metadata={
                "engine": "spark" if self.source_type == "hive" else "duckdb",
                "source_type": self.source_type,
                "params": redact(self.shown_params),
                **details,
            },
        )

    def shown_path(self, path: Path) -> str:
        """A path as the user wrote it: relative to the project root when it is inside it."""
        try:
            return str(path.relative_to(self.context.workspace_path))
        except ValueError:
            return str(path)

    # Files: csv, parquet, json, jsonl ---------------------------------------------------------------------

    def file_path(self) -> Path:
        """The file (or glob) to read, relative to the project root; a directory means every file of the type in it."""
        path = self.readable(file_location(self.spec, self.params))
        if path.is_dir():
            path = path / "**" / f"*.{self.source_type}"
        matches = glob.glob(str(path), recursive=True)
        if not matches:
            raise ExecutorValidationError(
                self.node.id,
                f"{self.source_type} source file not found: {self.shown_path(path)} "
                f"(paths are relative to the project root {self.context.workspace_path})",
            )
        for match in matches:  # a symlink met by the glob is followed before it is read
            self.readable(match)
        return path

    def readable(self, written: str) -> Path:
        """``written`` resolved, once the project's path policy lets this source read it."""
        path = self.context.path_policy.resolve(written)
        problem = self.context.path_policy.read_problem(path)
        if problem:
            raise ExecutorValidationError(self.node.id, problem)
        return path

    def file_relation(self, read_as_text: Iterable[str] = ()) -> str:
        """The DuckDB table function reading the file source with its params (see :func:`file_reader`)."""
        return file_reader(self.source_type, self.file_path(), self.params, read_as_text)

    def _read_file(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        """Read the file(s) after the checks of :mod:`seeknal_dagster.engines.source_data`: no empty file, CSV rows
        of one width, the declared schema."""
        pattern = self.file_path()
        location = self.shown_path(pattern)
        files = sorted(Path(match) for match in glob.glob(str(pattern), recursive=True) if Path(match).is_file())
        empty = empty_files(files) if self.source_type != "parquet" else []
        if empty:
            raise ExecutorExecutionError(
                self.node.id,
                f"{self.source_type} file {self.shown_path(empty[0])} is empty: there is nothing to read, not even "
                "a header line",
            )
        declared = declared_schema(self.spec.columns)
        cursor = self.context.get_duckdb_connection().cursor()
        try:
            if self.source_type == "csv" and files:
                check_csv_dialect(cursor, files[0], csv_options(self.params), self.shown_path(files[0]))
            relation = self.file_relation()
            if self.source_type == "csv" and any(declared.values()):
                present = {name.lower(): name for name in relation_columns(cursor, relation)}
                typed = [present[name.lower()] for name, kind in declared.items() if kind and name.lower() in present]
                relation = self.file_relation(read_as_text=typed)
            row_count = write_query(cursor, shaped_select(cursor, relation, declared, location), output_path)
        except SourceDataError as error:
            raise ExecutorExecutionError(self.node.id, f"{self.source_type} file {error}") from None
        except duckdb.Error as error:
            message = f"could not read {self.source_type} file {location}: {duckdb_reason(error)}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error
        finally:
            cursor.close()
        return row_count, {"location": location}

    def shaped(self, cursor: duckdb.DuckDBPyConnection, relation: str) -> str:
        """The query writing ``relation`` (rows read from a database or table) with the declared ``columns:``
        enforced; see :mod:`seeknal_dagster.engines.source_data`."""
        return shaped_select(cursor, relation, declared_schema(self.spec.columns), "the data")

    def _write_arrow(self, data: pa.Table | pa.RecordBatchReader, output_path: Path) -> int:
        """Write Arrow data (a table, or a stream read once) to the node's Parquet output, atomically."""
        cursor = self.context.get_duckdb_connection().cursor()
        try:
            cursor.register("source_rows", data)
            return write_query(cursor, self.shaped(cursor, "source_rows"), output_path)
        finally:
            cursor.close()

    def _write_batches(self, columns: list[ArrowColumn], batches: Iterator[pa.RecordBatch], output_path: Path) -> int:
        """Stream batches to the output (see :func:`surfacing_stream_errors`)."""
        schema = pa.schema([pa.field(column.name, column.type) for column in columns])
        with surfacing_stream_errors(schema, batches) as reader:
            return self._write_arrow(reader, output_path)

    # SQLite ------------------------------------------------------------------------------------------------

    def sqlite_plan(self) -> tuple[Path, str]:
        """(database file, query): ``table: data/x.db`` + ``params.table``, or ``params.path`` + ``table`` as
        the table name; ``params.query`` replaces the table."""
        database_path, table = sqlite_location(self.spec, self.params)
        database = self.readable(database_path)
        if not database.is_file():
            raise ExecutorValidationError(
                self.node.id,
                f"sqlite database not found: {self.shown_path(database)} "
                f"(paths are relative to the project root {self.context.workspace_path})",
            )
        if table is None:
            return database, read_only_query(str(self.params["query"]))
        return database, f"SELECT * FROM {quote_identifier(table)}"

    def _read_sqlite(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        database, query = self.sqlite_plan()
        location = self.shown_path(database)
        try:
            # DuckDB pulls the batches on a thread of its own; only one thread ever uses the connection at a time.
            connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, check_same_thread=False)
            try:
                columns = self._sqlite_columns(connection, query)
                cursor = connection.execute("SELECT * FROM temp.seeknal_source")
                row_count = self._write_batches(columns, arrow_batches(cursor, columns), output_path)
            finally:
                connection.close()
        except (sqlite3.Error, ValueError) as error:
            message = f"could not read sqlite {location}: {error}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error
        details: dict[str, Any] = {"location": location}
        if self.params.get("query"):
            details["sql"] = query
        return row_count, details

    @staticmethod
    def _sqlite_columns(connection: sqlite3.Connection, query: str) -> list[ArrowColumn]:
        """Columns of the query, typed from a temporary view over it: declared types, plus one pass collecting
        the storage classes each column actually holds."""
        connection.execute(f"CREATE TEMP VIEW seeknal_source AS {query}")
        declared = [(row[1], row[2] or "") for row in connection.execute("PRAGMA temp.table_info(seeknal_source)")]
        storage_classes = ", ".join(f"group_concat(DISTINCT typeof({quote_identifier(name)}))" for name, _ in declared)
        stored = connection.execute(f"SELECT {storage_classes} FROM temp.seeknal_source").fetchone()
        return [
            sqlite_column(name, declared_type, set((classes or "").split(",")))
            for (name, declared_type), classes in zip(declared, stored)
        ]

    # PostgreSQL --------------------------------------------------------------------------------------------

    def postgres_settings(self) -> dict[str, Any]:
        """The named profile connection (placeholders resolved now, at connect time) overridden by inline params."""
        settings: dict[str, Any] = dict(_POSTGRES_DEFAULTS)
        name = self.params.get("connection")
        if name:
            try:
                settings.update(self.context.profiles.connection(str(name)))
            except KeyError as error:
                raise ExecutorValidationError(self.node.id, str(error.args[0])) from None
        inline = {key: value for key, value in self.params.items() if key in POSTGRES_CONNECT_KEYS or key == "schema"}
        settings.update(resolve_settings(inline))
        return settings

    def postgres_plan(self) -> tuple[dict[str, Any], str, str]:
        """(connection settings, query, what is read): the ``table`` (``schema.table``, default schema
        ``public``) or ``params.query``."""
        settings = self.postgres_settings()
        location = postgres_table(self.spec, self.params)
        if location is None:
            return settings, postgres_query(str(self.params["query"])), "query"
        schema, table = location[0] or str(settings.get("schema") or "public"), location[1]
        return settings, f"SELECT * FROM {quote_identifier(schema)}.{quote_identifier(table)}", f"{schema}.{table}"

    @staticmethod
    def postgres_server(settings: dict[str, Any]) -> str:
        """``user@host:port/database``: which server a message is about, without the password."""
        user = settings.get("user") or settings.get("username") or ""
        database = settings.get("database") or settings.get("dbname") or ""
        return f"{user}@{settings['host']}:{settings['port']}/{database}"

    def postgres_connection(self, settings: dict[str, Any]) -> "psycopg.Connection[Any]":
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
            summary = f"could not connect to PostgreSQL {self.postgres_server(settings)}"
            raise self._postgres_error(summary, error) from None
        connection.read_only = True
        return connection

    def _read_postgresql(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        import psycopg

        settings, query, location = self.postgres_plan()
        server = self.postgres_server(settings)
        connection = self.postgres_connection(settings)
        try:
            with connection.cursor(name="seeknal_source") as cursor:
                cursor.execute(query)
                columns = [
                    postgres_column(
                        column.name, type_name(connection, column.type_code), column.precision, column.scale
                    )
                    for column in cursor.description or []
                ]
                row_count = self._write_batches(columns, arrow_batches(cursor, columns), output_path)
        except (psycopg.Error, ValueError) as error:
            raise self._postgres_error(f"PostgreSQL read of {location} from {server} failed", error) from None
        finally:
            connection.close()
        details: dict[str, Any] = {"location": location, "server": server}
        if self.params.get("connection"):
            details["connection"] = str(self.params["connection"])
        if location == "query":
            details["sql"] = query
        return row_count, details

    def _postgres_error(self, summary: str, error: Exception) -> ExecutorExecutionError:
        """An execution error whose message never contains the password, whatever the driver put in it."""
        return ExecutorExecutionError(self.node.id, scrub(f"{summary}: {str(error).strip()}"))

    # Iceberg -----------------------------------------------------------------------------------------------

    def iceberg_plan(self) -> tuple[TableName, CatalogSettings, str | None]:
        """(table, catalog, ``params.query`` or ``None``). The table is ``catalog.namespace.table`` as Seeknal
        requires, even with a query (which names it); the catalog comes from profiles.yml's
        ``materialization.catalog``, overridden by the params (``source_defaults.iceberg``, then the node's)."""
        if not self.spec.table:
            raise ExecutorValidationError(
                self.node.id, "an iceberg source needs 'table: catalog.namespace.table', even with params.query"
            )
        try:
            name = TableName.parse(self.spec.table, require_catalog=True)
            inline = {key: self.params[key] for key in ICEBERG_CATALOG_PARAMS if key in self.params}
            settings = CatalogSettings.from_config(
                str(name.catalog), [self.context.profiles.iceberg_catalog, inline], self.context.workspace_path
            )
        except (ValueError, IcebergError) as error:
            raise ExecutorValidationError(self.node.id, str(error)) from None
        query = read_only_query(str(self.params["query"])) if self.params.get("query") else None
        return name, settings, query

    def _read_iceberg(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        """Stream the table's current snapshot into the output, only the columns ``params.query`` can use; the
        query runs in DuckDB over that stream, with the table under its own name (``catalog.namespace.table``,
        or ``namespace.table`` / ``table`` for short)."""
        name, settings, query = self.iceberg_plan()
        cursor = self.context.get_duckdb_connection().cursor()
        [[home]] = cursor.execute("SELECT current_database()").fetchall()
        attached = False
        try:
            catalog = settings.open(must_exist=True)
            table = catalog.load(name)
            state = snapshot_state(table)
            columns = [column.name for column in table.schema().fields]
            read = query_columns(cursor, query, columns) if query else None
            reader = catalog.scan(table, name, read)
            with surfacing_stream_errors(reader.schema, iter(reader)) as stream:
                cursor.register("source_rows", stream)
                if query is None:
                    row_count = write_query(cursor, self.shaped(cursor, "source_rows"), output_path)
                else:
                    alias, namespace = quote_identifier(str(name.catalog)), quote_identifier(name.namespace)
                    cursor.execute(f"ATTACH ':memory:' AS {alias}")
                    attached = True
                    cursor.execute(f"CREATE SCHEMA {alias}.{namespace}")
                    view = f"{alias}.{namespace}.{quote_identifier(name.table)}"
                    cursor.execute(f"CREATE VIEW {view} AS SELECT * FROM source_rows")
                    cursor.execute(f"USE {alias}.{namespace}")
                    row_count = write_query(cursor, self.shaped(cursor, f"({query})"), output_path)
        except IcebergError as error:
            raise ExecutorExecutionError(self.node.id, str(error)) from None
        except Exception as error:
            reason = str(error).split("\n\nLINE ")[0].strip() or type(error).__name__
            message = f"could not read Iceberg table {name} ({settings.shown}): {reason}"
            raise ExecutorExecutionError(self.node.id, scrub(message)) from None
        finally:
            if attached:
                cursor.execute(f"USE {quote_identifier(home)}")
                cursor.execute(f"DETACH {quote_identifier(str(name.catalog))}")
            cursor.close()
        details: dict[str, Any] = {
            "location": str(name),
            "catalog": settings.shown,
            "snapshot_id": str(state["snapshot_id"] or "none (the table was never written)"),
            "params": redact(shown_params(self.shown_params, settings)),
        }
        if query:
            details["sql"] = query
        if read is not None:
            details["columns_read"] = read
        return row_count, details

    # Hive --------------------------------------------------------------------------------------------------

    def hive_table(self) -> str:
        return hive_table(self.spec)

    def _read_hive(self, output_path: Path) -> tuple[int, dict[str, Any]]:
        table = self.hive_table()
        try:
            session = self.context.get_spark_session()
        except EngineNotConfiguredError as error:
            raise ExecutorValidationError(self.node.id, f"cannot read hive table {table}: {error}") from None
        from pyspark.errors import PySparkException

        from seeknal_dagster.engines.spark_engine import write_frame

        try:
            # Written by the cluster's executors straight to the target layout: the table never reaches this process.
            row_count = write_frame(session.table(table), output_path)
        except PySparkException as error:
            summary = str(error).strip().splitlines()[0]
            message = f"could not read hive table {table}: {summary}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error
        return row_count, {"location": table}
