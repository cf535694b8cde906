"""Models: from labelled events to a trained, versioned model, checked against an independent scikit-learn fit."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC

from seeknal_dagster.executors import ExecutorError
from seeknal_dagster.ml import ModelArtifactError, load_model
from seeknal_dagster.ml.algorithms import build_estimator, infer_task, resolve_algorithm
from seeknal_dagster.ml.artifacts import sha256_of
from tests.support.projects import (
    load_problem,
    materialization_metadata,
    materialize,
    replace_in_file,
    run_node,
    table_rows,
)

SAMPLE_PROJECT = Path(__file__).resolve().parents[1] / "seeknal_project"
SNAPSHOTS = ["2025-01-31", "2025-02-28", "2025-03-31"]

CHURN_MODEL_YML = """
    kind: model
    name: churn
    inputs:
      - ref: source.activity
        event_time: snapshot_date
    output_columns: [will_churn, churn_probability]
    training:
      algorithm: logistic_regression
      label_source: source.labels
      label_column: churned
      label_time_column: label_date
      join_keys: [customer_id]
      test_size: 0.3
      random_state: 7
"""


def activity_and_labels(seed: int = 1) -> tuple[str, str]:
    """Monthly activity snapshots and mid-month churn labels. A customer churns when their engagement at the
    last snapshot before the label was low; the snapshot after the label says the opposite, so a model fed
    values from after the label date (leakage) learns the inverse of the truth."""
    rng = random.Random(seed)
    activity = ["customer_id,snapshot_date,engagement,orders,segment"]
    labels = ["customer_id,label_date,churned"]
    for customer in range(1, 241):
        engaged = [rng.random() < 0.5 for _ in SNAPSHOTS]
        for snapshot, is_engaged in zip(SNAPSHOTS, engaged):
            engagement = round(rng.uniform(0.6, 1.0) if is_engaged else rng.uniform(0.0, 0.4), 3)
            activity.append(f"{customer},{snapshot},{engagement},{rng.randrange(5)},{rng.choice(['a', 'b'])}")
        for label_date, index in (("2025-02-15", 0), ("2025-03-15", 1)):
            if engaged[index + 1] == engaged[index]:
                continue  # only the months where the next snapshot disagrees: a leak would flip the answer
            labels.append(f"{customer},{label_date},{str(not engaged[index]).lower()}")
    return "\n".join(activity) + "\n", "\n".join(labels) + "\n"


@pytest.fixture
def churn_project(make_project):
    activity, labels = activity_and_labels()
    return make_project(
        {
            "data/activity.csv": activity,
            "data/labels.csv": labels,
            "seeknal/sources/activity.yml": "kind: source\nname: activity\nsource: csv\ntable: data/activity.csv\n",
            "seeknal/sources/labels.yml": "kind: source\nname: labels\nsource: csv\ntable: data/labels.csv\n",
            "seeknal/models/churn.yml": CHURN_MODEL_YML,
        }
    )


def independent_churn_fit(project: Path) -> tuple[float, float]:
    """The same training set built with pandas' merge_asof, split and fit with plain scikit-learn."""
    activity = pd.read_csv(project / "data/activity.csv", parse_dates=["snapshot_date"])
    labels = pd.read_csv(project / "data/labels.csv", parse_dates=["label_date"])
    rows = pd.merge_asof(
        labels.sort_values("label_date"),
        activity.sort_values("snapshot_date")[["customer_id", "snapshot_date", "engagement", "orders", "segment"]],
        left_on="label_date",
        right_on="snapshot_date",
        by="customer_id",
    ).drop(columns="snapshot_date")
    rows = rows.sort_values(list(rows.columns)).reset_index(drop=True)  # keys, time, label, features
    features = pd.get_dummies(rows[["engagement", "orders", "segment"]], columns=["segment"], dtype=float)
    train_x, test_x, train_y, test_y = train_test_split(
        features, rows["churned"], test_size=0.3, random_state=7, stratify=rows["churned"]
    )
    model = LogisticRegression(max_iter=1000, random_state=7).fit(train_x, train_y)
    return accuracy_score(test_y, model.predict(test_x)), roc_auc_score(test_y, model.predict_proba(test_x)[:, 1])


