"""``feature_group``: features per entity and event time, into the offline store, the entity table and the
online store.

The group's rows come from its first input, optionally through ``transform`` SQL (which may read it as
``source``, ``input_0``, ``__THIS__`` or ``ref('kind.name')``). Declared features are checked against the data:
a missing feature, or one whose values are not of its declared dtype, fails the node naming the feature. The
result is written to ``target/intermediate/feature_group_<name>.parquet`` for downstream nodes, and to a
versioned offline store (see :mod:`seeknal_dagster.featurestore.offline`).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from seeknal_dagster.engines.duckdb_engine import (
    DuckDBSql,
    quote_identifier,
    replace_rows,
    scan_parquet,
    write_query,
)
from seeknal_dagster.engines.node_sql import NodeSql
from seeknal_dagster.engines.outputs import atomic_path, remove_path
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.featurestore.definition import STORED_TYPES, FeatureGroupDefinition, accepts, type_family
from seeknal_dagster.featurestore.offline import OfflineStore, OfflineVersion, schema_hash, write_json
from seeknal_dagster.featurestore.online import open_online_store, online_table
from seeknal_dagster.project.checks.feature_group import entity_groups, first_input, time_range
from seeknal_dagster.project.checks.transform import query_statements
from seeknal_dagster.project.models import NodeKind

#: Rows sent to the online store per batch.
ONLINE_BATCH_ROWS = 50_000


def timestamp_literal(dialect: type[NodeSql], moment: datetime) -> str:
    """A wall-clock timestamp literal; an aware datetime is taken in UTC (Dagster's partition windows are aware)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return f"CAST({dialect.quote_literal(moment.isoformat(sep=' '))} AS {dialect.local_time_type})"


@register_executor(NodeKind.FEATURE_GROUP)
class FeatureGroupExecutor(SqlNodeExecutor):
    @cached_property
    def definition(self) -> FeatureGroupDefinition:
        return FeatureGroupDefinition.from_spec(self.node.spec)  # type: ignore[arg-type]

    @cached_property
    def offline_store(self) -> OfflineStore:
        return OfflineStore(self.context.target_path)

    def first_input(self) -> str:
        return first_input(self.node)

    def statements(self) -> list[str]:
        if not self.definition.transform:
            return ["SELECT * FROM source"]
        return query_statements(self.render_sql(self.definition.transform), "a feature group's transform", "transform")

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        return time_range(self.node, self.check_scope())

    def entity_groups(self) -> dict[str, FeatureGroupDefinition]:
        return entity_groups(self.definition, self.check_scope())

    def validate(self) -> None:
        super().validate()
        self.statements()

    def dry_run(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata={"sql": ";\n".join(self.statements())}
        )

    def pre_execute(self) -> None:
        """The group's rows are computed on its engine; the stores are written through DuckDB on this host, which
        reads rows Spark computed from the shared target directory."""
        super().pre_execute()
        if self.connection is None:
            self.connection = self.context.get_duckdb_connection().cursor()
        self.sql.create_view("source", f"SELECT * FROM {self.relations[self.first_input()]}")

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        if self.engine == "spark" and self.connection is not None:
            self.connection.close()
        return super().post_execute(result)

    # The group's rows ---------------------------------------------------------------------------------------

    def stored_columns(self, columns: dict[str, str]) -> list[str]:
        """The select list of what is stored: join keys, event time, features (cast to their declared dtype).
        Fails naming the column when the data does not have what the definition declares."""
        definition = self.definition
        available = f"(columns: {', '.join(columns)})"
        missing_keys = [key for key in definition.join_keys if key not in columns]
        if missing_keys:
            raise ExecutorValidationError(self.node.id, f"join key(s) {missing_keys} are not in the data {available}")
        quote = self.dialect.quote_identifier
        selected = [quote(key) for key in definition.join_keys]
        selected.append(self.event_time_expression(columns, available))
        if definition.features is None:
            excluded = {*definition.join_keys, definition.time_column}
            return selected + [quote(name) for name in columns if name not in excluded]
        for feature in definition.features:
            column = quote(feature.name)
            if feature.name not in columns:
                raise ExecutorValidationError(
                    self.node.id, f"feature '{feature.name}' is declared but not in the data {available}"
                )
            if feature.dtype is None:
                selected.append(column)
            elif not accepts(feature.dtype, columns[feature.name]):
                raise ExecutorValidationError(
                    self.node.id,
                    f"feature '{feature.name}' is declared {feature.dtype} but the data has {columns[feature.name]}",
                )
            else:
                selected.append(f"CAST({column} AS {self.dialect.type_name(STORED_TYPES[feature.dtype])}) AS {column}")
        return selected

    def event_time_expression(self, columns: dict[str, str], available: str) -> str:
        quote = self.dialect.quote_identifier
        name = self.definition.event_time_col
        if name is None:
            window = self.context.partition_time_window
            stamp = window[0] if window else datetime.now(timezone.utc)
            return f"{timestamp_literal(self.dialect, stamp)} AS {quote(self.definition.time_column)}"
        if name not in columns:
            raise ExecutorValidationError(self.node.id, f"event time column '{name}' is not in the data {available}")
        family = type_family(columns[name])
        if family == "string":
            return f"CAST({quote(name)} AS {self.dialect.local_time_type}) AS {quote(name)}"
        if family not in ("date", "timestamp"):
            raise ExecutorValidationError(
                self.node.id, f"event time column '{name}' must be a date or timestamp, not {columns[name]}"
            )
        if self.engine == "spark" and columns[name].endswith("WITH TIME ZONE"):
            return f"CAST({quote(name)} AS {self.dialect.local_time_type}) AS {quote(name)}"
        return quote(name)

    def time_filter(self) -> str:
        """The rows this run writes: ``feature_start_time``..``feature_end_time``, and the partition window."""
        column = self.dialect.quote_identifier(self.definition.time_column)
        start, end = self.time_range()
        conditions = []
        if start is not None:
            conditions.append(f"{column} >= {timestamp_literal(self.dialect, start)}")
        if end is not None:
            conditions.append(f"{column} <= {timestamp_literal(self.dialect, end)}")
        if self.context.partition_time_window is not None:
            conditions.append(self.window_condition(self.dialect))
        return " AND ".join(conditions) or "true"

    def window_condition(self, dialect: type[NodeSql] = DuckDBSql) -> str:
        window_start, window_end = self.context.partition_time_window  # type: ignore[misc]
        column = dialect.quote_identifier(self.definition.time_column)
        start, end = timestamp_literal(dialect, window_start), timestamp_literal(dialect, window_end)
        return f"{column} >= {start} AND {column} < {end}"

    def run_sql(self, sql: str, what: str) -> None:
        """A statement on the node's engine; a failure names the node and what was being done."""
        try:
            self.sql.execute(sql)
        except Exception as error:
            message = f"{what} failed: {self.sql.error_text(error)}\n  SQL: {sql[:300]}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error

    def compute_rows(self) -> list[tuple[str, str]]:
        """Run the SQL on the node's engine into the DuckDB temp table ``feature_rows``; returns its (column,
        type) pairs. Rows Spark computes reach it through a scratch directory beside the output."""
        statements = self.statements()
        for number, statement in enumerate(statements[:-1], start=1):
            self.run_sql(statement, f"statement {number} of {len(statements)}")
        self.run_sql(f"CREATE OR REPLACE TEMP VIEW feature_query AS {statements[-1]}", "the feature group's query")
        try:
            columns = self.sql.columns("feature_query")
        except Exception as error:
            message = f"the feature group's query failed: {self.sql.error_text(error)}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error
        rows = f"SELECT * FROM (SELECT {', '.join(self.stored_columns(columns))} FROM feature_query) WHERE {self.time_filter()}"
        if self.engine == "spark":
            scratch = self.context.get_output_path(self.node).with_name(f".{self.node.kind.value}_{self.node.name}.rows")
            try:
                self.sql.write_query(rows, scratch)
            except Exception as error:
                message = f"computing the feature rows failed: {self.sql.error_text(error)}"
                raise ExecutorExecutionError(self.node.id, message, cause=error) from error
            try:
                self.connection.execute(f"CREATE OR REPLACE TEMP TABLE feature_rows AS SELECT * FROM {scan_parquet(scratch)}")
            finally:
                remove_path(scratch)
        else:
            self.run_sql(f"CREATE OR REPLACE TEMP TABLE feature_rows AS {rows}", "computing the feature rows")
        return [(row[0], row[1]) for row in self.connection.execute("DESCRIBE feature_rows").fetchall()]

    # Writing ------------------------------------------------------------------------------------------------

    def write_rows(self, path: Path, keep_existing: bool) -> int:
        """Write ``feature_rows`` to ``path``: overwrite, or (keeping the other rows already there) replace the
        partition window, or append (a row with the same keys and event time replaces the stored one)."""
        new_rows = "SELECT * FROM feature_rows"
        if not keep_existing or not path.exists():
            return write_query(self.connection, new_rows, path)
        if self.context.partition_time_window is not None:
            return replace_rows(self.connection, new_rows, path, self.window_condition())
        if self.definition.mode == "append":
            identity = ", ".join(quote_identifier(name) for name in (*self.definition.join_keys, self.definition.time_column))
            return replace_rows(self.connection, new_rows, path, f"({identity}) IN (SELECT {identity} FROM feature_rows)")
        return write_query(self.connection, new_rows, path)

    def write_offline(self, columns: list[tuple[str, str]], output_path: Path) -> tuple[OfflineVersion, bool, int]:
        """The rows into their version of the offline store (a new one when the definition or schema changed),
        the version's metadata beside them, and a copy at the node's output path."""
        definition = self.definition
        version, is_new = self.offline_store.version_to_write(
            definition.entity, definition.name, definition.definition_hash(), schema_hash(columns)
        )
        row_count = self.write_rows(version.data_path, keep_existing=not is_new)
        now = datetime.now(timezone.utc).isoformat()
        write_json(
            version.metadata_path,
            {
                "version": version.version,
                "feature_group": definition.name,
                "node_id": self.node.id,
                "entity": definition.entity,
                "join_keys": list(definition.join_keys),
                "event_time_col": definition.time_column,
                "features": [
                    {"name": name, "type": kind}
                    for name, kind in columns
                    if name not in (*definition.join_keys, definition.time_column)
                ],
                "schema_hash": schema_hash(columns),
                "definition_hash": definition.definition_hash(),
                "row_count": row_count,
                "mode": definition.mode,
                "created_at": now if is_new else version.metadata.get("created_at", now),
                "updated_at": now,
            },
        )
        with atomic_path(output_path) as temporary:
            shutil.copyfile(version.data_path, temporary)
        return version, is_new, row_count

    def intermediate_matches(self, path: Path, columns: list[tuple[str, str]]) -> bool:
        """Whether the existing output has this run's schema (so its other rows can be kept)."""
        if not path.exists():
            return False
        described = self.connection.execute(f"DESCRIBE SELECT * FROM {scan_parquet(path)}").fetchall()
        return [(row[0], row[1]) for row in described] == columns

    def consolidate_entity(self) -> tuple[Path, int]:
        groups = {}
        for name, other in self.entity_groups().items():
            version = self.offline_store.version(other.entity, name) if other.offline else None
            if version is not None:
                groups[name] = version
        return self.offline_store.consolidate(self.connection, self.definition.entity, self.definition.join_keys, groups)

    def write_online(self, data_path: Path, columns: list[tuple[str, str]]) -> dict[str, Any]:
        """The latest row per entity key into the online store, swapped in as a whole."""
        definition = self.definition
        try:
            store = open_online_store(
                definition, self.context.workspace_path, self.context.target_path, self.context.profiles
            )
        except Exception as error:
            raise ExecutorExecutionError(self.node.id, f"cannot open the online store: {error}", cause=error) from error
        keys = ", ".join(quote_identifier(key) for key in definition.join_keys)
        latest = (
            f"SELECT {store.select_list(columns)} FROM {scan_parquet(data_path)} "
            f"WHERE {' AND '.join(f'{quote_identifier(key)} IS NOT NULL' for key in definition.join_keys)} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} "
            f"ORDER BY {quote_identifier(definition.time_column)} DESC NULLS LAST) = 1"
        )
        try:
            batches = self.connection.sql(latest).to_arrow_reader(ONLINE_BATCH_ROWS)
            row_count = store.replace(online_table(definition), columns, definition.join_keys, batches)
        except Exception as error:
            raise ExecutorExecutionError(
                self.node.id, f"writing the online store {store.location} failed: {error}", cause=error
            ) from error
        finally:
            store.close()
        return {"online_store": store.location, "online_table": online_table(definition), "online_rows": row_count}

    def execute(self) -> ExecutorResult:
        definition = self.definition
        output_path = self.context.get_output_path(self.node)
        columns = self.compute_rows()
        metadata: dict[str, Any] = {
            "engine": self.engine,
            "sql": ";\n".join(self.statements()),
            "entity": definition.entity,
            "join_keys": list(definition.join_keys),
            "event_time_col": definition.time_column,
            "mode": definition.mode,
            "rows_written": self.connection.execute("SELECT count(*) FROM feature_rows").fetchone()[0],
        }
        if definition.offline:
            version, is_new, row_count = self.write_offline(columns, output_path)
            entity_table, entity_rows = self.consolidate_entity()
            metadata |= {
                "version": version.version,
                "new_version": is_new,
                "offline_path": str(version.data_path),
                "entity_table": str(entity_table),
                "entity_table_rows": entity_rows,
            }
        else:
            row_count = self.write_rows(output_path, keep_existing=self.intermediate_matches(output_path, columns))
        write_json(
            output_path.with_name(f"{output_path.stem}_meta.json"),
            {"entity_name": definition.entity, "join_keys": list(definition.join_keys), "event_time_col": definition.time_column},
        )
        if definition.online.enabled:
            metadata |= self.write_online(output_path, columns)
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, row_count=row_count, output_path=output_path, metadata=metadata
        )
