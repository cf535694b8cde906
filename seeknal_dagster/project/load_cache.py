"""JSON files under ``<target>/seeknal_dagster/`` that make the next load of an unchanged project cheap.

A code location loads the project on every deploy, reload and run worker start. What a load computes from a file
alone (its parsed YAML) or from a node's definition (its planned columns) is kept here, keyed by what decides it,
so the next load recomputes only what changed. A cache is never the source of truth: an unreadable, corrupt or
older-version file is ignored, a read-only target just means computing again, and a file is replaced in one
rename, so a load never reads a half-written one.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

CACHE_DIR = Path("seeknal_dagster")


def read_cache(path: Path, version: str) -> dict[str, Any]:
    """The entries of a cache file written with ``version``; empty when it is missing, unreadable or older."""
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(cached, dict) or cached.get("version") != version or not isinstance(cached.get("entries"), dict):
        return {}
    return cached["entries"]


def write_cache(path: Path, version: str, entries: dict[str, Any]) -> None:
    """Replace a cache file with ``entries`` in one rename (nothing is written when the target is read-only)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"version": version, "entries": entries}))
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only target or a full disk: computing again next time is all it costs
    finally:
        temporary.unlink(missing_ok=True)
