"""Run Seeknal pipelines inside Dagster: one software-defined asset per Seeknal node.

The Dagster layer is imported on first use, so ``seeknal_dagster.featurestore`` (online lookups in a model
server) and ``seeknal-dagster validate`` do not pay for importing Dagster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seeknal_dagster.project import ProjectLoadError, SeeknalProject, load_project

if TYPE_CHECKING:
    from seeknal_dagster.assets import (
        SeeknalProjectComponent,
        SeeknalResource,
        SeeknalTranslator,
        build_definitions,
        seeknal_assets,
    )

_DAGSTER_LAYER = {
    "SeeknalProjectComponent",
    "SeeknalResource",
    "SeeknalTranslator",
    "build_definitions",
    "seeknal_assets",
}

__all__ = ["ProjectLoadError", "SeeknalProject", "load_project", *sorted(_DAGSTER_LAYER)]


def __getattr__(name: str) -> Any:
    if name in _DAGSTER_LAYER:
        return getattr(importlib.import_module("seeknal_dagster.assets"), name)
    raise AttributeError(f"module 'seeknal_dagster' has no attribute {name!r}")
