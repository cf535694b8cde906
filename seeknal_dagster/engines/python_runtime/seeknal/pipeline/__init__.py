"""Seeknal's Python pipeline API (``from seeknal.pipeline import source, transform, …``), as seeknal-dagster runs it.

The decorators return the function unchanged and record its declaration; seeknal-dagster calls the function with
a :class:`PipelineContext` and writes what it returns.
"""

from .context import PipelineContext, PipelineState
from .decorators import (
    clear_registry,
    feature_group,
    get_registered_nodes,
    materialize,
    second_order_aggregation,
    source,
    transform,
)
from .materialization import IcebergTable, Materialization, OfflineConfig, OnlineConfig
from .materialization_config import MaterializationConfig

__all__ = [
    "IcebergTable",
    "Materialization",
    "MaterializationConfig",
    "OfflineConfig",
    "OnlineConfig",
    "PipelineContext",
    "PipelineState",
    "clear_registry",
    "feature_group",
    "get_registered_nodes",
    "materialize",
    "second_order_aggregation",
    "source",
    "transform",
]
