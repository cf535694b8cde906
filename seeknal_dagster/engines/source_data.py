"""Checks on the data a source reads, so a bad file fails by name instead of becoming a wrong table.

- An empty file (0 bytes, or only blank lines) is refused: DuckDB would read it as a table with an invented column.
- A CSV file whose rows do not all have the same number of fields is refused, naming the line DuckDB stops at: its
  sniffer would otherwise make the rows agree by skipping leading lines (silently dropping rows) or by reading
  every line as one text column. Leading lines the sniffer wants to skip must be declared (``params.skip``).
- A declared schema (``columns:`` on the source) is enforced: every column named must be in the data, and a column
  whose value is a type name (``int``, ``DOUBLE``, ``DECIMAL(10,2)``, ``date``…) is cast strictly: a value that
  does not fit (text in a number column, ``1.5`` in an integer column, ``2025-13-01`` in a date column) fails the
  source, naming the column and the value. Other values (``order_id: "Order key"``) document the column. Columns
  not named are kept, as Seeknal keeps them (its ``columns:`` is documentation only).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable, Mapping

import duckdb

from seeknal_dagster.engines.duckdb_engine import quote_identifier, quote_literal, relation_columns
from seeknal_dagster.featurestore.definition import type_family

#: How many bytes of a file are looked at to tell an empty file (only blank lines) from a real one.
BLANK_PROBE_BYTES = 4096
#: Delimiters looked for in a header line the sniffer read as one column.
DELIMITER_CANDIDATES = (",", "\t", ";", "|")
#: Type names as Seeknal's documentation writes them that DuckDB reads otherwise (``float`` is Python's double).
TYPE_ALIASES = {"float": "DOUBLE"}
#: Characters of an offending value quoted in an error.
VALUE_EXCERPT = 80


class SourceDataError(ValueError):
    """The data a source reads is not what it must be; the message names the file, line or column."""


def empty_files(files: Iterable[Path]) -> list[Path]:
    """The files holding nothing but blank lines."""
    empty = []
    for path in files:
        size = path.stat().st_size
        if size == 0 or (size <= BLANK_PROBE_BYTES and not path.read_bytes().strip()):
            empty.append(path)
    return empty


def check_csv_dialect(connection: duckdb.DuckDBPyConnection, path: Path, options: Mapping[str, Any], shown: str) -> None:
    """Raise :class:`SourceDataError` when DuckDB's sniffer reads ``path`` only by dropping leading lines the user
    did not declare, or only as one column though its header line has delimiters: signs of rows with different
    numbers of fields. The error quotes the line a strict read with the intended dialect stops at."""
    rendered = "".join(f", {key} = {value}" for key, value in options.items())
    [[delimiter, skipped, has_header, columns]] = connection.execute(
        f"SELECT Delimiter, SkipRows, HasHeader, Columns FROM sniff_csv({quote_literal(path)}{rendered})"
    ).fetchall()
    declared_skip = int(options.get("skip", 0))
    header_line = _line(path, declared_skip)
    header = options.get("header", has_header)
    if skipped > declared_skip:
        why = (
            f"DuckDB would skip its first {skipped - declared_skip} line(s) to read it; if they are not data, set "
            f"params.skip: {skipped}"
        )
        located = _strict_read_error(connection, path, delimiter, declared_skip, header, header_line)
    elif len(columns) == 1 and "delim" not in options and any(char in header_line for char in DELIMITER_CANDIDATES):
        intended = next(char for char in DELIMITER_CANDIDATES if char in header_line)
        why = f"DuckDB could read it only as one column, though its line {declared_skip + 1} holds {intended!r}"
        located = _strict_read_error(connection, path, intended, declared_skip, header, header_line)
        if located is None:  # one column after all (its values quote the delimiter)
            return
    else:
        return
    raise SourceDataError(
        f"{shown} does not have the same number of fields on every line: "
        + (located or why)
        + ("" if located is None else f" ({why})")
    )


def _line(path: Path, index: int) -> str:
    with path.open(newline="", errors="replace") as handle:
        for number, line in enumerate(handle):
            if number == index:
                return line.rstrip("\r\n")
    return ""


def _strict_read_error(
    connection: duckdb.DuckDBPyConnection, path: Path, delimiter: str, skip: int, header: Any, header_line: str
) -> str | None:
    """DuckDB's own account ("CSV Error on Line: N …") of where a strict read with this dialect fails."""
    fields = next(csv.reader(io.StringIO(header_line), delimiter=delimiter), [])
    names = fields if str(header).lower() == "true" else [f"column{index}" for index in range(len(fields))]
    columns = "{" + ", ".join(f"{quote_literal(name)}: 'VARCHAR'" for name in names) + "}"
    try:
        connection.execute(
            f"SELECT count(*) FROM read_csv({quote_literal(path)}, auto_detect = false, delim = {quote_literal(delimiter)}, "
            f"header = {str(header).lower() == 'true'}, skip = {skip}, columns = {columns}, strict_mode = true)"
        ).fetchall()
    except duckdb.Error as error:
        wanted = [
            line[line.index(marker) :].strip()
            for line in str(error).splitlines()
            for marker in ("CSV Error on Line", "Original Line", "Expected Number")
            if marker in line
        ]
        return "; ".join(wanted) or None
    return None


