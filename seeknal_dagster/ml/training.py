"""Fitting a model on an assembled training frame: encode features, split, fit, evaluate.

Numeric and boolean columns are imputed with their median; text columns are one-hot encoded (unseen values
are ignored at scoring time). Both steps live in the saved pipeline, so scoring applies exactly what training did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from seeknal_dagster.ml.algorithms import Task
from seeknal_dagster.ml.evaluation import class_scores, feature_importances, held_out_metrics

#: A text column with more distinct values than this is an identifier or free text, not a category.
MAX_CATEGORIES = 50


class TrainingError(ValueError):
    """The training data cannot train the requested model (too few rows, one class only, no features)."""


@dataclass
class FeatureColumns:
    """The model's input columns by encoding, and the candidates left out with the reason."""

    numeric: list[str]
    categorical: list[str]
    skipped: dict[str, str]

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def as_model_input(frame: pd.DataFrame, columns: FeatureColumns) -> pd.DataFrame:
    """Numbers as floats and text as objects with NaN for missing values, the types the pipeline was fit on."""
    prepared = pd.DataFrame(index=frame.index)
    for column in columns.numeric:
        prepared[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in columns.categorical:
        values = frame[column].astype(object)
        prepared[column] = values.where(values.notna(), np.nan)
    return prepared


def choose_columns(frame: pd.DataFrame, numeric: list[str], text: list[str], explicit: bool) -> FeatureColumns:
    """Keep text columns that look categorical (unless the user listed them); report what was dropped."""
    skipped: dict[str, str] = {}
    categorical = []
    for column in text:
        distinct = frame[column].nunique()
        if distinct > MAX_CATEGORIES and not explicit:
            skipped[column] = f"text with {distinct} distinct values"
        else:
            categorical.append(column)
    return FeatureColumns(numeric=list(numeric), categorical=categorical, skipped=skipped)


def feature_step(columns: FeatureColumns) -> ColumnTransformer:
    steps = []
    if columns.numeric:
        steps.append(("numeric", SimpleImputer(strategy="median", keep_empty_features=True), columns.numeric))
    if columns.categorical:
        encoder = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
        steps.append(("categorical", encoder, columns.categorical))
    return ColumnTransformer(steps, verbose_feature_names_out=False)


@dataclass
class TrainedModel:
    pipeline: Pipeline
    metrics: dict[str, float]
    importances: list[tuple[str, float]]
    train_rows: int
    test_rows: int
    classes: list[Any]


def fit_and_evaluate(
    frame: pd.DataFrame,
    columns: FeatureColumns,
    label: str,
    task: Task,
    estimator: Any,
    test_size: float,
    random_state: int,
) -> TrainedModel:
    """Split with a fixed seed (stratified for classes), fit on one part, measure on the other."""
    if not columns.all:
        raise TrainingError("no usable feature columns (numbers, booleans or categorical text)")
    features, target = as_model_input(frame, columns), frame[label]
    if task == "classification" and target.nunique() < 2:
        raise TrainingError(f"the label '{label}' has a single class ({target.iloc[0]!r}): nothing to learn")
    stratify = target if task == "classification" and target.value_counts().min() >= 2 else None
    try:
        train_x, test_x, train_y, test_y = train_test_split(
            features, target, test_size=test_size, random_state=random_state, stratify=stratify
        )
    except ValueError as error:
        raise TrainingError(f"cannot split {len(frame)} labelled rows with test_size={test_size}: {error}") from error
    pipeline = Pipeline([("features", feature_step(columns)), ("model", estimator)])
    pipeline.fit(train_x, train_y)
    return TrainedModel(
        pipeline=pipeline,
        metrics=held_out_metrics(task, pipeline, test_x, test_y),
        importances=feature_importances(pipeline, test_x, test_y, random_state),
        train_rows=len(train_x),
        test_rows=len(test_x),
        classes=list(getattr(pipeline, "classes_", [])),
    )


def predictions(trained: Pipeline, frame: pd.DataFrame, columns: FeatureColumns, task: Task) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted values and, for classifiers with probabilities, P(last class) when binary or P(predicted class)."""
    features = as_model_input(frame, columns)
    predicted = trained.predict(features)
    scores, probabilities = class_scores(trained, features) if task == "classification" else (None, False)
    if scores is None or not probabilities:
        return predicted, None
    return predicted, scores[:, -1] if scores.shape[1] == 2 else scores.max(axis=1)
