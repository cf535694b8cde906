"""Turning an executor's plain results into the metadata Dagster shows and plots.

Executors report plain data (numbers, text, paths, mappings, and the :class:`Table` and :class:`Link` records of the executor
contract; ``sql`` is always the SQL a node ran); this module alone decides how each appears in the UI, and scrubs
registered secrets (:mod:`seeknal_dagster.project.secrets`) from every text in it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from seeknal_dagster.engines.duckdb_engine import describe_parquet
from seeknal_dagster.executors.base import Link, Table
from seeknal_dagster.project.secrets import scrub

if TYPE_CHECKING:
    import duckdb

    from seeknal_dagster.executors.base import ExecutorResult

PREVIEW_ROWS = 5
#: Significant digits a float keeps in a table shown in the UI (the data itself is not rounded).
DISPLAY_DIGITS = 6


def _display_value(value: Any) -> str | int | float | bool | None:
    """A cell as a table record holds it: numbers and booleans as themselves (floats rounded for reading),
    anything else as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if not math.isfinite(value) else float(f"{value:.{DISPLAY_DIGITS}g}")
    return str(value)


def table_value(table: Table, types: Mapping[str, str] | None = None) -> MetadataValue:
    """A table of rows as Dagster's table metadata (rendered as a table, never as markdown)."""
    types = types or {}
    schema = TableSchema(columns=[TableColumn(name=column, type=types.get(column, "string")) for column in table.columns])
    records = [
        TableRecord({column: _display_value(value) for column, value in zip(table.columns, row)}) for row in table.rows
    ]
    return MetadataValue.table(records=records, schema=schema)


def sql_value(sql: str) -> MetadataValue:
    return MetadataValue.md(f"```sql\n{sql.strip()}\n```")


def _metadata_value(value: Any) -> Any:
    if isinstance(value, MetadataValue):
        return value
    if isinstance(value, Table):
        return table_value(value)
    if isinstance(value, Link):
        return MetadataValue.url(value.url)
    if isinstance(value, bool) or value is None:
        return MetadataValue.text(str(value)) if value is None else MetadataValue.bool(value)
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, Path):
        return MetadataValue.path(str(value))
    return MetadataValue.json(json.loads(json.dumps(value, default=str)))


def scrubbed(value: Any) -> Any:
    """Reported plain data with registered secrets scrubbed from every text in it."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Table):
        return Table(value.columns, tuple(tuple(scrubbed(cell) for cell in row) for row in value.rows))
    if isinstance(value, Link):
        return Link(scrub(value.url))
    if isinstance(value, Mapping):
        return {key: scrubbed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrubbed(item) for item in value]
    return value


def metadata_entries(reported: Mapping[str, Any], namespace: str = "seeknal/") -> Iterator[tuple[str, Any]]:
    """(key, metadata value) for what an executor reported, scrubbed: keys without a namespace get ``namespace``,
    and a mapping of tables (failing rows per check) becomes one table entry each."""
    for key, value in scrubbed(reported).items():
        name = key if "/" in key else f"{namespace}{key}"
        if key == "sql" and isinstance(value, str):
            yield name, sql_value(value)
        elif isinstance(value, Mapping) and value and all(isinstance(item, Table) for item in value.values()):
            for part, table in value.items():
                yield f"{name}/{part}", table_value(table)
        else:
            yield name, _metadata_value(value)


def materialization_metadata(
    result: "ExecutorResult",
    connection: "duckdb.DuckDBPyConnection",
    descriptions: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Row count, column schema (with the ``descriptions`` the YAML declares, as the asset's page showed them at
    load), a preview, timing, engine, the SQL, and whatever the executor reported."""
    metadata: dict[str, Any] = {
        "dagster/row_count": result.row_count,
        "seeknal/duration_s": round(result.duration_seconds, 4),
    }
    if result.output_path is not None and Path(result.output_path).exists():
        output = Path(result.output_path)
        metadata["seeknal/output_path"] = MetadataValue.path(str(output))
        if output.suffix == ".parquet":
            described = describe_parquet(connection, output, PREVIEW_ROWS)
            described_as = descriptions or {}
            metadata["dagster/column_schema"] = TableSchema(
                columns=[
                    TableColumn(name=name, type=type_name, description=described_as.get(name))
                    for name, type_name in described["columns"]
                ]
            )
            preview = Table.of([name for name, _ in described["columns"]], described["rows"])
            metadata["seeknal/preview"] = table_value(scrubbed(preview), dict(described["columns"]))
    metadata.update(metadata_entries(result.metadata))
    return metadata
