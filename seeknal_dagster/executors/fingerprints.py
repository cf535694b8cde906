"""Data versions of what source nodes read, computed without reading the data into the pipeline.

A source node's output depends on data outside the project: files, a SQLite database, a PostgreSQL table. Its
fingerprint is a short version string that changes when that data changes, so Dagster can mark the node stale and
the sensor can re-run it. Files are hashed when small (touching or re-copying a file does not count as new data)
and described by size and modification time when large (hashing gigabytes on every sensor tick would cost more
than the run it saves). PostgreSQL tables are summarised by one cheap query: the row count, and the latest value of
``freshness.time_column`` when the node declares one. An Iceberg table is known by its current snapshot, which
every commit replaces: reading the table's metadata costs no data file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seeknal_dagster.engines.duckdb_engine import quote_identifier
from seeknal_dagster.engines.outputs import file_fingerprint
from seeknal_dagster.executors.context import ExecutionContext
from seeknal_dagster.executors.errors import ExecutorExecutionError
from seeknal_dagster.executors.registry import get_executor

if TYPE_CHECKING:
    from seeknal_dagster.executors.source import SourceExecutor
    from seeknal_dagster.executors.sources.iceberg import IcebergReader
    from seeknal_dagster.executors.sources.postgresql import PostgresReader
    from seeknal_dagster.executors.sources.reader import SourceReader
    from seeknal_dagster.executors.sources.sqlite import SqliteReader
    from seeknal_dagster.project.loader import SeeknalProject

#: Files up to this size are fingerprinted by content; larger ones by size and modification time.
SMALL_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SourceFingerprint:
    """The data version of one source node, with a description of what was looked at (for metadata)."""

    node_id: str
    version: str
    details: dict[str, Any] = field(default_factory=dict)


def _digest(parts: Any) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def _file_state(path: Path) -> str:
    """What identifies a file's data: its content when small, its size and modification time when large."""
    stat = path.stat()
    if stat.st_size <= SMALL_FILE_BYTES:
        return f"content:{file_fingerprint(path)}"
    return f"stat:{stat.st_size}:{stat.st_mtime_ns}"


def _files_fingerprint(reader: "SourceReader", files: list[Path]) -> SourceFingerprint:
    stats = [path.stat() for path in files]
    details: dict[str, Any] = {"files": len(files), "bytes": sum(stat.st_size for stat in stats)}
    if stats:
        latest = max(stat.st_mtime for stat in stats)
        details["modified"] = datetime.fromtimestamp(latest, tz=timezone.utc).isoformat(timespec="seconds")
    version = _digest([[reader.shown_path(path), _file_state(path)] for path in files])
    return SourceFingerprint(reader.node_id, version, details)


def _sqlite_files(reader: "SqliteReader") -> list[Path]:
    """The database file, plus its write-ahead log: in WAL mode recent commits live only there."""
    database, _ = reader.plan()
    wal = database.with_name(database.name + "-wal")
    return [database, wal] if wal.is_file() else [database]


def _postgres_fingerprint(reader: "PostgresReader") -> SourceFingerprint:
    """Row count and ``max(freshness.time_column)`` of the table or query, in one read-only query."""
    import psycopg

    settings, query, location = reader.plan()
    time_column = (reader.spec.freshness or {}).get("time_column")
    latest = f"max({quote_identifier(str(time_column))})" if time_column else "NULL"
    summary = f"SELECT count(*), {latest} FROM ({query}) AS seeknal_source"
    with reader.connection(settings) as connection:
        try:
            rows, newest = connection.execute(summary).fetchone()  # type: ignore[misc]
        except psycopg.Error as error:
            raise ExecutorExecutionError(
                reader.node_id, f"could not fingerprint PostgreSQL {location}: {str(error).strip()}"
            ) from None
    details: dict[str, Any] = {"location": location, "rows": rows}
    if time_column:
        details[f"max_{time_column}"] = str(newest)
    return SourceFingerprint(reader.node_id, _digest([rows, newest]), details)


def _iceberg_fingerprint(reader: "IcebergReader") -> SourceFingerprint:
    """The table's identity and current snapshot: a new commit is new data, reading it again is not."""
    from seeknal_dagster.engines.iceberg import IcebergError, snapshot_state  # what only Iceberg sources import

    name, settings, _ = reader.plan()
    try:
        state = snapshot_state(settings.open(must_exist=True).load(name))
    except IcebergError as error:
        raise ExecutorExecutionError(reader.node_id, str(error)) from None
    details = {"location": str(name), "catalog": settings.shown, "snapshot_id": str(state["snapshot_id"])}
    if state["rows"] is not None:
        details["rows"] = state["rows"]
    return SourceFingerprint(reader.node_id, _digest([state["table_uuid"], state["snapshot_id"]]), details)


def fingerprint_source(project: "SeeknalProject", node_id: str) -> SourceFingerprint:
    """The current data version of a source node's external data.

    Raises :class:`ExecutorValidationError` when the data cannot be located (a missing file, a bad table name),
    and :class:`ExecutorExecutionError` when a database cannot be queried, both naming the node.
    """
    # The readers load with the source executor, when a source is fingerprinted, not when the definitions load.
    from seeknal_dagster.executors.sources.files import FileReader, files_matching
    from seeknal_dagster.executors.sources.iceberg import IcebergReader
    from seeknal_dagster.executors.sources.postgresql import PostgresReader
    from seeknal_dagster.executors.sources.sqlite import SqliteReader

    node = project.nodes[node_id]
    if node.has_data_fingerprint:
        executor: SourceExecutor = get_executor(node, ExecutionContext.for_project(project))  # type: ignore[assignment]
        reader = executor.reader
        if isinstance(reader, FileReader):
            return _files_fingerprint(reader, files_matching(reader.pattern()))
        if isinstance(reader, SqliteReader):
            return _files_fingerprint(reader, _sqlite_files(reader))
        if isinstance(reader, IcebergReader):
            return _iceberg_fingerprint(reader)
        if isinstance(reader, PostgresReader):
            return _postgres_fingerprint(reader)
    raise ExecutorExecutionError(node_id, f"{node_id} is not a source whose data can be fingerprinted")
