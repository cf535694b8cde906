"""Turning an executor's result into the metadata Dagster shows and plots for a materialization."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    JsonMetadataValue,
    MarkdownMetadataValue,
    MetadataValue,
    TableColumn,
    TableSchema,
    TextMetadataValue,
    UrlMetadataValue,
)

from seeknal_dagster.engines.duckdb_engine import describe_parquet
from seeknal_dagster.project.secrets import scrub

if TYPE_CHECKING:
    import duckdb

    from seeknal_dagster.executors.base import ExecutorResult

PREVIEW_ROWS = 5
_RESERVED = {"sql", "engine"}


def markdown_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:80]

    lines = ["| " + " | ".join(cell(column) for column in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _metadata_value(value: Any) -> Any:
    if isinstance(value, MetadataValue):
        return value
    if isinstance(value, bool) or value is None:
        return MetadataValue.text(str(value)) if value is None else MetadataValue.bool(value)
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, Path):
        return MetadataValue.path(str(value))
    return MetadataValue.json(json.loads(json.dumps(value, default=str)))


def materialization_metadata(result: "ExecutorResult", connection: "duckdb.DuckDBPyConnection") -> dict[str, Any]:
    """Row count, column schema, a preview, timing, engine, the SQL, and whatever the executor reported, with
    registered secrets scrubbed from every text."""
    metadata: dict[str, Any] = {
        "dagster/row_count": result.row_count,
        "seeknal/duration_s": round(result.duration_seconds, 4),
    }
    if result.metadata.get("engine"):
        metadata["seeknal/engine"] = str(result.metadata["engine"])
    if result.metadata.get("sql"):
        metadata["seeknal/sql"] = MetadataValue.md(f"```sql\n{result.metadata['sql']}\n```")
    if result.output_path is not None and Path(result.output_path).exists():
        output = Path(result.output_path)
        metadata["seeknal/output_path"] = MetadataValue.path(str(output))
        if output.suffix == ".parquet":
            described = describe_parquet(connection, output, PREVIEW_ROWS)
            metadata["dagster/column_schema"] = TableSchema(
                columns=[TableColumn(name=name, type=type_name) for name, type_name in described["columns"]]
            )
            metadata["seeknal/preview"] = MetadataValue.md(
                markdown_table([name for name, _ in described["columns"]], described["rows"])
            )
    for key, value in result.metadata.items():
        if key not in _RESERVED:
            metadata[key if "/" in key else f"seeknal/{key}"] = _metadata_value(value)
    return scrubbed_metadata(metadata)


def scrubbed_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` with registered secrets (see :mod:`seeknal_dagster.project.secrets`) scrubbed from its texts."""
    return {key: _scrubbed(value) for key, value in metadata.items()}


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, MarkdownMetadataValue):
        return MetadataValue.md(scrub(value.value))
    if isinstance(value, TextMetadataValue):
        return MetadataValue.text(scrub(value.value))
    if isinstance(value, UrlMetadataValue):
        return MetadataValue.url(scrub(value.value))
    if isinstance(value, JsonMetadataValue):
        return MetadataValue.json(_scrubbed_json(value.value))
    return value


def _scrubbed_json(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(key)): _scrubbed_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed_json(item) for item in value]
    return value
