"""What a ``model`` node may say, in both dialects: the seed's top-level ``algorithm``, ``features: [{ref: …}]``,
``target`` and ``hyperparameters``, and Seeknal's ``inputs`` with ``training: {algorithm, label_source,
label_column, params, test_size}``; extra settings under ``training:`` or at the top level.

Algorithms are known here by name only (the scikit-learn estimators they train live in
:mod:`seeknal_dagster.ml.algorithms`, which imports scikit-learn): checking a project never pays for it. The
hyperparameter names an estimator accepts are checked when the node runs, before anything is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Literal

from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError, as_list
from seeknal_dagster.project.models import ModelSpec

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
TASK_NAMES: dict[str, Task] = {
    "classification": "classification",
    "classifier": "classification",
    "regression": "regression",
    "regressor": "regression",
}
#: Algorithm → the scikit-learn (classifier, regressor) it trains; ``None`` for a task it does not do. XGBoost
#: is not a dependency: its names train scikit-learn's histogram gradient boosting, the same family of model.
ESTIMATOR_NAMES: dict[str, tuple[str | None, str | None]] = {
    "random_forest": ("RandomForestClassifier", "RandomForestRegressor"),
    "extra_trees": ("ExtraTreesClassifier", "ExtraTreesRegressor"),
    "gradient_boosting": ("GradientBoostingClassifier", "GradientBoostingRegressor"),
    "hist_gradient_boosting": ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"),
    "xgboost": ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"),
    "decision_tree": ("DecisionTreeClassifier", "DecisionTreeRegressor"),
    "logistic_regression": ("LogisticRegression", None),
    "linear_regression": (None, "LinearRegression"),
    "ridge": (None, "Ridge"),
    "lasso": (None, "Lasso"),
    "svm": ("SVC", "SVR"),
}
#: Class names Seeknal's docs write (which its code rejects) → (algorithm, task).
_CLASS_NAMES: dict[str, tuple[str, Task]] = {
    **{
        estimator: (algorithm, task)
        for algorithm, estimators in ESTIMATOR_NAMES.items()
        if algorithm != "xgboost"
        for task, estimator in zip(TASKS, estimators)
        if estimator is not None
    },
    "XGBClassifier": ("xgboost", "classification"),
    "XGBRegressor": ("xgboost", "regression"),
    "XGBoostClassifier": ("xgboost", "classification"),
    "XGBoostRegressor": ("xgboost", "regression"),
}
DEFAULT_TEST_SIZE = 0.2
DEFAULT_RANDOM_STATE = 42


def resolve_algorithm_name(name: Any) -> tuple[str, Task | None]:
    """The algorithm a name means, and the task the name fixes (``*_regressor``, class names), if any."""
    text = str(name).strip()
    if text in _CLASS_NAMES:
        return _CLASS_NAMES[text]
    key = text.lower().replace("-", "_").replace(" ", "_")
    for suffix, task in (("_regressor", "regression"), ("_classifier", "classification")):
        if key.endswith(suffix) and key.removesuffix(suffix) in ESTIMATOR_NAMES:
            return key.removesuffix(suffix), task  # type: ignore[return-value]
    if key in ESTIMATOR_NAMES:
        only = [task for task, estimator in zip(TASKS, ESTIMATOR_NAMES[key]) if estimator]
        return key, only[0] if len(only) == 1 else None
    raise SettingError(
        f"unknown algorithm '{name}' (known: {', '.join(ESTIMATOR_NAMES)}; add _regressor or _classifier to choose "
        "the task, or give a scikit-learn class name such as RandomForestClassifier)",
        "algorithm",
    )


@dataclass
class ModelSettings:
    """A model node's settings, read from either dialect; references resolved to upstream node ids."""

    algorithm: str
    task: Task | None
    hyperparameters: dict[str, Any]
    label: str
    label_source: str | None
    label_time: str | None
    feature_refs: list[tuple[str, dict[str, Any]]]
    feature_columns: list[str] | None
    join_keys: list[str] | None
    test_size: float
    random_state: int
    output_columns: list[str]

    @property
    def default_task(self) -> Task:
        """The task when neither the settings nor the data decide: what the algorithm does, classification first."""
        return self.task or ("classification" if ESTIMATOR_NAMES[self.algorithm][0] else "regression")


def entity_keys(value: Any) -> list[str]:
    """Join keys from ``join_keys: [...]`` or an entity (``customer`` → ``customer_id``, or ``{join_keys}``)."""
    if isinstance(value, dict):
        return as_list(value.get("join_keys")) or ([f"{value['name']}_id"] if value.get("name") else [])
    if isinstance(value, str):
        return [value] if value.endswith("_id") else [f"{value}_id"]
    return as_list(value)


