"""Spark plumbing for nodes with ``engine: spark`` and for Hive sources.

The session is whatever the deployment configured (dagster-pyspark's resource from ``spark_config``): Spark
Connect (``spark.remote``: no JVM in this process) or classic (``spark.master``). A Spark node reads its upstream
outputs from the shared target layout, Parquet files DuckDB wrote or directories Spark wrote, as temporary
views, and writes its own output as a directory of part files at its usual path, into a hidden temporary
directory first, then swapped in (:func:`~seeknal_dagster.engines.outputs.atomic_path`). The data never passes
through this process: executors on the cluster read and write the files, so the target directory must be one
filesystem that this process and every executor see at the same path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seeknal_dagster.engines.node_sql import NodeSql, require_output
from seeknal_dagster.engines.outputs import atomic_path, parquet_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from seeknal_dagster.executors.context import ExecutionContext
    from seeknal_dagster.project.loader import ProjectNode

#: Spark's simple type names → DuckDB's, so type rules (feature dtypes, profile categories) serve both engines.
_DUCKDB_TYPES = {
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}
#: DuckDB type names that Spark spells differently, for casts in generated SQL.
_SPARK_TYPES = {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ", "TIMESTAMPTZ": "TIMESTAMP", "BLOB": "BINARY"}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def quote_literal(value: str | Path) -> str:
    """A Spark SQL string literal. Spark reads backslash escapes and joins adjacent literals (``'a''b'`` is
    ``ab``), so quotes and backslashes are escaped with backslashes."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def duckdb_type(spark_type: str) -> str:
    """A Spark type name (``bigint``, ``decimal(10,2)``, ``array<int>``) in DuckDB's spelling where there is one."""
    decimal = _DECIMAL.match(spark_type)
    if decimal:
        return f"DECIMAL({decimal.group(1)},{decimal.group(2)})"
    return _DUCKDB_TYPES.get(spark_type, spark_type.upper())


def view_name(node_id: str) -> str:
    """The temporary view a node's output is visible under in Spark SQL (``transform.orders`` → ``transform__orders``:
    a temporary view cannot live in a schema of its own)."""
    kind, _, name = node_id.partition(".")
    return f"{kind}__{name}"


def output_rows(path: Path) -> int:
    """Rows of an output, from its Parquet footers (nothing is scanned)."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(part).num_rows for part in parquet_files(path))


def write_frame(frame: "DataFrame", path: Path) -> int:
    """Write a DataFrame as the directory of part files at ``path``, atomically; returns its rows."""
    with atomic_path(path) as temporary:
        frame.write.mode("overwrite").parquet(str(temporary))
    return output_rows(path)


def is_connect(session: Any) -> bool:
    """Whether a session talks to a Spark Connect server (rather than a JVM in this process)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


class SparkSql(NodeSql):
    """A node's SQL in a Spark session of its own, split from the run's session (a server-side clone under Spark
    Connect, ``newSession()`` in classic Spark): same configuration and cluster, but its ``input_0`` and scratch
    views never leak into the next node, and nothing needs dropping. (Spark has no transaction to roll back: a
    persistent ``CREATE TABLE`` in a node's SQL does stay in the catalog.)"""

    engine = "spark"
    text_type = "STRING"
    instant_type = "TIMESTAMP"
    local_time_type = "TIMESTAMP_NTZ"
    now = "current_timestamp()"

    def __init__(self, session: "SparkSession"):
        self.connect = is_connect(session)
        if self.connect:
            session.version  # noqa: B018 - the server creates a session on its first request; a clone needs one
            self.session = session.cloneSession()
        else:
            self.session = session.newSession()

    def view_output(self, name: str, path: Path) -> str:
        """A temporary view over an output (file or directory); returns the quoted view name. Names are quoted
        (node names may hold ``-``) and the path is a literal: neither can change the statement."""
        quoted = quote_identifier(name)
        self.execute(f"CREATE OR REPLACE TEMPORARY VIEW {quoted} USING parquet OPTIONS (path {quote_literal(path)})")
        return quoted

    def register_inputs(self, node: "ProjectNode", context: "ExecutionContext", aliases: bool = True) -> dict[str, str]:
        relations: dict[str, str] = {}
        for upstream_id in node.upstream:
            path = require_output(upstream_id, context.output_path_for(upstream_id))
            relations[upstream_id] = self.view_output(view_name(upstream_id), path)
        if not aliases:
            return relations
        declared = [upstream_id for upstream_id in node.input_upstream_ids() if upstream_id in relations]
        for index, upstream_id in enumerate(declared):
            self.create_view(f"input_{index}", f"SELECT * FROM {relations[upstream_id]}")
        if len(declared) == 1:
            self.create_view("__THIS__", f"SELECT * FROM {relations[declared[0]]}")
        return relations

    def execute(self, statement: str) -> None:
        self.session.sql(statement)

    def fetch(self, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        frame = self.session.sql(query)
        return list(frame.columns), [tuple(row) for row in frame.collect()]

    def columns(self, relation: str) -> dict[str, str]:
        schema = self.session.sql(f"SELECT * FROM {relation}").schema
        return {field.name: duckdb_type(field.dataType.simpleString()) for field in schema.fields}

    def copy_query(self, query: str, path: Path) -> int:
        self.session.sql(query).write.mode("overwrite").parquet(str(path))
        return output_rows(path)

    def scan(self, path: Path) -> str:
        return f"parquet.{quote_identifier(str(path))}"

    def replace_rows(self, query: str, path: Path, stale_rows: str, order_by: str | None = None) -> int:
        if not path.exists():
            return self.write_query(query, path)
        self.view_output("__seeknal_previous", path)
        kept = f"SELECT * FROM __seeknal_previous WHERE NOT coalesce(({stale_rows}), false)"
        self.session.sql(kept).unionByName(self.session.sql(query)).createOrReplaceTempView("__seeknal_combined")
        ordered = f" ORDER BY {order_by}" if order_by else ""
        # The previous output is read while the new one is written beside it, and deleted only after the swap.
        return self.write_query(f"SELECT * FROM __seeknal_combined{ordered}", path)

    quote_identifier = staticmethod(quote_identifier)
    quote_literal = staticmethod(quote_literal)

    @staticmethod
    def relation_name(node_id: str) -> str:
        return quote_identifier(view_name(node_id))

    @staticmethod
    def type_name(duckdb_type: str) -> str:
        return _SPARK_TYPES.get(duckdb_type, duckdb_type)

    @staticmethod
    def days_between(start: str, end: str) -> str:
        return f"datediff({end}, {start})"

    def close(self) -> None:
        if self.connect:
            self.session.stop()  # releases the cloned server-side session and its views
