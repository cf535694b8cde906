"""Versioned model artifacts under ``target/models/<name>/v<N>/``, and loading them without running foreign code.

A version directory holds ``model.skops``, ``metrics.json``, ``features.json``, ``training_data.json`` and a
``manifest.json`` listing a SHA-256 checksum of every other file; loading refuses a version with a file the
manifest does not list, a listed file missing, or any file changed. It is written in a staging directory and renamed
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
from seeknal_dagster.project.models import NODE_NAME_PATTERN

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject

MODEL_FILE = "model.skops"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
FEATURES_FILE = "features.json"
#: The files the loader reads, which the manifest must list (beside every other file of the version).
REQUIRED_FILES = frozenset({MODEL_FILE, METRICS_FILE, FEATURES_FILE})
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


def _manifest(directory: Path) -> dict[str, Any]:
    """A version's manifest, checked to list every file of the directory (and nothing else) with a SHA-256 that
    matches: a file dropped from the manifest, added beside it, missing or changed makes the version unloadable."""
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelArtifactError(f"{directory} has no {MANIFEST_FILE}: not a model version written by seeknal-dagster")
    try:
        manifest = json.loads(manifest_path.read_text())
        checksums = manifest["sha256"]
        version = int(manifest["version"])
    except (OSError, ValueError, TypeError, KeyError):
        raise ModelArtifactError(f"{manifest_path} cannot be read as a model manifest; refusing to load it") from None
    if not isinstance(checksums, dict) or not all(isinstance(value, str) for value in checksums.values()):
        raise ModelArtifactError(f"{manifest_path} does not map file names to SHA-256 checksums; refusing to load it")
    if f"v{version}" != directory.name:
        raise ModelArtifactError(f"{manifest_path} describes version {version}, not {directory.name}; refusing to load it")
    unlisted = REQUIRED_FILES - set(checksums)
    if unlisted:
        raise ModelArtifactError(f"{manifest_path} records no checksum for {', '.join(sorted(unlisted))}; refusing to load it")
    present = {entry.name for entry in directory.iterdir()} - {MANIFEST_FILE}
    extra, missing = present - set(checksums), set(checksums) - present
    if extra or missing:
        problem = f"holds file(s) its manifest does not list: {', '.join(sorted(extra))}" if extra else (
            f"lacks file(s) its manifest lists: {', '.join(sorted(missing))}"
        )
        raise ModelArtifactError(f"{directory} {problem}; refusing to load it")
    for file_name, expected in checksums.items():
        path = directory / file_name
        if not path.is_file() or path.is_symlink() or sha256_of(path) != expected:
            raise ModelArtifactError(
                f"{path} does not match the SHA-256 recorded in {manifest_path}: it changed after training; "
                "refusing to load it"
            )
    return manifest


def load_version(directory: Path) -> LoadedModel:
    """Load one version directory after checking every file against its manifest and every type the model file
    holds; only files the manifest lists are read."""
    manifest = _manifest(directory)
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
        metrics=json.loads((directory / METRICS_FILE).read_text()),
        features=json.loads((directory / FEATURES_FILE).read_text()),
    )


def load_model(project: "SeeknalProject | str | os.PathLike[str]", name: str, version: int | None = None) -> LoadedModel:
    """A model node's trained version (the latest when ``version`` is None), verified before it is loaded.

    ``project`` is a loaded project or a project directory; ``name`` is the model's name or ``model.<name>``, a node
    name (letters, digits, ``_`` and ``-``): nothing outside ``target/models/<name>/`` is ever read.
    """
    model_name = str(name).removeprefix("model.")
    if not NODE_NAME_PATTERN.fullmatch(model_name):
        raise ModelArtifactError(f"{name!r} is not a model name (a node name: letters, digits, '_' and '-')")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ModelArtifactError(f"version must be a whole number from 1 (got {version!r})")
    target_dir = getattr(project, "target_dir", None) or Path(project) / "target"
    models_root = (Path(target_dir) / "models").resolve()
    directory = models_dir(Path(target_dir), model_name)
    available = versions(directory)
    if not available:
        raise ModelArtifactError(f"no trained version of model '{name}' under {directory}: materialize it first")
    chosen = available[-1] if version is None else version
    if chosen not in available:
        raise ModelArtifactError(f"model '{name}' has no version {chosen} (available: {available})")
    version_dir = directory / f"v{chosen}"
    if models_root not in version_dir.resolve().parents:
        raise ModelArtifactError(f"{version_dir} leads outside {models_root} (a symlink?); refusing to load it")
    return load_version(version_dir)
