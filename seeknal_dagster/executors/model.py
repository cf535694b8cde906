"""``model``: train a scikit-learn model on upstream features joined to labels, and keep every version.

Both dialects: the seed's top-level ``algorithm``, ``features: [{ref: …}]``, ``target`` and ``hyperparameters``,
and Seeknal's ``inputs`` with ``training: {algorithm, label_source, label_column, params, test_size}``.

Training rows come from the label set (``label_source``), or from the first feature input when it carries the
target itself. Each feature input is joined on its entity keys; when the labels and the features both carry a
time, the join is point in time (each label sees the feature values known at its timestamp, never later ones).
The rows are ordered by keys, time, label and features, then a seeded split keeps a held-out part for
metrics, so the same data always gives the same model and the same metrics. The fitted pipeline and what
describes it are written as ``target/models/<name>/v<N>/`` (see :mod:`seeknal_dagster.ml.artifacts`); with
``output_columns`` (or ``predictions: true``) each entity's latest feature row is scored into
``target/intermediate/model_<name>.parquet``.

Extra settings (under ``training:`` or at the top level): ``label_time_column``, ``join_keys`` / ``entity``,
``task`` (classification or regression), ``random_state``, ``feature_columns``; per feature input
(``inputs`` or ``features`` items): ``join_keys``, ``event_time``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import sklearn

from seeknal_dagster.engines.duckdb_engine import quote_identifier, write_query
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult, Table
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.featurestore.definition import FeatureGroupDefinition, FeatureGroupDefinitionError, type_family
from seeknal_dagster.featurestore.retrieval import PointInTimeJoinError, point_in_time_join
from seeknal_dagster.ml.algorithms import ALGORITHMS, AlgorithmError, build_estimator, infer_task
from seeknal_dagster.ml.artifacts import FEATURES_FILE, METRICS_FILE, MODEL_FILE, frame_fingerprint, models_dir, write_version
from seeknal_dagster.ml.training import FeatureColumns, TrainedModel, TrainingError, choose_columns, fit_and_evaluate, predictions
from seeknal_dagster.project.checks.model import ModelSettings, Task, model_settings
from seeknal_dagster.project.checks.scope import as_list
from seeknal_dagster.project.models import ModelSpec, NodeKind

#: Rows of the feature importance table shown in Dagster.
IMPORTANCE_ROWS = 20


@dataclass
class FeatureSource:
    """One upstream whose columns become features: how it joins, and column → feature name."""

    node_id: str
    relation: str
    join_keys: list[str]
    event_time: str | None
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Training:
    """Everything one training run produced, for the artifact and the metadata."""

    settings: ModelSettings
    sources: list[FeatureSource]
    frame: pd.DataFrame
    time: str | None
    task: Task
    columns: FeatureColumns
    trained: TrainedModel


@register_executor(NodeKind.MODEL)
class ModelExecutor(SqlNodeExecutor):
    @property
    def spec(self) -> ModelSpec:
        return self.node.spec  # type: ignore[return-value]

    # -- settings ------------------------------------------------------------------------------------------

    def settings(self) -> ModelSettings:
        """The node's settings, with the estimator they describe built once to check its hyperparameters."""
        settings = model_settings(self.node)
        self.estimator(settings, settings.default_task)
        return settings

    def estimator(self, settings: ModelSettings, task: Task) -> Any:
        try:
            return build_estimator(ALGORITHMS[settings.algorithm], task, settings.hyperparameters, settings.random_state)
        except AlgorithmError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error

    def validate(self) -> None:
        super().validate()
        self.settings()

    def dry_run(self) -> ExecutorResult:
        settings = self.settings()
        metadata = {"algorithm": settings.algorithm, "label": settings.label}
        return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True, metadata=metadata)

    # -- assembling training and scoring rows -------------------------------------------------------------

    def feature_sources(self, settings: ModelSettings) -> list[FeatureSource]:
        """Each feature input with its keys, its time column and unique names for its feature columns. Keys,
        times and the label are never features (the label's own column in a feature input would leak it)."""
        reserved = {settings.label, *(settings.join_keys or []), *as_list(settings.label_time)}
        sources = []
        for node_id, options in settings.feature_refs:
            relation = self.relations[node_id]
            keys = as_list(options.get("join_keys")) or settings.join_keys or self.declared_keys(node_id)
            time = options.get("event_time") or self.declared_time(node_id, relation)
            needed = {**{key: "join key" for key in keys}, **({time: "event time"} if time else {})}
            self.require_columns(relation, node_id, needed)
            reserved.update(needed)
            sources.append(FeatureSource(node_id, relation, keys, time))
        taken: set[str] = set()
        for source in sources:
            declared = None if settings.feature_columns else self.declared_features(source.node_id)
            for column in self.require_columns(source.relation, source.node_id, {}):
                if column in reserved or (settings.feature_columns and column not in settings.feature_columns):
                    continue
                if declared is not None and column not in declared:  # a column a feature group passes through
                    continue
                name = f"{source.node_id.partition('.')[2]}__{column}" if column in taken else column
                source.outputs[column] = name
                taken.add(name)
        unknown = sorted(set(settings.feature_columns or ()) - {column for source in sources for column in source.outputs})
        if unknown:
            raise ExecutorExecutionError(self.node.id, f"feature column(s) {unknown} are in none of the feature inputs")
        return sources

    def upstream_spec(self, node_id: str) -> Any:
        return self.context.project.nodes[node_id].spec if self.context.project else None

    def declared_keys(self, node_id: str) -> list[str]:
        """Entity keys an upstream declares: an aggregation's ``id_col``, a feature group's join keys."""
        spec = self.upstream_spec(node_id)
        if spec is not None and spec.kind == NodeKind.FEATURE_GROUP:
            try:
                return list(FeatureGroupDefinition.from_spec(spec).join_keys)
            except FeatureGroupDefinitionError:
                return []
        return as_list(getattr(spec, "id_col", None))

    def declared_features(self, node_id: str) -> set[str] | None:
        """The features a feature group declares (its output also passes the other input columns through, a
        label among them); ``None`` for any other upstream, or a group taking every column as a feature."""
        spec = self.upstream_spec(node_id)
        if spec is None or spec.kind != NodeKind.FEATURE_GROUP:
            return None
        try:
            features = FeatureGroupDefinition.from_spec(spec).features
        except FeatureGroupDefinitionError:
            return None
        return None if features is None else {feature.name for feature in features}

    def declared_time(self, node_id: str, relation: str) -> str | None:
        """The time column an upstream declares: an aggregation's application date, a feature group's event time."""
        spec = self.upstream_spec(node_id)
        if spec is not None and spec.kind == NodeKind.FEATURE_GROUP:
            try:
                time = FeatureGroupDefinition.from_spec(spec).time_column
            except FeatureGroupDefinitionError:
                return None
            return time if time in self.require_columns(relation, node_id, {}) else None
        if spec is not None and spec.kind == NodeKind.AGGREGATION:
            return spec.application_date_col
        return None

    def joined(self, spine: str, spine_time: str | None, sources: list[FeatureSource]) -> str:
        """The spine's rows with every source's features: as of the spine's time when both are timed, the
        latest values when only the source is, a plain key join otherwise."""
        query = spine
        for source in sources:
            if not source.outputs:
                continue
            if not source.join_keys:
                raise ExecutorValidationError(
                    self.node.id,
                    f"cannot tell how to join {source.node_id} to the training rows: set join_keys "
                    "(on the model, or on its inputs/features item)"
                )
            if spine_time and source.event_time:
                try:
                    joined = point_in_time_join(
                        self.connection, query, source.relation, source.join_keys, spine_time, source.event_time, source.outputs
                    )
                except PointInTimeJoinError as error:
                    raise ExecutorExecutionError(self.node.id, f"joining {source.node_id}: {error}") from error
            else:
                joined = self.key_join(query, source)
            query = f"({joined})"
        return query

    def key_join(self, spine: str, source: FeatureSource) -> str:
        keys = ", ".join(quote_identifier(key) for key in source.join_keys)
        features = source.relation
        if source.event_time:
            features = f"(SELECT * FROM {features} {latest_per_key(source.join_keys, source.event_time)})"
        else:
            duplicated = self.connection.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {features} GROUP BY {keys} HAVING count(*) > 1)"
            ).fetchone()[0]
            if duplicated:
                raise ExecutorExecutionError(
                    self.node.id,
                    f"{source.node_id} has several rows for {duplicated} value(s) of {source.join_keys}: give it a "
                    "time column ('event_time' on its inputs/features item) or aggregate it to one row per key",
                )
        self.require_columns(spine, "the training rows", {key: f"to join {source.node_id}" for key in source.join_keys})
        on = " AND ".join(f"spine.{quote_identifier(key)} = features.{quote_identifier(key)}" for key in source.join_keys)
        selected = ", ".join(
            f"features.{quote_identifier(column)} AS {quote_identifier(name)}" for column, name in source.outputs.items()
        )
        return f"SELECT spine.*, {selected}\nFROM {spine} AS spine\nLEFT JOIN {features} AS features ON {on}"

    def training_query(self, settings: ModelSettings, sources: list[FeatureSource]) -> tuple[str, str | None]:
        """(SQL of the labelled rows with their features, the time column of those rows)."""
        label = quote_identifier(settings.label)
        if settings.label_source:
            relation = self.relations[settings.label_source]
            time = settings.label_time or self.declared_time(settings.label_source, relation)
            needed = {key: "join key" for source in sources for key in source.join_keys}
            needed.update({**({time: "label time"} if time else {}), settings.label: "label_column"})
            self.require_columns(relation, settings.label_source, needed)
            picked = ", ".join(quote_identifier(column) for column in needed)
            spine = f"(SELECT {picked} FROM {relation} WHERE {label} IS NOT NULL)"
            return self.joined(spine, time, sources), time
        first, *others = sources
        self.require_columns(first.relation, first.node_id, {settings.label: "the label; or set training.label_source"})
        rows = f"SELECT {own_columns(first, first.event_time, settings.label)} FROM {first.relation} WHERE {label} IS NOT NULL"
        return self.joined(f"({rows})", first.event_time, others), first.event_time

    def scoring_query(self, sources: list[FeatureSource]) -> tuple[str, list[str]]:
        """(SQL of the rows to score: each entity's latest row of the first feature input, with every source's
        features as of that row; the columns identifying a row)."""
        first, *others = sources
        identity = [*first.join_keys, *as_list(first.event_time)]
        rows = f"SELECT {own_columns(first, first.event_time)} FROM {first.relation}"
        if first.join_keys and first.event_time:
            rows += f" {latest_per_key(first.join_keys, first.event_time)}"
        if not identity:  # rows without keys: keep all their columns, so each prediction stays with its row
            identity = list(self.require_columns(first.relation, first.node_id, {}))
            rows = f"SELECT * FROM {first.relation}"
        return self.joined(f"({rows})", first.event_time, others), identity

    # -- training ------------------------------------------------------------------------------------------

    def feature_columns(self, frame: pd.DataFrame, sources: list[FeatureSource], explicit: bool) -> FeatureColumns:
        """Numbers and booleans as numeric features, text as categories; other types are skipped and reported."""
        numeric, text, skipped = [], [], {}
        for source in sources:
            types = self.require_columns(source.relation, source.node_id, {})
            for column, name in source.outputs.items():
                family = type_family(types[column])
                if family in ("int", "float", "bool"):
                    numeric.append(name)
                elif family == "string":
                    text.append(name)
                else:
                    skipped[name] = f"type {types[column]}"
        columns = choose_columns(frame, numeric, text, explicit=explicit)
        columns.skipped.update(skipped)
        return columns

    def train(self) -> Training:
        settings = self.settings()
        sources = self.feature_sources(settings)
        training_sql, time = self.training_query(settings, sources)
        frame = self.connection.execute(f"SELECT * FROM {training_sql} ORDER BY ALL").df()
        if frame[settings.label].dtype == "boolean":
            frame[settings.label] = frame[settings.label].astype(bool)
        task = settings.task or infer_task(frame[settings.label])
        columns = self.feature_columns(frame, sources, explicit=bool(settings.feature_columns))
        try:
            trained = fit_and_evaluate(
                frame, columns, settings.label, task, self.estimator(settings, task), settings.test_size, settings.random_state
            )
        except TrainingError as error:
            raise ExecutorExecutionError(self.node.id, str(error)) from error
        return Training(settings, sources, frame, time, task, columns, trained)

    def execute(self) -> ExecutorResult:
        training = self.train()
        version, directory = self.save(training)
        metadata = self.describe(training, version, directory)
        output_path, row_count = directory / MODEL_FILE, len(training.frame)
        if training.settings.output_columns:
            output_path = self.context.get_output_path(self.node)
            row_count = self.write_predictions(training, output_path)
            metadata["scored_rows"] = row_count
        return ExecutorResult(
            self.node.id, ExecutionStatus.SUCCESS, row_count=row_count, output_path=output_path, metadata=metadata
        )

    def save(self, training: Training) -> tuple[int, Path]:
        """Write the next version: pipeline, metrics, features, training-data fingerprint, manifest."""
        settings, columns, trained = training.settings, training.columns, training.trained
        estimator = trained.pipeline[-1]
        features = {
            "columns": columns.all,
            "numeric": columns.numeric,
            "categorical": columns.categorical,
            "skipped": columns.skipped,
            "encoded": list(trained.pipeline[:-1].get_feature_names_out()),
            "importances": dict(trained.importances),
            "inputs": [
                {"node": source.node_id, "join_keys": source.join_keys, "event_time": source.event_time, "columns": source.outputs}
                for source in training.sources
            ],
            "label": {"column": settings.label, "source": settings.label_source, "time": training.time},
        }
        read = [source.node_id for source in training.sources] + as_list(settings.label_source)
        training_data = {
            "sha256": frame_fingerprint(training.frame),
            "rows": len(training.frame),
            "train_rows": trained.train_rows,
            "test_rows": trained.test_rows,
            "test_size": settings.test_size,
            "random_state": settings.random_state,
            "inputs": {node_id: str(self.context.output_path_for(node_id)) for node_id in read},
        }
        manifest = {
            "node_id": self.node.id,
            "trained_at": datetime.now(timezone.utc).isoformat(),
            "run_id": self.context.run_id,
            "algorithm": settings.algorithm,
            "estimator": type(estimator).__name__,
            "task": training.task,
            "classes": [value.item() if hasattr(value, "item") else value for value in trained.classes],
            "hyperparameters": estimator.get_params(),
            "scikit_learn": sklearn.__version__,
        }
        return write_version(
            models_dir(self.context.target_path, self.node.name),
            trained.pipeline,
            {METRICS_FILE: trained.metrics, FEATURES_FILE: features, "training_data.json": training_data},
            manifest,
        )

    def describe(self, training: Training, version: int, directory: Path) -> dict[str, Any]:
        """Metrics as ``metrics/<name>`` floats (Dagster plots them across materializations), and the rest."""
        trained = training.trained
        metadata: dict[str, Any] = {f"metrics/{name}": value for name, value in trained.metrics.items()}
        importances = trained.importances[:IMPORTANCE_ROWS]
        metadata.update(
            {
                "engine": "scikit-learn",
                "model_version": version,
                "model_dir": directory,
                "algorithm": training.settings.algorithm,
                "estimator": type(trained.pipeline[-1]).__name__,
                "task": training.task,
                "label": training.settings.label,
                "training_rows": trained.train_rows,
                "test_rows": trained.test_rows,
                "feature_count": len(training.columns.all),
                "training_data_sha256": frame_fingerprint(training.frame),
                "feature_importances": Table.of(["feature", "importance"], importances),
            }
        )
        if training.columns.skipped:
            metadata["skipped_columns"] = training.columns.skipped
        return metadata

    def write_predictions(self, training: Training, output_path: Path) -> int:
        """Score the latest feature rows; the identifying columns keep their types (no round trip via pandas)."""
        names = training.settings.output_columns
        scoring_sql, identity = self.scoring_query(training.sources)
        self.connection.execute(
            "CREATE OR REPLACE TEMP TABLE model_scoring AS SELECT row_number() OVER () AS __row, * "
            f"FROM (SELECT * FROM {scoring_sql} ORDER BY ALL)"
        )
        frame = self.connection.execute("SELECT * FROM model_scoring ORDER BY __row").df()
        predicted, probability = predictions(training.trained.pipeline, frame, training.columns, training.task)
        scored = pd.DataFrame({"__row": frame["__row"], names[0]: predicted})
        if probability is not None:
            scored[names[1] if len(names) > 1 else f"{names[0]}_probability"] = probability
        self.connection.register("model_predictions", scored)
        kept = ", ".join(f"scoring.{quote_identifier(column)}" for column in identity)
        try:
            return write_query(
                self.connection,
                f"SELECT {kept}, predicted.* EXCLUDE (__row) FROM model_scoring AS scoring "
                "JOIN model_predictions AS predicted USING (__row) ORDER BY __row",
                output_path,
            )
        finally:
            self.connection.unregister("model_predictions")
            self.connection.execute("DROP TABLE IF EXISTS model_scoring")


def latest_per_key(keys: list[str], time: str) -> str:
    """A ``QUALIFY`` clause keeping each key's most recent row."""
    partition = ", ".join(quote_identifier(key) for key in keys)
    return f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {quote_identifier(time)} DESC) = 1"


def own_columns(source: FeatureSource, *extra: str | None) -> str:
    """A source read as the row set: its keys, the given columns, and its features under their names."""
    picked = [quote_identifier(column) for column in dict.fromkeys([*source.join_keys, *extra]) if column]
    picked += [f"{quote_identifier(column)} AS {quote_identifier(name)}" for column, name in source.outputs.items()]
    return ", ".join(picked)
