"""The offline store: versioned Parquet per entity and feature group, and the consolidated entity table.

Layout, under the project's ``target/feature_store/``::

    <entity>/<feature_group>/v<N>/data.parquet     every row of version N (join keys, event time, features)
    <entity>/<feature_group>/v<N>/_metadata.json   version, entity, join keys, event time, features, hashes
    <entity>/features.parquet                      one row per (join keys, event_time), a STRUCT per group
    <entity>/_entity_catalog.json                  which groups (and versions) the entity table holds

A definition or schema change starts a new version; older versions stay on disk and readable.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from seeknal_dagster.engines.duckdb_engine import quote_identifier, scan_parquet, write_query
from seeknal_dagster.engines.outputs import atomic_path

if TYPE_CHECKING:
    import duckdb

FEATURE_STORE_DIR = "feature_store"
ENTITY_TABLE = "features.parquet"
_VERSION_DIR = re.compile(r"^v(\d+)$")


def schema_hash(columns: Sequence[tuple[str, str]]) -> str:
    """A fingerprint of (column, type) pairs, in order."""
    return hashlib.sha256(json.dumps([list(column) for column in columns]).encode()).hexdigest()[:16]


def write_json(path: Path, document: dict[str, Any]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


@dataclass(frozen=True)
class OfflineVersion:
    """One stored version of a feature group."""

    directory: Path
    version: int

    @property
    def data_path(self) -> Path:
        return self.directory / "data.parquet"

    @property
    def metadata_path(self) -> Path:
        return self.directory / "_metadata.json"

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return json.loads(self.metadata_path.read_text())

    @property
    def feature_names(self) -> list[str]:
        return [feature["name"] for feature in self.metadata["features"]]

    @property
    def join_keys(self) -> list[str]:
        return list(self.metadata["join_keys"])

    @property
    def event_time_col(self) -> str:
        return str(self.metadata["event_time_col"])

    def matches(self, definition_hash: str, columns_hash: str) -> bool:
        """Whether data of this definition and schema belongs in this version."""
        return self.metadata.get("definition_hash") == definition_hash and self.metadata.get("schema_hash") == columns_hash


class OfflineStore:
    def __init__(self, target_dir: Path):
        self.root = Path(target_dir) / FEATURE_STORE_DIR

    def entity_dir(self, entity: str) -> Path:
        return self.root / entity

    def versions(self, entity: str, feature_group: str) -> list[OfflineVersion]:
        """Every complete version (data and metadata written), oldest first."""
        group_dir = self.entity_dir(entity) / feature_group
        found = []
        for directory in group_dir.iterdir() if group_dir.is_dir() else ():
            match = _VERSION_DIR.match(directory.name)
            version = OfflineVersion(directory, int(match.group(1))) if match else None
            if version and version.metadata_path.is_file() and version.data_path.is_file():
                found.append(version)
        return sorted(found, key=lambda item: item.version)

    def version(self, entity: str, feature_group: str, number: int | None = None) -> OfflineVersion | None:
        """Version ``number``, or the latest when ``None``; ``None`` when it does not exist."""
        versions = self.versions(entity, feature_group)
        if number is None:
            return versions[-1] if versions else None
        return next((version for version in versions if version.version == number), None)

    def version_to_write(
        self, entity: str, feature_group: str, definition_hash: str, columns_hash: str
    ) -> tuple[OfflineVersion, bool]:
        """(version, is_new): the latest version when the definition and schema still match, else the next one."""
        latest = self.version(entity, feature_group)
        if latest is not None and latest.matches(definition_hash, columns_hash):
            return latest, False
        number = latest.version + 1 if latest else 1
        return OfflineVersion(self.entity_dir(entity) / feature_group / f"v{number}", number), True

    def consolidate(
        self,
        connection: "duckdb.DuckDBPyConnection",
        entity: str,
        join_keys: Sequence[str],
        groups: dict[str, OfflineVersion],
    ) -> tuple[Path, int]:
        """Rebuild ``<entity>/features.parquet``: one row per (join keys, event time) of any group, each group's
        features as one STRUCT column named after it (NULL where the group has no row at that time).

        The groups' rows are stacked (each filling only its own STRUCT column) and grouped once, which costs one
        hash aggregate however many groups the entity has, instead of a join per group.
        """
        keys = ", ".join(quote_identifier(key) for key in join_keys)
        stacked = []
        for name, version in sorted(groups.items()):
            features = ", ".join(f"{quote_identifier(f)} := {quote_identifier(f)}" for f in version.feature_names)
            stacked.append(
                f"SELECT {keys}, {quote_identifier(version.event_time_col)} AS event_time, "
                f"struct_pack({features}) AS {quote_identifier(name)} FROM {scan_parquet(version.data_path)}"
            )
        columns = ", ".join(f"any_value({quote_identifier(name)}) AS {quote_identifier(name)}" for name in sorted(groups))
        query = (
            f"SELECT {keys}, event_time, {columns} FROM ({' UNION ALL BY NAME '.join(stacked)}) "
            f"GROUP BY {keys}, event_time"
        )
        path = self.entity_dir(entity) / ENTITY_TABLE
        row_count = write_query(connection, query, path)
        write_json(
            self.entity_dir(entity) / "_entity_catalog.json",
            {
                "entity": entity,
                "join_keys": list(join_keys),
                "feature_groups": {
                    name: {"version": version.version, "features": version.metadata["features"]}
                    for name, version in sorted(groups.items())
                },
                "updated_at": datetime.now(timezone.utc).isoformat(),
            },
        )
        return path, row_count
