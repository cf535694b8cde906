"""Run Seeknal pipelines inside Dagster: one software-defined asset per Seeknal node.

The Dagster layer is imported on first use, so ``seeknal_dagster.featurestore`` (online lookups in a model
server) and ``seeknal-dagster validate`` do not pay for importing Dagster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seeknal_dagster.gc_pause import gc_paused

with gc_paused():  # importing is allocating: see gc_pause
    from seeknal_dagster.project import ProjectLoadError, SeeknalProject, load_project

if TYPE_CHECKING:
    from seeknal_dagster.assets import SeeknalResource, SeeknalTranslator, seeknal_assets
    from seeknal_dagster.component import SeeknalProjectComponent
    from seeknal_dagster.definitions import build_definitions

#: Public names of the Dagster layer → the module defining each.
_DAGSTER_LAYER = {
    "SeeknalProjectComponent": "seeknal_dagster.component",
    "SeeknalResource": "seeknal_dagster.assets",
    "SeeknalTranslator": "seeknal_dagster.assets",
    "build_definitions": "seeknal_dagster.definitions",
    "seeknal_assets": "seeknal_dagster.assets",
}

__all__ = ["ProjectLoadError", "SeeknalProject", "load_project", *sorted(_DAGSTER_LAYER)]


def __getattr__(name: str) -> Any:
    if name in _DAGSTER_LAYER:
        with gc_paused():  # the first use imports Dagster
            return getattr(importlib.import_module(_DAGSTER_LAYER[name]), name)
    raise AttributeError(f"module 'seeknal_dagster' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The lazy names too: ``dg`` lists a package's components with ``dir()``."""
    return sorted({*globals(), *_DAGSTER_LAYER})