def test_point_in_time_training_matches_an_independent_fit(churn_project):
    result = materialize(churn_project)
    assert result.success
    metadata = materialization_metadata(result, "model/churn")

    accuracy, roc_auc = independent_churn_fit(churn_project)
    assert metadata["metrics/accuracy"] == pytest.approx(accuracy)
    assert metadata["metrics/roc_auc"] == pytest.approx(roc_auc, abs=1e-6)
    assert metadata["metrics/accuracy"] > 0.95  # values as of each label: a leaky join would score near 0
    assert {"metrics/precision", "metrics/recall", "metrics/f1"} <= set(metadata)
    assert metadata["seeknal/model_version"] == 1
    assert metadata["seeknal/estimator"] == "LogisticRegression"
    assert "engagement" in {row["feature"] for row in table_rows(metadata["seeknal/feature_importances"])}

    version_dir = churn_project / "target/models/churn/v1"
    assert sorted(path.name for path in version_dir.iterdir()) == [
        "features.json", "manifest.json", "metrics.json", "model.skops", "training_data.json",
    ]
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["sha256"]["model.skops"] == sha256_of(version_dir / "model.skops")
    features = json.loads((version_dir / "features.json").read_text())
    assert features["numeric"] == ["engagement", "orders"] and features["categorical"] == ["segment"]
    training = json.loads((version_dir / "training_data.json").read_text())
    assert training["sha256"] == metadata["seeknal/training_data_sha256"]
    assert json.loads((version_dir / "metrics.json").read_text())["accuracy"] == metadata["metrics/accuracy"]


def test_predictions_score_each_customers_latest_snapshot_and_match_the_loaded_model(churn_project):
    assert materialize(churn_project).success
    scored = pd.read_parquet(churn_project / "target/intermediate/model_churn.parquet")
    assert list(scored.columns) == ["customer_id", "snapshot_date", "will_churn", "churn_probability"]
    assert len(scored) == 240 and set(scored["snapshot_date"].astype(str)) == {"2025-03-31"}

    model = load_model(churn_project, "churn")
    latest = pd.read_csv(churn_project / "data/activity.csv").query("snapshot_date == '2025-03-31'")
    latest = latest.sort_values("customer_id").reset_index(drop=True)
    assert model.version == 1
    assert list(model.predict(latest)) == list(scored.sort_values("customer_id")["will_churn"])
    probability = model.estimator.predict_proba(model.model_input(latest))[:, 1]
    assert list(probability.round(9)) == list(scored.sort_values("customer_id")["churn_probability"].round(9))


