"""Run Seeknal pipelines inside Dagster: one software-defined asset per Seeknal node."""

from seeknal_dagster.assets import (
    SeeknalProjectComponent,
    SeeknalResource,
    SeeknalTranslator,
    build_definitions,
    external_asset_specs,
    seeknal_assets,
)
from seeknal_dagster.project import ProjectLoadError, SeeknalProject, load_project

__all__ = [
    "SeeknalProjectComponent",
    "ProjectLoadError",
    "SeeknalProject",
    "SeeknalResource",
    "SeeknalTranslator",
    "build_definitions",
    "external_asset_specs",
    "load_project",
    "seeknal_assets",
]
