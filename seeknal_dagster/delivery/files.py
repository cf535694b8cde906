"""File deliveries: a query's rows written as CSV, Parquet, JSON or JSON lines, replaced atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from seeknal_dagster.engines.duckdb_engine import write_query

if TYPE_CHECKING:
    import duckdb

#: Format → DuckDB ``COPY`` options. ``json`` is one JSON array of records, ``jsonl`` one record per line.
FILE_FORMATS = {
    "csv": "FORMAT csv, HEADER true",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "json": "FORMAT json, ARRAY true",
    "jsonl": "FORMAT json",
}
FORMAT_ALIASES = {"ndjson": "jsonl"}


def file_format(declared: str | None, path: Path) -> str | None:
    """The format a file exposure writes: declared, else from the file's suffix, else CSV (Seeknal's default);
    ``None`` when the declared format is unknown."""
    if declared:
        name = str(declared).lower().strip()
        name = FORMAT_ALIASES.get(name, name)
        return name if name in FILE_FORMATS else None
    suffix = path.suffix.lower().lstrip(".")
    suffix = FORMAT_ALIASES.get(suffix, suffix)
    return suffix if suffix in FILE_FORMATS else "csv"


def write_file(connection: "duckdb.DuckDBPyConnection", query: str, path: Path, fmt: str) -> int:
    """Write ``query``'s rows to ``path`` in ``fmt``; a reader of ``path`` sees the old file or the new one, never a
    partial one. Returns the number of rows written."""
    return write_query(connection, query, path, FILE_FORMATS[fmt])
