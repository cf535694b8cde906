"""``ctx``: what a Python node's function receives — its inputs, a DuckDB connection, its params, a little state."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping


class PipelineState:
    """A small JSON key-value store kept per node across runs (``target/pipeline_state/<kind>_<name>.json``)."""

    def __init__(self, target_dir: Path, node_id: str):
        self.path = Path(target_dir) / "pipeline_state" / f"{node_id.replace('.', '_')}.json"
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            try:
                self._data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> Any:
        self.data[key] = value
        self.save()
        return value

    def delete(self, key: str) -> None:
        if self.data.pop(key, None) is not None:
            self.save()

    def save(self) -> Path:
        """Written whole to a temporary and renamed: a node killed mid-write leaves the previous state."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        temporary.write_text(json.dumps(self.data, indent=2, default=str))
        os.replace(temporary, self.path)
        return self.path


class PipelineContext:
    """The ``ctx`` argument of a decorated function.

    ``ref("kind.name")`` reads an input's output (``target/intermediate/<kind>_<name>.parquet``) as a pandas
    DataFrame; ``duckdb`` is this node's own in-memory connection, whose SQL sees the function's local DataFrames
    by name; ``params`` are the decorator's params (``{{ }}`` resolved) under the run's overrides.
    """

    def __init__(
        self,
        *,
        project_path: str | Path,
        target_dir: str | Path,
        node_id: str,
        node_kind: str,
        inputs: Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        node_meta: Mapping[str, Any] | None = None,
    ):
        self.project_path = Path(project_path)
        self.target_dir = Path(target_dir)
        self.node_id = node_id
        self.node_kind = node_kind
        self.params = dict(params or {})
        self.config = dict(config or {})
        self.node_meta = dict(node_meta or {})
        self._inputs = dict(inputs)
        self._frames: dict[str, Any] = {}
        self._connection: Any = None
        self._state: PipelineState | None = None

    @property
    def duckdb(self) -> Any:
        if self._connection is None:
            import duckdb

            self._connection = duckdb.connect(self.config.get("path", ":memory:"))
        return self._connection

    @property
    def state(self) -> PipelineState:
        if self._state is None:
            self._state = PipelineState(self.target_dir, self.node_id)
        return self._state

    @property
    def llm(self) -> Any:
        raise RuntimeError("ctx.llm (Seeknal Ask) is not available when seeknal-dagster runs a node")

    def get_param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def ref(self, node_id: str) -> Any:
        """The output of an input node, as a pandas DataFrame (read once per run of this node)."""
        path = self._inputs.get(node_id)
        if path is None:
            declared = ", ".join(sorted(name for name in self._inputs if "." in name)) or "none"
            raise ValueError(
                f"ctx.ref({node_id!r}): not an input of {self.node_id} (its inputs: {declared}). seeknal-dagster "
                f"learns a node's inputs without running it, from inputs=[...] and ctx.ref('kind.name') calls "
                f"with a literal name: add {node_id!r} to the decorator's inputs=[...]"
            )
        if path not in self._frames:
            import pandas

            self._frames[path] = pandas.read_parquet(path)
        return self._frames[path]

    def features(self, *arguments: Any, **options: Any) -> Any:
        raise NotImplementedError(
            "ctx.features() is not available when seeknal-dagster runs a node: read the feature group with "
            "ctx.ref('feature_group.<name>'), or use seeknal_dagster.featurestore.get_historical_features"
        )

    def entity(self, *arguments: Any, **options: Any) -> Any:
        raise NotImplementedError(
            "ctx.entity() is not available when seeknal-dagster runs a node: read the feature group with "
            "ctx.ref('feature_group.<name>')"
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