def _setting(spec: ModelSpec, *names: str) -> Any:
    """The first of ``names`` set under ``training:`` or at the top level (either dialect)."""
    places = (spec.training or {}, {**spec.extra_fields(), **spec.model_dump()})
    for name in names:
        for place in places:
            if place.get(name) not in (None, "", [], {}):
                return place[name]
    return None


def _upstream(node: "ProjectNode", reference: Any, field: str) -> str:
    upstream_id = node.upstream_id(reference)
    if upstream_id is None:
        raise SettingError(f"{reference!r} does not name an upstream node of {node.id}", field)
    return upstream_id


def _feature_refs(node: "ProjectNode", label_source: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Feature inputs (``features`` refs, then ``inputs``, minus the labels) with their per-ref options."""
    spec: ModelSpec = node.spec  # type: ignore[assignment]
    refs: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(spec.features or []):
        if isinstance(item, dict) and item.get("ref"):
            refs.setdefault(_upstream(node, item["ref"], f"features[{index}]"), item)
    for index, item in enumerate(spec.inputs):
        refs.setdefault(_upstream(node, item, f"inputs[{index}]"), item if isinstance(item, dict) else {})
    if label_source:
        refs.pop(label_source, None)
        if not refs:  # one table holding both features and labels
            refs[label_source] = {}
    return list(refs.items())


def _output_columns(spec: ModelSpec) -> list[str]:
    """Names of the prediction (and probability) columns; empty when the node writes no predictions."""
    names = [str(column) for column in spec.output_columns or []]
    enabled = _setting(spec, "predictions")
    if enabled is False or (enabled is None and not names):
        return []
    return names or ["prediction"]


def model_settings(node: "ProjectNode") -> ModelSettings:
    spec: ModelSpec = node.spec  # type: ignore[assignment]
    name = _setting(spec, "algorithm")
    if not name:
        raise SettingError("missing 'algorithm' (top level, or training.algorithm), e.g. random_forest", "training.algorithm")
    algorithm, task = resolve_algorithm_name(name)
    declared_task = _setting(spec, "task", "model_type")
    if declared_task is not None:
        if str(declared_task).lower() not in TASK_NAMES:
            raise SettingError(f"task '{declared_task}' is neither classification nor regression", "task")
        declared = TASK_NAMES[str(declared_task).lower()]
        if task not in (None, declared):
            raise SettingError(f"algorithm '{name}' does not do {declared}", "task")
        task = declared
    if task is not None and ESTIMATOR_NAMES[algorithm][TASKS.index(task)] is None:
        raise SettingError(f"algorithm '{name}' does not do {task}", "task")
    label = _setting(spec, "label_column", "target", "label")
    if not label:
        raise SettingError(
            "missing the label: 'target' (or training.label_column) names the column to predict", "training.label_column"
        )
    label_source = _setting(spec, "label_source")
    label_source = _upstream(node, label_source, "training.label_source") if label_source else None
    feature_refs = _feature_refs(node, label_source)
    if not feature_refs:
        raise SettingError("no features: list the upstream nodes in 'features: [{ref: …}]' or 'inputs'", "features")
    test_size = _setting(spec, "test_size") or DEFAULT_TEST_SIZE
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise SettingError(f"test_size must be a fraction between 0 and 1 (got {test_size!r})", "training.test_size")
    random_state = _setting(spec, "random_state")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, int)):
        raise SettingError(f"random_state must be a whole number (got {random_state!r})", "random_state")
    params = _setting(spec, "params") or {}
    if not isinstance(params, dict):
        raise SettingError("training.params must map hyperparameter names to values", "training.params")
    hyperparameters = {**params, **spec.hyperparameters}
    explicit_columns = [str(item) for item in spec.features or [] if isinstance(item, str)]
    return ModelSettings(
        algorithm=algorithm,
        task=task,
        hyperparameters=hyperparameters,
        label=str(label),
        label_source=label_source,
        label_time=_setting(spec, "label_time_column", "label_time_col"),
        feature_refs=feature_refs,
        feature_columns=explicit_columns or as_list(_setting(spec, "feature_columns")) or None,
        join_keys=entity_keys(_setting(spec, "join_keys", "entity")) or None,
        test_size=float(test_size),
        random_state=DEFAULT_RANDOM_STATE if random_state is None else random_state,
        output_columns=_output_columns(spec),
    )


def check_model(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    model_settings(node)
    return iter(())
