"""The Dagster layer: translator, ``@seeknal_assets``, ``SeeknalResource`` and ``build_definitions``."""

from seeknal_dagster.assets.component import SeeknalProjectComponent
from seeknal_dagster.assets.decorator import seeknal_assets
from seeknal_dagster.assets.definitions import build_definitions
from seeknal_dagster.assets.resource import SeeknalResource
from seeknal_dagster.assets.translator import SeeknalTranslator

__all__ = [
    "SeeknalProjectComponent",
    "SeeknalResource",
    "SeeknalTranslator",
    "build_definitions",
    "seeknal_assets",
]
