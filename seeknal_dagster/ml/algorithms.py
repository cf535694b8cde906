"""Which scikit-learn estimator a model node trains, from the names both dialects use.

The seed dialect writes ``algorithm: random_forest`` and lets the target decide between classifier and
regressor; Seeknal writes ``training.algorithm`` with an explicit ``*_regressor`` suffix; Seeknal's docs (which its
code rejects) write class names such as ``RandomForestClassifier``. All three are accepted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from seeknal_dagster.project.checks.model import ESTIMATOR_NAMES, Task, resolve_algorithm_name
from seeknal_dagster.project.checks.scope import SettingError

#: An integer target with at most this many distinct values is read as classes, not quantities.
MAX_INTEGER_CLASSES = 10


class AlgorithmError(ValueError):
    """An algorithm name, task or hyperparameter the model cannot be trained with."""


@dataclass(frozen=True)
class Algorithm:
    """One algorithm: its estimator per task, defaults, and how foreign hyperparameter names map onto it."""

    name: str
    classifier: type[BaseEstimator] | None = None
    regressor: type[BaseEstimator] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    renamed_params: dict[str, str] = field(default_factory=dict)

    def estimator_class(self, task: Task) -> type[BaseEstimator]:
        chosen = self.classifier if task == "classification" else self.regressor
        if chosen is None:
            raise AlgorithmError(f"algorithm '{self.name}' does not do {task}")
        return chosen


_ESTIMATORS: dict[str, type[BaseEstimator]] = {
    estimator.__name__: estimator
    for estimator in (
        ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
        HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor,
        Lasso, LinearRegression, LogisticRegression, Ridge, SVC, SVR, DecisionTreeClassifier, DecisionTreeRegressor,
    )
}
_FOREST = {"n_estimators": 100}
#: Defaults that differ from scikit-learn's, and foreign hyperparameter names (XGBoost's number of trees).
_DEFAULTS = {"random_forest": _FOREST, "extra_trees": _FOREST, "logistic_regression": {"max_iter": 1000}}
_RENAMED_PARAMS = {"xgboost": {"n_estimators": "max_iter"}}
#: Every algorithm :data:`~seeknal_dagster.project.checks.model.ESTIMATOR_NAMES` names, with its estimators.
ALGORITHMS: dict[str, Algorithm] = {
    name: Algorithm(
        name,
        _ESTIMATORS.get(classifier or ""),
        _ESTIMATORS.get(regressor or ""),
        _DEFAULTS.get(name, {}),
        _RENAMED_PARAMS.get(name, {}),
    )
    for name, (classifier, regressor) in ESTIMATOR_NAMES.items()
}


def resolve_algorithm(name: str) -> tuple[Algorithm, Task | None]:
    """The algorithm a name means, and the task the name fixes (``*_regressor``, class names), if any."""
    try:
        algorithm, task = resolve_algorithm_name(name)
    except SettingError as error:
        raise AlgorithmError(str(error)) from None
    return ALGORITHMS[algorithm], task


def infer_task(target: pd.Series) -> Task:
    """Classification for booleans, text and small sets of whole numbers; regression for other numbers."""
    values = target.dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "classification"
    whole = bool((values == values.round()).all())
    return "classification" if whole and values.nunique() <= MAX_INTEGER_CLASSES else "regression"


def build_estimator(algorithm: Algorithm, task: Task, hyperparameters: dict[str, Any], random_state: int) -> BaseEstimator:
    """The estimator with defaults, then the user's hyperparameters; unknown names are an error naming the valid ones."""
    estimator_class = algorithm.estimator_class(task)
    params = {**algorithm.defaults}
    params.update({algorithm.renamed_params.get(key, key): value for key, value in hyperparameters.items()})
    valid = estimator_class().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise AlgorithmError(
            f"unknown hyperparameter(s) {unknown} for {estimator_class.__name__} (valid: {', '.join(sorted(valid))})"
        )
    if "random_state" in valid:
        params.setdefault("random_state", random_state)
    return estimator_class(**params)
