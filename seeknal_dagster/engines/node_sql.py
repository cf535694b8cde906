"""What a node's SQL needs from its engine, DuckDB or Spark, behind one interface.

An executor opens a :class:`NodeSql` for the node it runs: the node's upstream outputs become views, its
statements run, and its result is written to its output, on whichever engine the node runs. The engine-agnostic
parts of an executor (a transform's statement loop, an aggregation's plan, a rule's verdicts) are written once
against this interface; what differs between the engines' SQL dialects (quoting, a few functions and type names)
is asked of it, so generated SQL is correct on each.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seeknal_dagster.engines.outputs import atomic_path
from seeknal_dagster.project.secrets import scrub

if TYPE_CHECKING:
    from seeknal_dagster.executors.context import ExecutionContext
    from seeknal_dagster.project.loader import ProjectNode


class MissingUpstreamOutputError(RuntimeError):
    """An upstream node has never written its output, so this node has nothing to read."""


def require_output(upstream_id: str, path: Path) -> Path:
    """The upstream's output path, or a clear error when it was never materialized."""
    if not path.exists():
        raise MissingUpstreamOutputError(
            f"upstream {upstream_id} has no output at {path}: materialize {upstream_id} first"
        )
    return path


#: Seeknal's aliases of a node's declared inputs, as SQL may name them (DuckDB and Spark ignore identifier case).
_INPUT_ALIAS = re.compile(r"\b(?:input_\d+|__this__)\b", re.IGNORECASE)


def names_input_aliases(statements: list[str]) -> bool:
    """Whether SQL may read ``input_N`` or ``__THIS__`` (a mention in a comment or a string counts too: making the
    aliases when they are not needed only costs time)."""
    return any(_INPUT_ALIAS.search(statement) for statement in statements)


def seeknal_file_type(duckdb_type: str) -> str | None:
    """The type a column of ``duckdb_type`` has in the Parquet files Seeknal writes through pandas, when it is
    another one: dates and second or millisecond timestamps become TIMESTAMP, decimals and 128-bit integers DOUBLE,
    enums VARCHAR."""
    upper = duckdb_type.upper()
    if upper in ("DATE", "TIMESTAMP_S", "TIMESTAMP_MS"):
        return "TIMESTAMP"
    if upper.startswith("DECIMAL") or upper in ("HUGEINT", "UHUGEINT"):
        return "DOUBLE"
    if upper.startswith("ENUM"):
        return "VARCHAR"
    return None


class NodeSql(ABC):
    """One node's use of an engine: views over its inputs, statements, and writing its output atomically."""

    #: ``duckdb`` or ``spark``: shown as the node's engine.
    engine: str
    #: The type a value is cast to to compare it as text (``VARCHAR`` / ``STRING``).
    text_type: str
    #: The type of an instant (a timestamp with time zone).
    instant_type: str
    #: The type of a wall-clock date and time (a timestamp without time zone).
    local_time_type: str
    #: SQL for the current instant.
    now: str

    @abstractmethod
    def register_inputs(self, node: "ProjectNode", context: "ExecutionContext", aliases: bool = True) -> dict[str, str]:
        """A view over every upstream's persisted output and, when ``aliases``, ``input_N`` for the declared inputs
        and ``__THIS__`` for a single one; returns node id → relation."""

    @abstractmethod
    def execute(self, statement: str) -> None:
        """Run a statement whose result is not wanted (DDL, a scratch view)."""

    @abstractmethod
    def fetch(self, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and every row of a (small) result."""

    @abstractmethod
    def columns(self, relation: str) -> dict[str, str]:
        """Column name → type of a relation, in DuckDB's type names whatever the engine (so one set of type rules
        serves both)."""

    @abstractmethod
    def copy_query(self, query: str, path: Path) -> int:
        """Write a query's rows to ``path`` as they come (a temporary path: see :meth:`write_query`); returns the
        number of rows written."""

    def write_query(self, query: str, path: Path) -> int:
        """Write a query's rows to ``path``, atomically; returns the number of rows written."""
        with atomic_path(path) as temporary:
            return self.copy_query(query, temporary)

    @abstractmethod
    def scan(self, path: Path) -> str:
        """A relation over an output (a Parquet file or a directory of part files)."""

    @abstractmethod
    def replace_rows(self, query: str, path: Path, stale_rows: str, order_by: str | None = None) -> int:
        """Rewrite ``path`` with its rows matching the condition ``stale_rows`` replaced by ``query``'s rows,
        atomically; returns the output's rows."""

    # The dialect: usable on the class, before anything is opened (an executor plans its SQL at validation).

    @staticmethod
    @abstractmethod
    def quote_identifier(name: str) -> str: ...

    @staticmethod
    @abstractmethod
    def quote_literal(value: str | Path) -> str: ...

    @staticmethod
    @abstractmethod
    def relation_name(node_id: str) -> str:
        """The (quoted) name a node's output is visible under once :meth:`register_inputs` ran."""

    @staticmethod
    @abstractmethod
    def type_name(duckdb_type: str) -> str:
        """A type named as DuckDB names it, in this engine's spelling (for casts)."""

    @staticmethod
    @abstractmethod
    def days_between(start: str, end: str) -> str:
        """SQL for the whole days from the date ``start`` to the date ``end``."""

    @classmethod
    def sql_literal(cls, value: Any) -> str:
        """A Python scalar as a SQL literal: booleans and numbers bare, anything else a quoted string."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return cls.quote_literal(str(value))

    def as_seeknal_writes_it(self, query: str) -> str:
        """``query`` with each column cast to the type Seeknal's file would hold (see :func:`seeknal_file_type`)."""
        quote = self.quote_identifier
        select = ", ".join(
            f"CAST({quote(name)} AS {self.type_name(retyped)}) AS {quote(name)}"
            if (retyped := seeknal_file_type(kind))
            else quote(name)
            for name, kind in self.columns(f"({query}) AS typed").items()
        )
        return f"SELECT {select} FROM ({query}) AS typed"

    def begin_scratch(self) -> None:
        """From here until :meth:`close`, tables and views the node's statements create are thrown away."""

    def end_scratch(self) -> None:
        """Throw away what the node's statements created, before its output replaces the previous one; raises
        when the statements ended the scratch space some other way."""

    @abstractmethod
    def close(self) -> None:
        """Release what the node took (its views, its scratch tables)."""

    def create_view(self, name: str, query: str) -> None:
        self.execute(f"CREATE OR REPLACE TEMP VIEW {self.quote_identifier(name)} AS {query}")

    def fetch_all(self, query: str) -> list[tuple[Any, ...]]:
        return self.fetch(query)[1]

    def fetch_one(self, query: str) -> tuple[Any, ...] | None:
        rows = self.fetch_all(query)
        return rows[0] if rows else None

    def scalar(self, query: str) -> Any:
        row = self.fetch_one(query)
        return row[0] if row else None

    @staticmethod
    def error_text(error: BaseException) -> str:
        """An engine error as a user reads it: without the JVM stack trace Spark appends, secrets masked."""
        return scrub(str(error).split("\n\nJVM stacktrace:")[0].strip())
