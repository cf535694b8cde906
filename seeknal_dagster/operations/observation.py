"""Observable assets standing for the data sources read, so Dagster tracks new data like new code.

Each fingerprintable source node depends on an observable asset ``source_data/<name>`` whose data version is the
fingerprint of the files or table it reads. A materialization records the data version it read; when a later
observation reports another one, Dagster marks the source node stale ("has a new dependency data version"). In
Dagster 1.13 staleness reaches only the direct consumer of a changed version: the nodes further downstream turn
stale once the source is re-materialized with different output, and ``seeknal-dagster plan`` lists the whole
affected set at once.
"""

import warnings
from typing import TYPE_CHECKING, Iterator, Mapping

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetsDefinition,
    AssetSpec,
    BetaWarning,
    DataVersion,
    MetadataValue,
    ObserveResult,
    multi_observable_source_asset,
)

from seeknal_dagster.assets._compat import DATA_VERSION_IS_USER_PROVIDED_TAG, DATA_VERSION_TAG

from seeknal_dagster.assets.translator import NODE_ID_METADATA_KEY, SeeknalTranslator
from seeknal_dagster.executors import ExecutorError
from seeknal_dagster.executors.fingerprints import SourceFingerprint, fingerprint_source

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject

SOURCE_DATA_GROUP = "source_data"


def source_data_keys(
    project: "SeeknalProject", node_ids: set[str], translator: SeeknalTranslator
) -> dict[str, AssetKey]:
    """Node id → key of the observable data asset, for every fingerprintable source among ``node_ids``."""
    keys = {node_id: translator.get_source_data_key(project, node_id) for node_id in sorted(node_ids)}
    return {node_id: key for node_id, key in keys.items() if key is not None}


def observation_metadata(fingerprint: SourceFingerprint) -> dict[str, object]:
    return {NODE_ID_METADATA_KEY: fingerprint.node_id, **{f"seeknal/{k}": v for k, v in fingerprint.details.items()}}


def observation_event(key: AssetKey, fingerprint: SourceFingerprint) -> AssetObservation:
    """An observation recorded outside a run (by the sensor) carrying the data version."""
    return AssetObservation(
        asset_key=key,
        metadata=observation_metadata(fingerprint),
        tags={DATA_VERSION_TAG: fingerprint.version, DATA_VERSION_IS_USER_PROVIDED_TAG: "true"},
    )


def source_data_assets(project: "SeeknalProject", data_keys: Mapping[str, AssetKey], *, name: str) -> AssetsDefinition:
    """One observable multi-asset for all source data of a project: "Observe sources" in the UI runs it."""
    node_by_key = {key: node_id for node_id, key in data_keys.items()}
    specs = [
        AssetSpec(
            key=key,
            description=f"The data `{node_id}` reads ({project.nodes[node_id].file}), observed by fingerprint.",
            metadata={NODE_ID_METADATA_KEY: node_id, "seeknal/file": MetadataValue.path(str(project.nodes[node_id].file))},
            group_name=SOURCE_DATA_GROUP,
            kinds={"seeknal"},
        )
        for node_id, key in data_keys.items()
    ]

    with warnings.catch_warnings():  # the decorator is marked beta in Dagster 1.13
        warnings.simplefilter("ignore", BetaWarning)
        observe = multi_observable_source_asset(name=name, specs=specs, can_subset=True)

    @observe
    def observe_source_data(context: AssetExecutionContext) -> Iterator[ObserveResult]:
        """Never fails, and reports every selected key: a run observing and materializing together would skip
        all its nodes otherwise. Data that cannot be found is observed without a version (Dagster's "unknown"),
        and the source node's own run reports why."""
        for key in sorted(context.selected_asset_keys, key=lambda asset_key: node_by_key[asset_key]):
            try:
                fingerprint = fingerprint_source(project, node_by_key[key])
            except ExecutorError as error:
                context.log.warning(f"no data version: {error}")
                yield ObserveResult(asset_key=key, metadata={NODE_ID_METADATA_KEY: error.node_id, "seeknal/error": error.message})
                continue
            yield ObserveResult(
                asset_key=key, data_version=DataVersion(fingerprint.version), metadata=observation_metadata(fingerprint)
            )

    return observe_source_data
