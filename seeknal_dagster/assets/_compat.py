"""The few Dagster internals this package needs that Dagster 1.13 has no public API for, in one place.

Everything else uses ``dagster``'s public names. ``tests/test_dagster_compat.py`` checks each of these against what
Dagster really does (the tags it writes, the provenance it reads back), so an upgrade that moves or changes them
fails there, naming the symbol, instead of somewhere deep in a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from dagster import AssetKey, AssetsDefinition, DataVersion
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.data_version import (
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    extract_data_provenance_from_entry,
    extract_data_version_from_entry,
    get_input_data_version_tag,
)
from dagster._core.storage.tags import MAX_RETRIES_TAG, RETRY_ON_ASSET_OR_OP_FAILURE_TAG, RETRY_STRATEGY_TAG

if TYPE_CHECKING:
    # Only named in type hints: what define_asset_job() returns.
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition  # noqa: F401

__all__ = [
    "AssetGraph",
    "DATA_VERSION_IS_USER_PROVIDED_TAG",
    "DATA_VERSION_TAG",
    "MAX_RETRIES_TAG",
    "NEVER_OBSERVED",
    "RETRY_ON_ASSET_OR_OP_FAILURE_TAG",
    "RETRY_STRATEGY_TAG",
    "extract_data_provenance_from_entry",
    "asset_graph_of",
    "extract_data_version_from_entry",
    "input_data_version_tag",
]

#: The data version Dagster records for an input that was never observed ("INITIAL").
NEVER_OBSERVED: DataVersion = DEFAULT_DATA_VERSION


def input_data_version_tag(key: AssetKey) -> str:
    """The materialization tag holding the data version an asset read from its dependency ``key``."""
    return get_input_data_version_tag(key)


def asset_graph_of(assets: Sequence[AssetsDefinition]) -> AssetGraph:
    """The asset graph of some assets, before their resources exist (``Definitions.resolve_asset_graph`` would
    require them): what schedule selections are resolved against while the definitions are being built."""
    return AssetGraph.from_assets(assets)
