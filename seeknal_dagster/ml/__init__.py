"""Machine learning for model nodes: algorithms by name, training and evaluation, versioned artifacts."""

from seeknal_dagster.ml.artifacts import LoadedModel, ModelArtifactError, load_model

__all__ = ["LoadedModel", "ModelArtifactError", "load_model"]
