"""What a ``profile`` node may say: the input to profile, which columns, how many top values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError
from seeknal_dagster.project.models import ProfileSpec

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

DEFAULT_TOP_VALUES = 5


def profile_settings(spec: ProfileSpec) -> tuple[list[str] | None, int]:
    """(the columns to profile, or ``None`` for all; how many top values to keep)."""
    profile = spec.profile or {}
    columns = profile.get("columns")
    if isinstance(columns, str):
        columns = [columns]
    if columns is not None and not isinstance(columns, list):
        raise SettingError("profile.columns must be a list of column names", "profile.columns")
    default_top = spec.params.get("max_top_values", DEFAULT_TOP_VALUES)
    top = (profile.get("params") or {}).get("max_top_values", default_top)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise SettingError(f"max_top_values must be a positive integer (got {top!r})", "profile.params.max_top_values")
    return ([str(column) for column in columns] if columns is not None else None), top


def check_profile(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    spec: ProfileSpec = node.spec  # type: ignore[assignment]
    if not spec.input_ids():
        raise SettingError("a profile needs 'inputs' naming the node to profile", "inputs")
    profile_settings(spec)
    return iter(())
