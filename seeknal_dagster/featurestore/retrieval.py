"""Point-in-time correct feature lookup: each label row sees only feature values dated at or before it.

Built on DuckDB's ``ASOF LEFT JOIN``, which streams both sides without copying the feature table into Python, so
labels can be joined against feature tables far larger than memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from seeknal_dagster.engines.duckdb_engine import quote_identifier, relation_columns, scan_parquet

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from seeknal_dagster.featurestore.offline import OfflineVersion


class PointInTimeJoinError(ValueError):
    """The labels or the features lack a column the join needs, or the output would have clashing names."""


def point_in_time_join(
    connection: "duckdb.DuckDBPyConnection",
    labels_relation: str,
    feature_relation: str,
    join_keys: Sequence[str],
    label_time_col: str,
    feature_time_col: str,
    feature_columns: Sequence[str] | Mapping[str, str],
) -> str:
    """SQL returning every label row with the latest feature values at or before its timestamp.

    ``labels_relation`` and ``feature_relation`` are anything that can follow ``FROM`` (a view name, or a
    parenthesised query). ``feature_columns`` lists the feature columns to add, or maps feature column → output
    name. Label rows with no earlier feature row keep NULL features (a left join: no label is ever dropped).
    The connection is only used to check the columns exist, so mistakes surface as a clear error here rather
    than as a binder error deep inside a bigger query.
    """
    outputs = dict(feature_columns) if isinstance(feature_columns, Mapping) else {name: name for name in feature_columns}
    label_types = relation_columns(connection, labels_relation)
    feature_types = relation_columns(connection, feature_relation)
    _require(label_types, [*join_keys, label_time_col], "labels", labels_relation)
    _require(feature_types, [*join_keys, feature_time_col, *outputs], "features", feature_relation)
    clashes = sorted(set(outputs.values()) & set(label_types))
    if clashes:
        raise PointInTimeJoinError(f"the labels already have column(s) {clashes}: choose other output names")

    label_time = f"labels.{quote_identifier(label_time_col)}"
    feature_time = f"features.{quote_identifier(feature_time_col)}"
    if label_types[label_time_col] != feature_types[feature_time_col]:
        label_time = f"CAST({label_time} AS {feature_types[feature_time_col]})"
    key_conditions = [f"labels.{quote_identifier(key)} = features.{quote_identifier(key)}" for key in join_keys]
    selected = ", ".join(
        f"features.{quote_identifier(column)} AS {quote_identifier(output)}" for column, output in outputs.items()
    )
    return (
        f"SELECT labels.*{', ' + selected if selected else ''}\n"
        f"FROM {labels_relation} AS labels\n"
        f"ASOF LEFT JOIN {feature_relation} AS features\n"
        f"  ON {' AND '.join([*key_conditions, f'{label_time} >= {feature_time}'])}"
    )


def _require(columns: Mapping[str, str], needed: Sequence[str], side: str, relation: str) -> None:
    missing = [name for name in needed if name not in columns]
    if missing:
        raise PointInTimeJoinError(
            f"the {side} ({relation}) have no column(s) {missing}; available: {', '.join(columns)}"
        )


#: The column keeping the caller's row order through the joins.
_ROW_ORDER = "__seeknal_label_row"


def parse_feature_references(features: Sequence[str]) -> dict[str, list[str] | None]:
    """``["fg.a", "fg.b", "other.*"]`` → ``{"fg": ["a", "b"], "other": None}`` (``None``: every feature), in
    the order first named."""
    wanted: dict[str, list[str] | None] = {}
    for reference in features:
        group, _, feature = reference.removeprefix("feature_group.").rpartition(".")
        if not group or not feature:
            raise ValueError(f"'{reference}' does not name a feature: use 'feature_group.feature' or 'feature_group.*'")
        if feature == "*":
            wanted[group] = None
        elif wanted.get(group, []) is not None:
            wanted.setdefault(group, []).append(feature)  # type: ignore[union-attr]
    return wanted


def historical_features(
    connection: "duckdb.DuckDBPyConnection",
    labels: "pa.Table",
    groups: Sequence[tuple[str, "OfflineVersion", list[str] | None]],
    timestamp_col: str,
    full_feature_names: bool,
) -> "pa.Table":
    """The labels with each group's features as of each label's timestamp, in the labels' order.

    ``groups`` are (name, offline version, features or ``None`` for all). Each group is one more ASOF join over
    its Parquet file, so only the feature columns asked for are read.
    """
    import numpy
    import pyarrow as pa

    connection.register("labels_input", labels.append_column(_ROW_ORDER, pa.array(range(labels.num_rows), pa.int64())))
    relation = "labels_input"
    for name, version, wanted in groups:
        available = version.feature_names
        unknown = [feature for feature in wanted or () if feature not in available]
        if unknown:
            raise PointInTimeJoinError(
                f"feature group {name} (version {version.version}) has no feature(s) {unknown}; it has {available}"
            )
        outputs = {feature: f"{name}__{feature}" if full_feature_names else feature for feature in wanted or available}
        feature_relation = f"{scan_parquet(version.data_path)}"
        sql = point_in_time_join(
            connection, relation, feature_relation, version.join_keys, timestamp_col, version.event_time_col, outputs
        )
        relation = f"({sql})"
    joined = connection.sql(f"SELECT * FROM {relation}").to_arrow_table()
    # The join does not keep the labels' order. Row numbers are a permutation of 0..n-1, so inverting it puts the
    # rows back in one linear pass, far cheaper than sorting in SQL.
    rows = joined.column(_ROW_ORDER).to_numpy()
    positions = numpy.empty(len(rows), dtype=numpy.int64)
    positions[rows] = numpy.arange(len(rows), dtype=numpy.int64)
    return joined.drop_columns([_ROW_ORDER]).take(positions)
