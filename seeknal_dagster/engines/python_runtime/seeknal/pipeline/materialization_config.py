"""Seeknal's table materialization settings; read from the file at load time, importable at run time."""

from __future__ import annotations

from typing import Any


class MaterializationConfig:
    def __init__(self, **settings: Any):
        self.settings = settings

    def to_dict(self) -> dict[str, Any]:
        return dict(self.settings)