def test_every_materialization_is_a_new_version_and_loading_verifies_it(churn_project):
    assert materialize(churn_project).success
    assert materialize(churn_project, "key:model/churn").success
    assert load_model(churn_project, "model.churn").version == 2
    assert load_model(churn_project, "churn", version=1).version == 1

    first = churn_project / "target/models/churn/v1"
    with (first / "model.skops").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelArtifactError, match="does not match the SHA-256"):
        load_model(churn_project, "churn", version=1)

    # Someone plants a model that would run a command when used, and rewrites the manifest to match.
    planted = churn_project / "target/models/churn/v3"
    shutil.copytree(churn_project / "target/models/churn/v2", planted)
    sio.dump(FunctionTransformer(func=shutil.rmtree), planted / "model.skops")
    manifest = json.loads((planted / "manifest.json").read_text())
    manifest["sha256"]["model.skops"] = sha256_of(planted / "model.skops")
    manifest["version"] = 3
    (planted / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelArtifactError, match="types that are not allowed"):
        load_model(churn_project, "churn")

    # Loading reads only what the manifest lists, and the manifest must list every file of the version.
    def tampered(version: int, change) -> Path:
        copy = churn_project / f"target/models/churn/v{version}"
        shutil.copytree(churn_project / "target/models/churn/v2", copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["version"] = version
        change(copy, manifest)
        (copy / "manifest.json").write_text(json.dumps(manifest))
        return copy

    def unlisted_metrics(copy: Path, manifest: dict) -> None:
        del manifest["sha256"]["metrics.json"]
        (copy / "metrics.json").write_text('{"accuracy": 1.0}')

    def extra_file(copy: Path, manifest: dict) -> None:
        (copy / "helper.pkl").write_bytes(b"not listed")

    def listed_elsewhere(copy: Path, manifest: dict) -> None:
        manifest["sha256"]["../../../../data/labels.csv"] = sha256_of(churn_project / "data/labels.csv")

    cases = [
        (unlisted_metrics, "records no checksum for metrics.json"),
        (extra_file, "holds file(s) its manifest does not list: helper.pkl"),
        (listed_elsewhere, "lacks file(s) its manifest lists: ../../../../data/labels.csv"),
    ]
    for version, (change, refusal) in enumerate(cases, start=4):
        tampered(version, change)
        with pytest.raises(ModelArtifactError, match=re.escape(refusal)):
            load_model(churn_project, "churn", version=version)
        shutil.rmtree(churn_project / f"target/models/churn/v{version}")


def test_load_model_reads_only_under_target_models(churn_project, tmp_path):
    assert materialize(churn_project).success
    # A copy of a genuine version planted outside target/models, one directory up.
    shutil.copytree(churn_project / "target/models/churn/v1", churn_project / "target/evil/v1")

    for name in ["../evil", "churn/../../evil", "model.../evil", "churn\n", "churn/v1", ""]:
        with pytest.raises(ModelArtifactError, match="is not a model name"):
            load_model(churn_project, name)
    with pytest.raises(ModelArtifactError, match="version must be a whole number"):
        load_model(churn_project, "churn", version="1/../../evil")  # type: ignore[arg-type]

    # A version directory that is a link to elsewhere is refused too.
    elsewhere = tmp_path / "elsewhere" / "v2"
    shutil.copytree(churn_project / "target/models/churn/v1", elsewhere)
    manifest = json.loads((elsewhere / "manifest.json").read_text())
    (elsewhere / "manifest.json").write_text(json.dumps({**manifest, "version": 2}))
    (churn_project / "target/models/churn/v2").symlink_to(elsewhere)

    with pytest.raises(ModelArtifactError, match="leads outside"):
        load_model(churn_project, "churn")


def houses_csv(seed: int = 4) -> str:
    rng = random.Random(seed)
    lines = ["rooms,area,age,price"]
    for _ in range(200):
        rooms, area, age = rng.randrange(1, 6), rng.uniform(30, 200), rng.randrange(60)
        lines.append(f"{rooms},{area:.1f},{age},{1000 * area + 5000 * rooms - 300 * age + rng.gauss(0, 5000):.2f}")
    return "\n".join(lines) + "\n"


def test_seed_dialect_regression_on_one_table(make_project):
    """The seed form: top-level algorithm, features by ref, target, hyperparameters; a float target is a
    regression even though 'gradient_boosting' names no task."""
    project = make_project(
        {
            "data/houses.csv": houses_csv(),
            "seeknal/sources/houses.yml": "kind: source\nname: houses\nsource: csv\ntable: data/houses.csv\n",
            "seeknal/models/house_prices.yml": """
                kind: model
                name: house_prices
                algorithm: gradient_boosting
                features:
                  - ref: source.houses
                target: price
                hyperparameters:
                  n_estimators: 40
                  max_depth: 3
                predictions: true
            """,
        }
    )
    result = materialize(project)
    assert result.success
    metadata = materialization_metadata(result, "model/house_prices")

    houses = pd.read_csv(project / "data/houses.csv")
    houses = houses.sort_values(["price", "rooms", "area", "age"]).reset_index(drop=True)  # label, then features
    train_x, test_x, train_y, test_y = train_test_split(
        houses[["rooms", "area", "age"]], houses["price"], test_size=0.2, random_state=42
    )
    fitted = GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=42).fit(train_x, train_y)
    assert metadata["seeknal/task"] == "regression"
    assert metadata["metrics/r2"] == pytest.approx(r2_score(test_y, fitted.predict(test_x)))
    assert {"metrics/rmse", "metrics/mae"} <= set(metadata) and "metrics/accuracy" not in metadata

    scored = pd.read_parquet(project / "target/intermediate/model_house_prices.parquet")
    assert list(scored.columns) == ["rooms", "area", "age", "price", "prediction"]
    assert len(scored) == 200


def test_multiclass_svm_without_probabilities(make_project):
    """Three classes, an estimator without probabilities: macro-averaged metrics, predictions without a
    probability column, and no ROC AUC (it needs probabilities for more than two classes)."""
    rng = random.Random(9)
    rows = [(index, rng.random(), rng.random()) for index in range(150)]
    lines = ["id,x1,x2,kind"] + [f"{i},{a},{b},{'abc'[int(a * 3)]}" for i, a, b in rows]
    project = make_project(
        {
            "data/points.csv": "\n".join(lines) + "\n",
            "seeknal/sources/points.yml": "kind: source\nname: points\nsource: csv\ntable: data/points.csv\n",
            "seeknal/models/kinds.yml": """
                kind: model
                name: kinds
                algorithm: svm
                features: [{ref: source.points}]
                target: kind
                join_keys: [id]
                output_columns: [predicted_kind, confidence]
            """,
        }
    )
    result = materialize(project)
    assert result.success
    metadata = materialization_metadata(result, "model/kinds")

    points = pd.read_csv(project / "data/points.csv").sort_values("id")
    train_x, test_x, train_y, test_y = train_test_split(
        points[["x1", "x2"]], points["kind"], test_size=0.2, random_state=42, stratify=points["kind"]
    )
    assert metadata["metrics/accuracy"] == pytest.approx(accuracy_score(test_y, SVC(random_state=42).fit(train_x, train_y).predict(test_x)))
    assert "metrics/roc_auc" not in metadata and "metrics/f1" in metadata
    scored = pd.read_parquet(project / "target/intermediate/model_kinds.parquet")
    assert list(scored.columns) == ["id", "predicted_kind"]


