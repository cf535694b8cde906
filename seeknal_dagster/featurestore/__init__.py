"""The feature store's Python API: online lookups and point-in-time correct training sets.

Both functions take a loaded :class:`SeeknalProject` or a project directory (loaded once per process and
cached; pass a project to control reloading). Online lookups reuse one store connection per thread, so a
serving loop pays for a point query, not for opening a database.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from seeknal_dagster.featurestore.definition import FeatureGroupDefinition, feature_group_definition
from seeknal_dagster.featurestore.offline import OfflineStore, OfflineVersion
from seeknal_dagster.featurestore.online import OnlineStore, online_table, open_online_store
from seeknal_dagster.featurestore.retrieval import (
    PointInTimeJoinError,
    historical_features,
    parse_feature_references,
    point_in_time_join,
)
from seeknal_dagster.project.loader import SeeknalProject, load_project

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "FeatureGroupDefinition",
    "OfflineStore",
    "PointInTimeJoinError",
    "get_historical_features",
    "get_online_features",
    "offline_version",
    "point_in_time_join",
]

ProjectLike = SeeknalProject | str | os.PathLike[str]
_online_stores = threading.local()


@lru_cache(maxsize=16)
def _load_resolved(root: Path) -> SeeknalProject:
    return load_project(root)


@lru_cache(maxsize=64)
def _load(path: str) -> SeeknalProject:
    """Keyed by the path as given, so a serving loop does not resolve it on every call."""
    return _load_resolved(Path(path).resolve())


def _project(project: ProjectLike) -> SeeknalProject:
    return project if isinstance(project, SeeknalProject) else _load(os.fspath(project))


def offline_version(project: ProjectLike, feature_group: str, version: int | None = None) -> OfflineVersion:
    """A stored version of a feature group (the latest by default); its ``data_path`` is a Parquet file."""
    project = _project(project)
    definition = feature_group_definition(project, feature_group)
    store = OfflineStore(project.target_dir)
    found = store.version(definition.entity, definition.name, version)
    if found is None:
        versions = [item.version for item in store.versions(definition.entity, definition.name)]
        if not versions:
            raise LookupError(f"feature group {definition.name} has no offline data yet: materialize it first")
        raise LookupError(f"feature group {definition.name} has no version {version} (versions: {versions})")
    return found


def _online_target(project: SeeknalProject, feature_group: str) -> tuple[FeatureGroupDefinition, OnlineStore]:
    """The group's definition and this thread's open connection to its online store, cached per project object."""
    cache: dict[tuple[int, str], tuple[SeeknalProject, FeatureGroupDefinition, OnlineStore]]
    cache = getattr(_online_stores, "by_group", None) or {}
    _online_stores.by_group = cache
    cached = cache.get((id(project), feature_group))
    if cached is not None and cached[0] is project:
        return cached[1], cached[2]
    definition = feature_group_definition(project, feature_group)
    if not definition.online.enabled:
        raise LookupError(f"feature group {definition.name} has no online store (materialization.online is off)")
    store = open_online_store(definition, project.root, project.target_dir, project.profiles)
    cache[(id(project), feature_group)] = (project, definition, store)
    return definition, store


def get_online_features(
    project: ProjectLike, feature_group: str, keys: Sequence[Mapping[str, Any] | Any]
) -> list[dict[str, Any]]:
    """The latest stored row (join keys, event time, features) of each entity key, in the order asked.

    ``keys`` are mappings of join key → value, or bare values when the entity has a single join key. A key with no
    stored row gets its key values and ``None`` for everything else.
    """
    definition, store = _online_target(_project(project), feature_group)
    join_keys = definition.join_keys
    key_tuples = []
    for key in keys:
        if isinstance(key, Mapping):
            missing = [name for name in join_keys if name not in key]
            if missing:
                raise ValueError(f"key {dict(key)} lacks join key(s) {missing} of feature group {definition.name}")
            key_tuples.append(tuple(key[name] for name in join_keys))
        elif len(join_keys) == 1:
            key_tuples.append((key,))
        else:
            raise ValueError(f"feature group {definition.name} has join keys {list(join_keys)}: pass keys as mappings")
    return store.lookup(online_table(definition), join_keys, key_tuples)


def get_historical_features(
    project: ProjectLike,
    entity_df: "pd.DataFrame | pa.Table",
    features: Sequence[str],
    timestamp_col: str = "event_time",
    *,
    versions: Mapping[str, int] | None = None,
    full_feature_names: bool = False,
    connection: "duckdb.DuckDBPyConnection | None" = None,
) -> "pd.DataFrame | pa.Table":
    """``entity_df`` (join keys and ``timestamp_col`` per row) with the features asked for, each row getting the
    latest values at or before its timestamp, never later ones (no leakage into training data).

    ``features`` are ``"feature_group.feature"`` or ``"feature_group.*"``; ``versions`` pins groups to an older
    offline version; ``full_feature_names`` names columns ``<group>__<feature>``. Returns the same kind of table it
    was given (pandas or Arrow), rows in the same order. The joins run in DuckDB over the offline Parquet files:
    feature tables are streamed, never loaded into pandas.
    """
    import duckdb
    import pyarrow as pa

    project = _project(project)
    groups = [
        (name, offline_version(project, name, (versions or {}).get(name)), wanted)
        for name, wanted in parse_feature_references(features).items()
    ]
    labels = entity_df if isinstance(entity_df, pa.Table) else pa.Table.from_pandas(entity_df, preserve_index=False)
    cursor = duckdb.connect() if connection is None else connection.cursor()
    try:
        result = historical_features(cursor, labels, groups, timestamp_col, full_feature_names)
    finally:
        cursor.close()
    return result if isinstance(entity_df, pa.Table) else result.to_pandas()