def declared_schema(columns: Mapping[str, Any] | list[Any] | None) -> dict[str, str | None]:
    """A source's ``columns:`` as column → DuckDB type, or ``None`` for a column only named or described.

    Accepted: ``{name: type}``, ``{name: "description"}``, ``{name: {type|data_type: …, description: …}}``,
    ``[name, …]`` and ``[{name: …, type|data_type: …}, …]``.
    """
    if not columns:
        return {}
    if isinstance(columns, list):
        items = [
            (item.get("name"), item.get("type") or item.get("data_type")) if isinstance(item, Mapping) else (item, None)
            for item in columns
        ]
    else:
        items = [
            (name, (value.get("type") or value.get("data_type")) if isinstance(value, Mapping) else value)
            for name, value in columns.items()
        ]
    return {str(name): duckdb_type(value) for name, value in items if name is not None}


def duckdb_type(value: Any) -> str | None:
    """The DuckDB type a declared value names, or ``None`` when it is not a type name (a description)."""
    if not isinstance(value, str) or not value.strip():
        return None
    name = TYPE_ALIASES.get(value.strip().lower(), value.strip())
    try:
        return str(duckdb.sqltype(name))
    except (duckdb.Error, ValueError, TypeError, RuntimeError):
        return None


def shaped_select(connection: duckdb.DuckDBPyConnection, relation: str, declared: Mapping[str, str | None], shown: str) -> str:
    """``SELECT`` of ``relation`` with the declared schema enforced (see the module docstring)."""
    if not declared:
        return f"SELECT * FROM {relation}"
    actual = list(relation_columns(connection, relation))
    by_name = {name.lower(): name for name in actual}
    missing = [name for name in declared if name.lower() not in by_name]
    if missing:
        raise SourceDataError(
            f"{shown} has no column {', '.join(repr(name) for name in missing)} of the source's declared columns; "
            f"it has {', '.join(actual)}"
        )
    types = {by_name[name.lower()]: kind for name, kind in declared.items() if kind}
    select = [strict_cast(name, types[name]) if name in types else quote_identifier(name) for name in actual]
    return f"SELECT {', '.join(select)} FROM {relation}"


def strict_cast(column: str, type_name: str) -> str:
    """``column`` cast to ``type_name``, failing (DuckDB's ``error()``) on the first value that does not fit: one
    DuckDB cannot convert, or an exact number (integer, decimal) it would have to round."""
    value = quote_identifier(column)
    cast = f"TRY_CAST({value} AS {type_name})"
    fits = f"{cast} IS NOT NULL"
    if type_family(type_name) == "int" or type_name.upper().startswith("DECIMAL"):
        as_double = f"TRY_CAST({value} AS DOUBLE)"
        fits += f" AND ({as_double} IS NULL OR {as_double} = CAST({cast} AS DOUBLE))"
    message = quote_literal(f"column '{column}' holds a value that is not a valid {type_name}: ")
    return (
        f"CASE WHEN {value} IS NULL THEN NULL WHEN {fits} THEN {cast} "
        f"ELSE error({message} || left(CAST({value} AS VARCHAR), {VALUE_EXCERPT})) END AS {value}"
    )


def duckdb_reason(error: duckdb.Error) -> str:
    """The part of a DuckDB error that says what is wrong with the data, on one line: without the pointer into
    generated SQL the user never wrote, the list of possible fixes, or the dump of reader options."""
    text = str(error).split("\n\nLINE ")[0].split("\n\n")[0].split("\nPossible fixes")[0]
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
