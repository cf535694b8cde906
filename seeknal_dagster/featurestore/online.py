"""The online store: the latest feature values per entity key, for low-latency lookups.

Two backends: an embedded SQLite file (default ``target/feature_store/online.db``) and a PostgreSQL database named
by a profiles.yml connection. A feature group's table is replaced as a whole, in one transaction, so a reader sees
either the old values or the new ones, never a mix. In PostgreSQL the table itself stays (its contents are
replaced, its columns follow the feature group's), so grants to a serving role, indexes and comments survive; the
database exposure's ``replace`` mode uses the same :meth:`PostgresOnlineStore.replace`.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import pyarrow as pa

from seeknal_dagster.engines.duckdb_engine import quote_identifier
from seeknal_dagster.featurestore.definition import type_family
from seeknal_dagster.featurestore.offline import FEATURE_STORE_DIR
from seeknal_dagster.project.profiles import postgres_connect_kwargs

if TYPE_CHECKING:
    from seeknal_dagster.featurestore.definition import FeatureGroupDefinition
    from seeknal_dagster.project.profiles import Profiles

DEFAULT_SQLITE_FILE = "online.db"
#: profiles.yml connection keys psycopg knows under another name; other unknown keys (type, schema…) are dropped.


class TableShapeError(Exception):
    """A table to replace the contents of has other columns than the data, and may not be altered."""


class OnlineStore(ABC):
    """One online database. ``columns`` are (name, DuckDB type) pairs of the rows to store."""

    #: Where the store is, for metadata and messages (no secrets).
    location: str

    def __init__(self) -> None:
        self._key_queries: dict[tuple[str, tuple[str, ...]], str] = {}

    @abstractmethod
    def column_plan(self, name: str, duckdb_type: str) -> tuple[str, str]:
        """(DuckDB expression producing the value to send, the store's column type) for one column."""

    @abstractmethod
    def replace(
        self, table: str, columns: Sequence[tuple[str, str]], key_columns: Sequence[str], batches: Iterable[pa.RecordBatch]
    ) -> int:
        """Swap in a new table holding the rows of ``batches`` (already converted by :meth:`column_plan`); returns
        the number of rows."""

    @abstractmethod
    def key_query(self, table: str, key_columns: Sequence[str]) -> str:
        """The query selecting the row of one key, with the driver's parameter placeholders."""

    @abstractmethod
    def fetch(self, query: str, key: tuple[Any, ...]) -> tuple[list[str], tuple[Any, ...] | None]:
        """(column names, the row or ``None``) of one key."""

    def decode(self, table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """Stored values back to their Python types (for stores keeping some types as text)."""
        return row

    @abstractmethod
    def close(self) -> None: ...

    def lookup(self, table: str, key_columns: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """The stored row of each key, in the order asked; a key without one gets its key values and NULLs."""
        cache_key = (table, tuple(key_columns))
        query = self._key_queries.get(cache_key)
        if query is None:
            query = self._key_queries[cache_key] = self.key_query(table, key_columns)
        found = []
        for key in keys:
            names, row = self.fetch(query, key)
            if row is None:
                found.append({**dict.fromkeys(names), **dict(zip(key_columns, key))})
            else:
                found.append(dict(zip(names, self.decode(table, row))))
        return found

    def select_list(self, columns: Sequence[tuple[str, str]]) -> str:
        """The DuckDB select list turning stored rows into what this store is sent."""
        return ", ".join(
            f"{self.column_plan(name, duckdb_type)[0]} AS {quote_identifier(name)}" for name, duckdb_type in columns
        )


def _rows(batches: Iterable[pa.RecordBatch]) -> Iterable[tuple[Any, ...]]:
    for batch in batches:
        yield from zip(*(column.to_pylist() for column in batch.columns))


class SqliteOnlineStore(OnlineStore):
    """An embedded SQLite file in WAL mode, so lookups keep running while a table is swapped."""

    #: DuckDB type family → (SQLite declared type, DuckDB cast to send the value as, or None to send it as is).
    _TYPES = {
        "int": ("INTEGER", None),
        "float": ("REAL", "DOUBLE"),
        "string": ("TEXT", None),
        "bool": ("BOOLEAN", None),
        "date": ("DATE", "VARCHAR"),
        "timestamp": ("TIMESTAMP", "VARCHAR"),
        "BLOB": ("BLOB", None),
    }
    #: Declared type → how a stored value is read back into its Python type.
    _READERS: dict[str, Callable[[Any], Any]] = {
        "BOOLEAN": bool,
        "DATE": date.fromisoformat,
        "TIMESTAMP": datetime.fromisoformat,
    }

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.location = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self._readers: dict[str, list[Callable[[Any], Any] | None]] = {}

    def column_plan(self, name: str, duckdb_type: str) -> tuple[str, str]:
        declared, cast = self._TYPES.get(type_family(duckdb_type), ("TEXT", "VARCHAR"))
        expression = quote_identifier(name)
        return (f"CAST({expression} AS {cast})" if cast else expression), declared

    def replace(
        self, table: str, columns: Sequence[tuple[str, str]], key_columns: Sequence[str], batches: Iterable[pa.RecordBatch]
    ) -> int:
        staging = quote_identifier(f"{table}__staging")
        definitions = ", ".join(f"{quote_identifier(name)} {self.column_plan(name, kind)[1]}" for name, kind in columns)
        keys = ", ".join(map(quote_identifier, key_columns))
        insert = f"INSERT INTO {staging} VALUES ({', '.join('?' for _ in columns)})"
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.execute(f"DROP TABLE IF EXISTS {staging}")
            cursor.execute(f"CREATE TABLE {staging} ({definitions}, PRIMARY KEY ({keys}))")
            cursor.executemany(insert, _rows(batches))
            row_count = cursor.execute(f"SELECT count(*) FROM {staging}").fetchone()[0]
            cursor.execute(f"DROP TABLE IF EXISTS {quote_identifier(table)}")
            cursor.execute(f"ALTER TABLE {staging} RENAME TO {quote_identifier(table)}")
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        self._readers.pop(table, None)
        return int(row_count)

    def key_query(self, table: str, key_columns: Sequence[str]) -> str:
        matches = " AND ".join(f"{quote_identifier(key)} = ?" for key in key_columns)
        return f"SELECT * FROM {quote_identifier(table)} WHERE {matches}"

    def fetch(self, query: str, key: tuple[Any, ...]) -> tuple[list[str], tuple[Any, ...] | None]:
        cursor = self.connection.execute(query, key)
        return [column[0] for column in cursor.description], cursor.fetchone()

    def decode(self, table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
        readers = self._readers.get(table)
        if readers is None:
            declared = self.connection.execute(f"PRAGMA table_info({quote_identifier(table)})").fetchall()
            readers = self._readers[table] = [self._READERS.get(column[2].upper()) for column in declared]
        return tuple(value if reader is None or value is None else reader(value) for value, reader in zip(row, readers))

    def close(self) -> None:
        self.connection.close()


class PostgresOnlineStore(OnlineStore):
    """Tables in the schema of a profiles.yml PostgreSQL connection (``public`` unless it sets ``schema``)."""

    _TYPES = {
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "string": "TEXT",
        "bool": "BOOLEAN",
        "date": "DATE",
        "BLOB": "BYTEA",
    }

    def __init__(self, settings: Mapping[str, Any], connection_name: str):
        import psycopg

        super().__init__()
        connect = postgres_connect_kwargs(dict(settings))
        self.schema = str(settings.get("schema") or "public")
        self.location = f"postgresql connection '{connection_name}' ({connect.get('host', 'localhost')}/{connect.get('dbname', '')}, schema {self.schema})"
        self.connection = psycopg.connect(**connect, autocommit=True, application_name="seeknal-dagster")

    def qualified(self, table: str) -> str:
        return f"{quote_identifier(self.schema)}.{quote_identifier(table)}"

    def column_plan(self, name: str, duckdb_type: str) -> tuple[str, str]:
        family = type_family(duckdb_type)
        if family == "timestamp":
            return quote_identifier(name), "TIMESTAMPTZ" if "TIME ZONE" in duckdb_type.upper() else "TIMESTAMP"
        if duckdb_type.upper().startswith("DECIMAL"):
            return quote_identifier(name), duckdb_type.replace("DECIMAL", "NUMERIC")
        if family in self._TYPES:
            return quote_identifier(name), self._TYPES[family]
        return f"CAST({quote_identifier(name)} AS VARCHAR)", "TEXT"

    def replace(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        key_columns: Sequence[str],
        batches: Iterable[pa.RecordBatch],
        on_schema_change: str = "sync",
    ) -> int:
        """Replace every row of ``table`` with the rows of ``batches`` in one transaction, keeping the table itself:
        its owner, grants, indexes, comments, triggers and policies (a drop and rename loses them, and a reader
        role its access). Readers wait for the commit and then see the new rows, never an empty or partial table.

        The table is created the first time, with ``key_columns`` as its primary key. When it exists with other
        columns, ``on_schema_change`` decides: ``fail`` names the difference and changes nothing; ``sync`` alters
        the emptied table to the new columns (and key) before loading.
        """
        target = self.qualified(table)
        definitions = ", ".join(f"{quote_identifier(name)} {self.column_plan(name, kind)[1]}" for name, kind in columns)
        names = ", ".join(quote_identifier(name) for name, _ in columns)
        keys = ", ".join(map(quote_identifier, key_columns))
        primary_key = f", PRIMARY KEY ({keys})" if keys else ""
        row_count = 0
        with self.connection.transaction():
            self.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self.schema)}")
            if self._columns(target) is None:
                self.connection.execute(f"CREATE TABLE {target} ({definitions}{primary_key})")
            else:
                self.connection.execute(f"TRUNCATE {target}")  # locks out readers until the commit
                self._reshape(target, definitions, key_columns, on_schema_change)
            with self.connection.cursor().copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for row in _rows(batches):
                    copy.write_row(row)
                    row_count += 1
        return row_count

    def _columns(self, relation: str) -> dict[str, str] | None:
        """Column name → type (as PostgreSQL spells it) of a table, ``None`` when there is no such table."""
        [[oid]] = self.connection.execute("SELECT to_regclass(%s)::oid", [relation]).fetchall()
        if oid is None:
            return None
        rows = self.connection.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [oid],
        ).fetchall()
        return dict(rows)

    def _primary_key(self, relation: str) -> tuple[str | None, list[str]]:
        """(constraint name, columns) of a table's primary key."""
        found = self.connection.execute(
            "SELECT c.conname, array_agg(a.attname ORDER BY k.position) FROM pg_constraint c "
            "CROSS JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, position) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
            "WHERE c.conrelid = to_regclass(%s) AND c.contype = 'p' GROUP BY c.conname",
            [relation],
        ).fetchall()
        return (found[0][0], list(found[0][1])) if found else (None, [])

    def _reshape(self, target: str, definitions: str, key_columns: Sequence[str], on_schema_change: str) -> None:
        """Inside :meth:`replace`: make the (emptied) existing table's columns those of ``definitions``, or fail."""
        self.connection.execute(f"CREATE TEMP TABLE seeknal_wanted_shape ({definitions}) ON COMMIT DROP")
        wanted = self._columns("pg_temp.seeknal_wanted_shape") or {}
        self.connection.execute("DROP TABLE pg_temp.seeknal_wanted_shape")
        existing = self._columns(target) or {}
        if on_schema_change == "fail":
            missing, extra = sorted(set(wanted) - set(existing)), sorted(set(existing) - set(wanted))
            if missing or extra:
                differences = [f"the data has column(s) {', '.join(missing)} the table lacks"] if missing else []
                differences += [f"the table has column(s) {', '.join(extra)} the data lacks"] if extra else []
                raise TableShapeError(
                    f"{target}: {'; '.join(differences)}. Replacing keeps the table (its grants, indexes, comments), "
                    "so its columns are not changed: alter the table, drop it to have it created again, or set "
                    "on_schema_change: sync"
                )
            return
        for name in existing.keys() - wanted.keys():
            self.connection.execute(f"ALTER TABLE {target} DROP COLUMN {quote_identifier(name)}")
        for name, kind in wanted.items():
            if name not in existing:
                self.connection.execute(f"ALTER TABLE {target} ADD COLUMN {quote_identifier(name)} {kind}")
            elif existing[name] != kind:
                self.connection.execute(
                    f"ALTER TABLE {target} ALTER COLUMN {quote_identifier(name)} TYPE {kind} USING NULL"
                )
        constraint, current_key = self._primary_key(target)
        if current_key != list(key_columns):
            if constraint:
                self.connection.execute(f"ALTER TABLE {target} DROP CONSTRAINT {quote_identifier(constraint)}")
            if key_columns:
                keys = ", ".join(map(quote_identifier, key_columns))
                self.connection.execute(f"ALTER TABLE {target} ADD PRIMARY KEY ({keys})")

    def key_query(self, table: str, key_columns: Sequence[str]) -> str:
        matches = " AND ".join(f"{quote_identifier(key)} = %s" for key in key_columns)
        return f"SELECT * FROM {self.qualified(table)} WHERE {matches}"

    def fetch(self, query: str, key: tuple[Any, ...]) -> tuple[list[str], tuple[Any, ...] | None]:
        cursor = self.connection.execute(query, key, prepare=True)
        return [column.name for column in cursor.description or []], cursor.fetchone()

    def close(self) -> None:
        self.connection.close()


def open_online_store(
    definition: "FeatureGroupDefinition", workspace: Path, target_dir: Path, profiles: "Profiles"
) -> OnlineStore:
    """The store a feature group's ``materialization.online`` names; raises ``KeyError`` for an unknown
    connection (resolved from the environment now, at connect time)."""
    online = definition.online
    if online.connection:
        return PostgresOnlineStore(profiles.connection(online.connection), online.connection)
    path = Path(online.path) if online.path else Path(target_dir) / FEATURE_STORE_DIR / DEFAULT_SQLITE_FILE
    return SqliteOnlineStore(path if path.is_absolute() else Path(workspace) / path)


def online_table(definition: "FeatureGroupDefinition") -> str:
    return definition.online.table or definition.name
