"""Which scikit-learn estimator a model node trains, from the names both dialects use.

The seed dialect writes ``algorithm: random_forest`` and lets the target decide between classifier and
regressor; Seeknal writes ``training.algorithm`` with an explicit ``*_regressor`` suffix; Seeknal's docs (which its
code rejects) write class names such as ``RandomForestClassifier``. All three are accepted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
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


_FOREST = {"n_estimators": 100}
ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        Algorithm("random_forest", RandomForestClassifier, RandomForestRegressor, _FOREST),
        Algorithm("extra_trees", ExtraTreesClassifier, ExtraTreesRegressor, _FOREST),
        Algorithm("gradient_boosting", GradientBoostingClassifier, GradientBoostingRegressor),
        Algorithm("hist_gradient_boosting", HistGradientBoostingClassifier, HistGradientBoostingRegressor),
        # XGBoost is not a dependency: its names train scikit-learn's histogram gradient boosting, the same
        # family of model, with XGBoost's name for the number of trees translated.
        Algorithm(
            "xgboost",
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
            renamed_params={"n_estimators": "max_iter"},
        ),
        Algorithm("decision_tree", DecisionTreeClassifier, DecisionTreeRegressor),
        Algorithm("logistic_regression", classifier=LogisticRegression, defaults={"max_iter": 1000}),
        Algorithm("linear_regression", regressor=LinearRegression),
        Algorithm("ridge", regressor=Ridge),
        Algorithm("lasso", regressor=Lasso),
        Algorithm("svm", SVC, SVR),
    )
}
_CLASS_NAMES: dict[str, tuple[str, Task]] = {
    **{
        estimator.__name__: (algorithm.name, task)
        for algorithm in ALGORITHMS.values()
        if algorithm.name != "xgboost"
        for task, estimator in zip(TASKS, (algorithm.classifier, algorithm.regressor))
        if estimator is not None
    },
    "XGBClassifier": ("xgboost", "classification"),
    "XGBRegressor": ("xgboost", "regression"),
    "XGBoostClassifier": ("xgboost", "classification"),
    "XGBoostRegressor": ("xgboost", "regression"),
}


def resolve_algorithm(name: str) -> tuple[Algorithm, Task | None]:
    """The algorithm a name means, and the task the name fixes (``*_regressor``, class names), if any."""
    text = str(name).strip()
    if text in _CLASS_NAMES:
        algorithm, task = _CLASS_NAMES[text]
        return ALGORITHMS[algorithm], task
    key = text.lower().replace("-", "_").replace(" ", "_")
    for suffix, task in (("_regressor", "regression"), ("_classifier", "classification")):
        if key.endswith(suffix) and key.removesuffix(suffix) in ALGORITHMS:
            return ALGORITHMS[key.removesuffix(suffix)], task  # type: ignore[return-value]
    if key in ALGORITHMS:
        algorithm = ALGORITHMS[key]
        only = [task for task, estimator in zip(TASKS, (algorithm.classifier, algorithm.regressor)) if estimator]
        return algorithm, only[0] if len(only) == 1 else None
    raise AlgorithmError(
        f"unknown algorithm '{name}' (known: {', '.join(ALGORITHMS)}; add _regressor or _classifier to choose the "
        "task, or give a scikit-learn class name such as RandomForestClassifier)"
    )


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
