"""Dagster code location for the sample project: every Seeknal node under ``seeknal/`` becomes an asset."""

from pathlib import Path

from seeknal_dagster import build_definitions

defs = build_definitions(Path(__file__).parent)
