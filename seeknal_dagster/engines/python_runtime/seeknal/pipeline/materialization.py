"""Seeknal's materialization settings of a Python feature group. Their values were read from the file when the
project loaded; these classes only let the file import and run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class OfflineConfig:
    format: str = "parquet"
    partition_by: list[str] | None = None


@dataclass
class OnlineConfig:
    enabled: bool = True
    ttl_seconds: int | None = None


@dataclass
class IcebergTable:
    namespace: str
    name: str
    catalog: str = "atlas"


@dataclass
class Materialization:
    offline: OfflineConfig | None = None
    online: OnlineConfig | None = None
    table: IcebergTable | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}
