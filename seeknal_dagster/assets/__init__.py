"""The Dagster layer: translator, ``@seeknal_assets`` and ``SeeknalResource`` (``build_definitions`` and the
component, which also wire ``operations/``, live at the top of the package)."""

from seeknal_dagster.assets.decorator import seeknal_assets
from seeknal_dagster.assets.resource import SeeknalResource
from seeknal_dagster.assets.translator import SeeknalTranslator

__all__ = ["SeeknalResource", "SeeknalTranslator", "seeknal_assets"]
