"""``feature_group``: features per entity and event time, into the offline store, the entity table and the
online store.

The group's rows come from its first input, optionally through ``transform`` SQL (which may read it as
``source``, ``input_0``, ``__THIS__`` or ``ref('kind.name')``). Declared features are checked against the data:
a missing feature, or one whose values are not of its declared dtype, fails the node naming the feature. The stores
hold the join keys, the event time and the features (each as its declared dtype), in a versioned offline store (see
:mod:`seeknal_dagster.featurestore.offline`). The node's output, ``target/intermediate/feature_group_<name>.parquet``,
passes every column of the rows through, as Seeknal's does, so a rule can check a column that is not a feature (an
e-mail) and a model can take its label from the group. It has the types of Seeknal's file, which Seeknal writes
through pandas (a DATE is a TIMESTAMP there, a DECIMAL a DOUBLE). A text event time becomes a TIMESTAMP. A group that
declares no event time uses the data's ``event_time`` column, as Seeknal does; when there is none it gets the
materialization time as ``event_time``, which Seeknal's output lacks: appended snapshots would otherwise be
indistinguishable.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from seeknal_dagster.engines.duckdb_engine import (
    DuckDBSql,
    quote_identifier,
    quote_literal,
    relation_columns,
    replace_rows,
    scan_parquet,
    write_query,
)
from seeknal_dagster.engines.node_sql import NodeSql
from seeknal_dagster.engines.outputs import remove_path
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import Script, SqlNodeExecutor
from seeknal_dagster.featurestore.definition import STORED_TYPES, FeatureGroupDefinition, accepts, type_family
from seeknal_dagster.featurestore.offline import OfflineStore, OfflineVersion, schema_hash, write_json
from seeknal_dagster.featurestore.online import open_online_store, online_table
from seeknal_dagster.project.checks.feature_group import entity_groups, first_input, time_range
from seeknal_dagster.project.models import NodeKind
from seeknal_dagster.project.secrets import scrub

#: Rows sent to the online store per batch.
ONLINE_BATCH_ROWS = 50_000


def available(columns: dict[str, str]) -> str:
    return f"(columns: {', '.join(columns)})"


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

    @cached_property
    def script(self) -> Script:
        if not self.definition.transform:
            return Script(["SELECT * FROM source"], ["SELECT * FROM source"])
        return self.render_script(self.definition.transform, "a feature group's transform")

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        return time_range(self.node, self.check_scope())

    def entity_groups(self) -> dict[str, FeatureGroupDefinition]:
        return entity_groups(self.definition, self.check_scope())

    def validate(self) -> None:
        self.script  # noqa: B018 - first, so a refused statement is reported as the node's SQL shows it
        super().validate()

    def dry_run(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata={"sql": ";\n".join(self.script.shown)}
        )

    def pre_execute(self) -> None:
        """The group's rows are computed on its engine; the stores are written through DuckDB on this host, which
        reads rows Spark computed from the shared target directory."""
        super().pre_execute()
        if self.connection is None:
            self.connection = self.context.get_duckdb_connection().cursor()
        self.sql.create_view("source", f"SELECT * FROM {self.relations[self.first_input()]}")

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        stores_cursor = self.connection if self.engine == "spark" else None
        try:
            return super().post_execute(result)
        finally:
            if stores_cursor is not None:
                stores_cursor.close()

    # The group's rows ---------------------------------------------------------------------------------------

    def row_columns(self, columns: dict[str, str]) -> list[str]:
        """The select list of the group's rows: every column of the query, with the event time typed. A group that
        declares no event time takes the data's ``event_time`` column, as Seeknal does, or, when the data has none,
        gets the materialization time stamped as ``event_time``. In the SQL of the node's engine; an instant
        Spark computed becomes a wall-clock time, as DuckDB's event times are."""
        quote, time = self.dialect.quote_identifier, self.definition.time_column
        if self.definition.event_time_col is None and time not in columns:
            window = self.context.partition_time_window
            stamp = window[0] if window else datetime.now(timezone.utc)
            kept = [quote(name) for name in columns if name != time]
            return [*kept, f"{timestamp_literal(self.dialect, stamp)} AS {quote(time)}"]
        if time not in columns:
            raise ExecutorValidationError(self.node.id, f"event time column '{time}' is not in the data {available(columns)}")
        family = type_family(columns[time])
        if family not in ("string", "date", "timestamp"):
            raise ExecutorValidationError(
                self.node.id, f"event time column '{time}' must be a date or timestamp, not {columns[time]}"
            )
        retype = family == "string" or (self.engine == "spark" and columns[time].endswith("WITH TIME ZONE"))
        typed = f"CAST({quote(time)} AS {self.dialect.local_time_type})" if retype else quote(time)
        return [f"{typed} AS {quote(time)}" if name == time else quote(name) for name in columns]

    def stored_columns(self, columns: dict[str, str]) -> list[str]:
        """The select list of what the stores hold, over the group's rows (in DuckDB): join keys, event time, features (cast
        to their declared dtype). Fails naming the column when the data does not have what the definition declares."""
        definition = self.definition
        missing_keys = [key for key in definition.join_keys if key not in columns]
        if missing_keys:
            raise ExecutorValidationError(self.node.id, f"join key(s) {missing_keys} are not in the data {available(columns)}")
        identity = (*definition.join_keys, definition.time_column)
        selected = [quote_identifier(name) for name in identity]
        if definition.features is None:
            return selected + [quote_identifier(name) for name in columns if name not in identity]
        for feature in definition.features:
            column = quote_identifier(feature.name)
            if feature.name not in columns:
                raise ExecutorValidationError(
                    self.node.id, f"feature '{feature.name}' is declared but not in the data {available(columns)}"
                )
            if feature.dtype is None:
                selected.append(column)
            elif not accepts(feature.dtype, columns[feature.name]):
                raise ExecutorValidationError(
                    self.node.id,
                    f"feature '{feature.name}' is declared {feature.dtype} but the data has {columns[feature.name]}",
                )
            else:
                selected.append(f"CAST({column} AS {STORED_TYPES[feature.dtype]}) AS {column}")
        return selected

    def time_filter(self) -> str:
        """The rows this run writes (in the SQL of the node's engine): ``feature_start_time``..``feature_end_time``,
        and the partition window."""
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
            message = f"{what} failed: {self.sql.error_text(error)}\n  SQL: {scrub(sql[:300])}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error

    def compute_rows(self) -> str:
        """Run the SQL into the temp table ``feature_rows`` (every column of the group's rows); returns the select
        list of what the stores hold, which reads the same over ``feature_rows`` and over the node's output."""
        statements = self.script.statements
        self.keep_settings(self.script)
        for number, statement in enumerate(statements[:-1], start=1):
            self.run_sql(statement, f"statement {number} of {len(statements)}")
        self.run_sql(f"CREATE OR REPLACE TEMP VIEW feature_query AS {statements[-1]}", "the feature group's query")
        try:
            query_columns = self.sql.columns("feature_query")
        except Exception as error:
            message = f"the feature group's query failed: {self.sql.error_text(error)}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error
        rows = f"SELECT * FROM (SELECT {', '.join(self.row_columns(query_columns))} FROM feature_query) WHERE {self.time_filter()}"
        if self.engine == "spark":  # Spark's rows reach DuckDB through a scratch directory beside the output
            scratch = self.context.get_output_path(self.node).with_name(f".{self.node.kind.value}_{self.node.name}.rows")
            try:
                self.sql.write_query(rows, scratch)
                self.connection.execute(f"CREATE OR REPLACE TEMP TABLE feature_rows AS SELECT * FROM {scan_parquet(scratch)}")
            except Exception as error:
                message = f"computing the feature rows failed: {self.sql.error_text(error)}"
                raise ExecutorExecutionError(self.node.id, message, cause=error) from error
            finally:
                remove_path(scratch)
        else:
            self.run_sql(f"CREATE OR REPLACE TEMP TABLE feature_rows AS {rows}", "computing the feature rows")
        return ", ".join(self.stored_columns(self.columns_of("feature_rows")))

    def columns_of(self, relation: str) -> dict[str, str]:
        """Column → type of a table, view or parenthesised query of the DuckDB cursor the stores are written with."""
        try:
            return relation_columns(self.connection, relation)
        except Exception as error:
            message = f"describing {relation} failed: {scrub(str(error))}"
            raise ExecutorExecutionError(self.node.id, message, cause=error) from error

    # Writing ------------------------------------------------------------------------------------------------

    def write_rows(self, rows: str, path: Path, keep_existing: bool) -> int:
        """Write ``rows`` (a query over ``feature_rows``) to ``path``: overwrite, or (keeping the other rows already
        there) replace the partition window, or append (a row with the same keys and event time replaces the
        stored one)."""
        if not keep_existing or not path.exists():
            return write_query(self.connection, rows, path)
        if self.context.partition_time_window is not None:
            return replace_rows(self.connection, rows, path, self.window_condition())
        if self.definition.mode == "append":
            identity = ", ".join(quote_identifier(name) for name in (*self.definition.join_keys, self.definition.time_column))
            return replace_rows(self.connection, rows, path, f"({identity}) IN (SELECT {identity} FROM feature_rows)")
        return write_query(self.connection, rows, path)

    def write_offline(self, stored: str, columns: list[tuple[str, str]]) -> tuple[OfflineVersion, bool]:
        """The stored columns of the rows (``columns``: their names and types) into their version of the offline
        store (a new one when the definition or schema changed), and the version's metadata beside them."""
        definition = self.definition
        version, is_new = self.offline_store.version_to_write(
            definition.entity, definition.name, definition.definition_hash(), schema_hash(columns)
        )
        row_count = self.write_rows(f"SELECT {stored} FROM feature_rows", version.data_path, keep_existing=not is_new)
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
        return version, is_new

    def write_output(self, path: Path, keep_previous: bool) -> int:
        """Every column of the rows to the node's output, typed as Seeknal's file (which it writes through pandas:
        a DATE is a TIMESTAMP there); earlier rows are kept (append, partitions) only while the output has this
        run's columns."""
        rows = DuckDBSql(self.connection).as_seeknal_writes_it("SELECT * FROM feature_rows")
        keep = keep_previous and path.exists()
        keep = keep and self.columns_of(f"read_parquet({quote_literal(path)})") == self.columns_of(f"({rows})")
        return self.write_rows(rows, path, keep_existing=keep)

    def consolidate_entity(self) -> tuple[Path, int]:
        groups = {}
        for name, other in self.entity_groups().items():
            version = self.offline_store.version(other.entity, name) if other.offline else None
            if version is not None:
                groups[name] = version
        return self.offline_store.consolidate(self.connection, self.definition.entity, self.definition.join_keys, groups)

    def write_online(self, data_path: Path, columns: list[tuple[str, str]]) -> dict[str, Any]:
        """The latest row per entity key (the stored ``columns`` of ``data_path``, as their stored types) into the
        online store, swapped in as a whole."""
        definition = self.definition
        typed = ", ".join(f"CAST({quote_identifier(name)} AS {kind}) AS {quote_identifier(name)}" for name, kind in columns)
        rows = f"(SELECT {typed} FROM read_parquet({quote_literal(data_path)}))"
        try:
            store = open_online_store(
                definition, self.context.workspace_path, self.context.target_path, self.context.profiles
            )
        except Exception as error:
            raise ExecutorExecutionError(self.node.id, f"cannot open the online store: {error}", cause=error) from error
        keys = ", ".join(quote_identifier(key) for key in definition.join_keys)
        latest = (
            f"SELECT {store.select_list(columns)} FROM {rows} "
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
        stored = self.compute_rows()
        [(rows_written,)] = self.connection.execute("SELECT count(*) FROM feature_rows").fetchall()
        metadata: dict[str, Any] = {
            "engine": self.engine,
            "sql": ";\n".join(self.script.shown),
            "entity": definition.entity,
            "join_keys": list(definition.join_keys),
            "event_time_col": definition.time_column,
            "mode": definition.mode,
            "rows_written": rows_written,
        }
        columns = list(self.columns_of(f"(SELECT {stored} FROM feature_rows)").items())
        online_source = output_path
        if definition.offline:
            version, is_new = self.write_offline(stored, columns)
            row_count = self.write_output(output_path, keep_previous=not is_new)
            entity_table, entity_rows = self.consolidate_entity()
            online_source = version.data_path
            metadata |= {
                "version": version.version,
                "new_version": is_new,
                "offline_path": str(version.data_path),
                "entity_table": str(entity_table),
                "entity_table_rows": entity_rows,
            }
        else:
            row_count = self.write_output(output_path, keep_previous=True)
        write_json(
            output_path.with_name(f"{output_path.stem}_meta.json"),
            {"entity_name": definition.entity, "join_keys": list(definition.join_keys), "event_time_col": definition.time_column},
        )
        if definition.online.enabled:
            metadata |= self.write_online(online_source, columns)
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, row_count=row_count, output_path=output_path, metadata=metadata
        )
