"""Database rows to Arrow record batches, under a schema fixed before the first row is read.

The SQLite and PostgreSQL readers stream through these: a large table never sits in Python lists, and a zero-row
result keeps its columns and types.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import duckdb
import pyarrow as pa

from seeknal_dagster.engines.source_data import duckdb_reason

#: Rows fetched from a database per Arrow record batch.
BATCH_ROWS = 10_000


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


def arrow_schema(columns: list[ArrowColumn]) -> pa.Schema:
    return pa.schema([pa.field(column.name, column.type) for column in columns])


def arrow_batches(cursor: Any, columns: list[ArrowColumn]) -> Iterator[pa.RecordBatch]:
    """Record batches of ``BATCH_ROWS`` rows from a DB-API cursor whose query is already executed."""
    schema = arrow_schema(columns)
    while rows := cursor.fetchmany(BATCH_ROWS):
        values = list(zip(*rows))
        yield pa.record_batch([column.array(values[index]) for index, column in enumerate(columns)], schema=schema)


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
