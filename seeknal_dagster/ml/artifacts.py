"""Versioned model artifacts under ``target/models/<name>/v<N>/``, and loading them without running foreign code.

A version directory holds ``model.skops``, ``metrics.json``, ``features.json``, ``training_data.json`` and a
``manifest.json`` listing a SHA-256 checksum of every other file. It is written in a staging directory and renamed
into place, so a reader never sees half a version.

Why skops and not pickle: unpickling runs whatever code the file names, so anyone able to drop a file under
``target/`` could run code in the Dagster process. A skops file is data; loading it builds only types on an allow
list. Checksums alone would not help (whoever plants a model can rewrite its manifest), so they are a second guard
against edits and corruption, while the allow list below is the guard against code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import skops.io as sio

from seeknal_dagster.ml.training import FeatureColumns, as_model_input

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject

MODEL_FILE = "model.skops"
MANIFEST_FILE = "manifest.json"
#: Types beyond skops' built-in allow list that the estimators trained here contain. Each is plain data (tree
#: node arrays, a dtype); none can name code to run. A file needing anything else is refused.
TRUSTED_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)
_VERSION_DIR = re.compile(r"^v(\d+)$")


class ModelArtifactError(RuntimeError):
    """A model version that is missing, was changed after training, or holds types that are not allowed."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, types and values: equal exactly when the training data is equal."""
    digest = hashlib.sha256(json.dumps([[str(name), str(dtype)] for name, dtype in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def models_dir(target_dir: Path, name: str) -> Path:
    return Path(target_dir) / "models" / name


def versions(directory: Path) -> list[int]:
    """The version numbers present under a model's directory, ascending."""
    if not directory.is_dir():
        return []
    found = (_VERSION_DIR.match(entry.name) for entry in directory.iterdir() if entry.is_dir())
    return sorted(int(match.group(1)) for match in found if match)


def write_version(directory: Path, estimator: Any, documents: dict[str, Any], manifest: dict[str, Any]) -> tuple[int, Path]:
    """Write a new ``v<N>`` (N = latest + 1) with the model, the JSON documents and a checksummed manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    try:
        sio.dump(estimator, staging / MODEL_FILE)
        for file_name, document in documents.items():
            (staging / file_name).write_text(json.dumps(document, indent=2, default=str) + "\n")
        checksums = {entry.name: sha256_of(entry) for entry in sorted(staging.iterdir())}
        while True:
            version = max(versions(directory), default=0) + 1
            content = {**manifest, "version": version, "format": "skops", "sha256": checksums}
            (staging / MANIFEST_FILE).write_text(json.dumps(content, indent=2, default=str) + "\n")
            final = directory / f"v{version}"
            try:
                os.rename(staging, final)
            except OSError:
                if final.exists():  # another run took this number first: take the next one
                    continue
                raise
            return version, final
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@dataclass
class LoadedModel:
    """A trained model version: the fitted scikit-learn pipeline and what was recorded about it."""

    estimator: Any
    version: int
    directory: Path
    manifest: dict[str, Any]
    metrics: dict[str, float]
    features: dict[str, Any]

    def model_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's feature columns of ``frame`` (names in ``features.json``), typed as in training."""
        return as_model_input(frame, FeatureColumns(self.features["numeric"], self.features["categorical"], {}))

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.estimator.predict(self.model_input(frame))


def load_version(directory: Path) -> LoadedModel:
    """Load one version directory after checking every checksum and every type the model file holds."""
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelArtifactError(f"{directory} has no {MANIFEST_FILE}: not a model version written by seeknal-dagster")
    manifest = json.loads(manifest_path.read_text())
    checksums = manifest.get("sha256") or {}
    if MODEL_FILE not in checksums:
        raise ModelArtifactError(f"{manifest_path} records no checksum for {MODEL_FILE}")
    for file_name, expected in checksums.items():
        path = directory / file_name
        if not path.is_file() or sha256_of(path) != expected:
            raise ModelArtifactError(
                f"{path} does not match the SHA-256 recorded in {manifest_path}: it changed after training; "
                "refusing to load it"
            )
    model_path = directory / MODEL_FILE
    untrusted = sio.get_untrusted_types(file=model_path)
    refused = sorted(set(untrusted) - TRUSTED_TYPES)
    if refused:
        raise ModelArtifactError(f"{model_path} holds types that are not allowed: {refused}; refusing to load it")
    return LoadedModel(
        estimator=sio.load(model_path, trusted=untrusted),
        version=int(manifest["version"]),
        directory=directory,
        manifest=manifest,
        metrics=json.loads((directory / "metrics.json").read_text()),
        features=json.loads((directory / "features.json").read_text()),
    )


def load_model(project: "SeeknalProject | str | os.PathLike[str]", name: str, version: int | None = None) -> LoadedModel:
    """A model node's trained version (the latest when ``version`` is None), verified before it is loaded.

    ``project`` is a loaded project or a project directory; ``name`` is the model's name or ``model.<name>``.
    """
    target_dir = getattr(project, "target_dir", None) or Path(project) / "target"
    directory = models_dir(Path(target_dir), name.removeprefix("model."))
    available = versions(directory)
    if not available:
        raise ModelArtifactError(f"no trained version of model '{name}' under {directory}: materialize it first")
    chosen = available[-1] if version is None else int(version)
    if chosen not in available:
        raise ModelArtifactError(f"model '{name}' has no version {chosen} (available: {available})")
    return load_version(directory / f"v{chosen}")
