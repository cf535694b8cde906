"""Data contracts: what an exposure promises its consumers, checked before anything is delivered.

``contract: {columns: {name: type}, min_rows: N}``. Types are compared by family (any integer type satisfies
``integer``, ``string`` and ``varchar`` are the same), because a consumer cares whether a value is a number, not
whether DuckDB chose INTEGER or BIGINT for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from seeknal_dagster.featurestore.definition import type_family
from seeknal_dagster.engines.duckdb_engine import relation_columns


class ContractError(ValueError):
    """The contract itself cannot be read."""


@dataclass(frozen=True)
class Contract:
    #: Column → declared type (``None``: the column must exist, any type).
    columns: dict[str, str | None] = field(default_factory=dict)
    min_rows: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> "Contract":
        if not isinstance(raw, dict):
            raise ContractError("contract must be a mapping: {columns: {name: type}, min_rows: N}")
        unknown = set(raw) - {"columns", "min_rows"}
        if unknown:
            raise ContractError(f"unknown contract field(s) {', '.join(sorted(unknown))} (known: columns, min_rows)")
        columns = raw.get("columns") or {}
        if isinstance(columns, list):
            columns = dict.fromkeys(map(str, columns))
        if not isinstance(columns, dict):
            raise ContractError("contract.columns must map column names to types, or list column names")
        for name, declared in columns.items():
            if declared is not None:
                declared_family(str(declared), str(name))
        min_rows = raw.get("min_rows")
        if min_rows is not None and (isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0):
            raise ContractError(f"contract.min_rows must be a whole number >= 0 (got {min_rows!r})")
        return cls({str(name): None if declared is None else str(declared) for name, declared in columns.items()}, min_rows)

    def differences(self, connection: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
        """What the data behind ``relation`` does differently from the contract (empty when it holds)."""
        actual = relation_columns(connection, relation)
        found: list[str] = []
        for name, declared in self.columns.items():
            if name not in actual:
                found.append(f"column '{name}' is missing")
            elif declared is not None and declared_family(declared, name) != type_family(actual[name]):
                found.append(f"column '{name}' is {actual[name]}, the contract says {declared}")
        if self.min_rows is not None:
            rows = connection.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
            if rows < self.min_rows:
                found.append(f"{rows} row(s), the contract requires at least {self.min_rows}")
        return found


def declared_family(declared: str, column: str) -> str:
    """The type family of a type name as users write it (``int``, ``string``, ``DECIMAL(10,2)``, ``datetime``…)."""
    try:
        return type_family(str(duckdb.sqltype(declared)))
    except (duckdb.Error, ValueError, TypeError):
        raise ContractError(f"contract column '{column}' has an unknown type '{declared}'") from None