@pytest.mark.parametrize(
    ("name", "target", "expected"),
    [
        ("random_forest", [True, False, True], RandomForestClassifier),
        ("random_forest", [1.5, 2.25, 3.0], RandomForestRegressor),
        ("random_forest_regressor", [0, 1, 0], RandomForestRegressor),
        ("RandomForestClassifier", [0.5, 1.5, 2.5], RandomForestClassifier),
        ("linear_regression", [0, 1, 0], LinearRegression),
        ("logistic_regression", ["stay", "churn", "stay"], LogisticRegression),
        ("xgboost", ["a", "b", "c"], HistGradientBoostingClassifier),
    ],
)
def test_algorithm_names_of_both_dialects(name, target, expected):
    algorithm, task = resolve_algorithm(name)
    estimator = build_estimator(algorithm, task or infer_task(pd.Series(target)), {}, random_state=0)
    assert type(estimator) is expected


@pytest.mark.parametrize(
    ("written", "broken", "message"),
    [
        ("algorithm: logistic_regression", "algorithm: deep_forest", "unknown algorithm 'deep_forest'"),
        ("algorithm: logistic_regression", "algorithm: logistic_regression\n  task: regression", "does not do regression"),
        ("test_size: 0.3", "test_size: 3", "test_size must be a fraction"),
    ],
)
def test_bad_model_definitions_name_the_node_and_the_problem(churn_project, written, broken, message):
    replace_in_file(churn_project / "seeknal/models/churn.yml", written, broken)
    assert re.search(message, load_problem(churn_project, "model.churn"))


@pytest.mark.parametrize(
    ("written", "broken", "message"),
    [
        ("random_state: 7", "random_state: 7\n  params: {n_trees: 5}", r"unknown hyperparameter\(s\) \['n_trees'\]"),
        ("label_column: churned", "label_column: cancelled", "source.labels has no column 'cancelled' \\(label_column\\)"),
        ("event_time: snapshot_date", "event_time: taken_at", "source.activity has no column 'taken_at' \\(event time\\)"),
    ],
)
def test_what_only_the_data_or_scikit_learn_know_fails_before_training(churn_project, written, broken, message):
    """Columns are the data's; valid hyperparameter names are scikit-learn's, which loading does not import."""
    replace_in_file(churn_project / "seeknal/models/churn.yml", written, broken)
    run_node(churn_project, "source.activity")
    run_node(churn_project, "source.labels")
    with pytest.raises(ExecutorError, match=message) as raised:
        run_node(churn_project, "model.churn")
    assert raised.value.node_id == "model.churn"
    assert not (churn_project / "target/models/churn").exists()


def test_sample_project_churn_story(tmp_path):
    """The sample shop: orders → month-end snapshots → 7/30/90-day activity → churn labels → classifier."""
    project = tmp_path / "seeknal_project"
    shutil.copytree(SAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("target", "__pycache__"))
    result = materialize(project)
    assert result.success
    metadata = materialization_metadata(result, "model/churn_classifier")
    assert metadata["metrics/roc_auc"] > 0.7
    activity = pd.read_parquet(project / "target/intermediate/aggregation_customer_order_activity.parquet")
    assert {"order_value_sum_7d", "order_value_count_30d", "order_value_sum_ratio_30d_90d"} <= set(activity.columns)
    scored = pd.read_parquet(project / "target/intermediate/model_churn_classifier.parquet")
    assert len(scored) == activity["customer_id"].nunique()
    assert set(scored["application_date"].astype(str)) == {"2025-12-31"}
    browsing = pd.read_parquet(project / "target/intermediate/aggregation_customer_browsing_activity.parquet")
    assert {"sessions_count_distinct_30d", "cart_adds_count_if"} <= set(browsing.columns)
    model = load_model(project, "churn_classifier")
    assert model.metrics["roc_auc"] == metadata["metrics/roc_auc"]
    assert {source["node"] for source in model.features["inputs"]} == {
        "aggregation.customer_order_activity",
        "aggregation.customer_browsing_activity",
        "feature_group.customer_order_features",
    }
