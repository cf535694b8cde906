"""File deliveries: a query's rows written as CSV, Parquet, JSON or JSON lines, replaced atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from seeknal_dagster.engines.duckdb_engine import write_query

if TYPE_CHECKING:
    import duckdb

#: Format (one of :data:`~seeknal_dagster.project.checks.exposure.FILE_FORMATS`) → DuckDB ``COPY`` options.
#: ``json`` is one JSON array of records, ``jsonl`` one record per line.
COPY_OPTIONS = {
    "csv": "FORMAT csv, HEADER true",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "json": "FORMAT json, ARRAY true",
    "jsonl": "FORMAT json",
}


def write_file(connection: "duckdb.DuckDBPyConnection", query: str, path: Path, fmt: str) -> int:
    """Write ``query``'s rows to ``path`` in ``fmt``; a reader of ``path`` sees the old file or the new one, never a
    partial one. Returns the number of rows written."""
    return write_query(connection, query, path, COPY_OPTIONS[fmt])
