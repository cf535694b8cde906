"""Held-out metrics and feature importances of a trained pipeline (features step + estimator)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as sk_metrics
from sklearn.inspection import permutation_importance

from seeknal_dagster.ml.algorithms import Task


def class_scores(pipeline: Any, features: pd.DataFrame) -> tuple[np.ndarray | None, bool]:
    """(per-class scores, whether they are probabilities): ``predict_proba``, else ``decision_function``."""
    for method in ("predict_proba", "decision_function"):
        if hasattr(pipeline, method):  # False for e.g. an SVC without probability estimates
            return np.asarray(getattr(pipeline, method)(features)), method == "predict_proba"
    return None, False


def classification_metrics(
    y_true: pd.Series, y_pred: np.ndarray, scores: np.ndarray | None, probabilities: bool, classes: list[Any]
) -> dict[str, float]:
    """accuracy, precision, recall, f1 (for the last class when binary, macro-averaged otherwise) and roc_auc
    (from any score when binary; from probabilities only when there are more classes)."""
    binary = len(classes) == 2
    averaging = {"average": "binary", "pos_label": classes[-1]} if binary else {"average": "macro"}
    results = {
        "accuracy": sk_metrics.accuracy_score(y_true, y_pred),
        "precision": sk_metrics.precision_score(y_true, y_pred, zero_division=0, **averaging),
        "recall": sk_metrics.recall_score(y_true, y_pred, zero_division=0, **averaging),
        "f1": sk_metrics.f1_score(y_true, y_pred, zero_division=0, **averaging),
    }
    if scores is not None and y_true.nunique() == len(classes):
        if binary:
            results["roc_auc"] = sk_metrics.roc_auc_score(y_true == classes[-1], scores[:, -1] if scores.ndim == 2 else scores)
        elif probabilities:
            results["roc_auc"] = sk_metrics.roc_auc_score(y_true, scores, multi_class="ovr", labels=classes)
    return {name: float(value) for name, value in results.items()}


def regression_metrics(y_true: pd.Series, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(sk_metrics.mean_squared_error(y_true, y_pred))),
        "mae": float(sk_metrics.mean_absolute_error(y_true, y_pred)),
        "r2": float(sk_metrics.r2_score(y_true, y_pred)),
    }


def held_out_metrics(task: Task, pipeline: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    predicted = pipeline.predict(features)
    if task == "regression":
        return regression_metrics(target, predicted)
    return classification_metrics(target, predicted, *class_scores(pipeline, features), list(pipeline.classes_))


def feature_importances(pipeline: Any, features: pd.DataFrame, target: pd.Series, random_state: int) -> list[tuple[str, float]]:
    """(feature, importance), largest first: the estimator's own importances or coefficients when it has them
    (per encoded feature), otherwise permutation importance on the held-out rows (per input column)."""
    estimator = pipeline[-1]
    if hasattr(estimator, "feature_importances_") or hasattr(estimator, "coef_"):
        names = list(pipeline[:-1].get_feature_names_out())
        if hasattr(estimator, "feature_importances_"):
            values = np.asarray(estimator.feature_importances_)
        else:
            values = np.abs(np.atleast_2d(estimator.coef_)).mean(axis=0)
    else:
        names = list(features.columns)
        values = permutation_importance(pipeline, features, target, n_repeats=5, random_state=random_state).importances_mean
    return sorted(zip(names, (float(value) for value in values)), key=lambda pair: -abs(pair[1]))
