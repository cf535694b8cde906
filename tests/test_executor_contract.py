"""The executor contract of the seed design: registry, lifecycle, dry run, results and the error hierarchy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seeknal_dagster.executors import (
    BaseExecutor,
    ExecutionContext,
    ExecutionStatus,
    ExecutorError,
    ExecutorExecutionError,
    ExecutorNotFoundError,
    ExecutorRegistry,
    ExecutorResult,
    ExecutorValidationError,
    get_executor,
    register_executor,
)
from seeknal_dagster.executors import registry as registry_module
from seeknal_dagster.executors.python import PythonNodeExecutor
from seeknal_dagster.executors.transform import TransformExecutor
from seeknal_dagster.project import NodeKind, load_project
from seeknal_dagster.project.loader import ProjectNode
from seeknal_dagster.project.models import MetricSpec, PythonNodeSpec, TransformSpec


def metric_node(name: str = "revenue") -> ProjectNode:
    return ProjectNode(spec=MetricSpec(kind="metric", name=name, type="simple"), file=Path(f"seeknal/{name}.yml"))


def context_in(tmp_path: Path, **options) -> ExecutionContext:
    return ExecutionContext(project_name="shop", workspace_path=tmp_path, target_path=tmp_path / "target", **options)


class RecordingExecutor(BaseExecutor):
    """Records each lifecycle call; ``fail_with`` makes ``execute`` raise."""

    fail_with: Exception | None = None

    def __init__(self, node, context):
        super().__init__(node, context)
        self.calls: list[str] = []
        self.post_execute_saw: ExecutorResult | None = None

    def validate(self) -> None:
        self.calls.append("validate")
        if self.node.name == "invalid":
            raise ExecutorValidationError(self.node.id, "type must be one of simple, ratio")

    def pre_execute(self) -> None:
        self.calls.append("pre_execute")

    def execute(self) -> ExecutorResult:
        self.calls.append("execute")
        if self.fail_with is not None:
            raise self.fail_with
        return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, row_count=3, metadata={"engine": "none"})

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        self.calls.append("post_execute")
        self.post_execute_saw = result
        result.metadata["cleaned_up"] = True
        return result


class TestRegistry:
    def test_register_get_create_and_clear(self, tmp_path):
        registry = ExecutorRegistry()
        registry.register(RecordingExecutor, NodeKind.METRIC)
        assert registry.get_executor(NodeKind.METRIC) is RecordingExecutor
        assert registry.get_executor("metric") is RecordingExecutor
        assert registry.has_executor("metric") and not registry.has_executor(NodeKind.MODEL)
        assert registry.registered_types == [NodeKind.METRIC]
        node, context = metric_node(), context_in(tmp_path)
        executor = registry.create_executor(node, context)
        assert isinstance(executor, RecordingExecutor)
        assert (executor.node, executor.context, executor.node_type) == (node, context, NodeKind.METRIC)
        registry.clear()
        with pytest.raises(ExecutorNotFoundError) as missing:
            registry.create_executor(node, context)
        assert missing.value.node_type == NodeKind.METRIC
        assert missing.value.node_id == "metric.revenue"
        assert "no executor is registered for node kind 'metric'" in str(missing.value)

    def test_an_unknown_kind_is_not_found(self):
        with pytest.raises(ExecutorNotFoundError) as missing:
            ExecutorRegistry().get_executor("pipeline")
        assert missing.value.node_type == "pipeline"

    def test_the_decorator_registers_in_the_default_registry(self, monkeypatch, tmp_path):
        monkeypatch.setattr(registry_module, "default_registry", ExecutorRegistry())

        @register_executor(NodeKind.METRIC)
        class MetricExecutor(RecordingExecutor):
            pass

        assert registry_module.default_registry.get_executor(NodeKind.METRIC) is MetricExecutor
        assert isinstance(get_executor(metric_node(), context_in(tmp_path)), MetricExecutor)

    def test_every_executor_module_is_imported_and_registered(self, tmp_path):
        node = ProjectNode(spec=TransformSpec(kind="transform", name="t", transform="SELECT 1"), file=Path("t.yml"))
        assert isinstance(get_executor(node, context_in(tmp_path)), TransformExecutor)

    def test_a_node_computed_by_a_python_function_gets_the_python_executor(self, tmp_path):
        node = ProjectNode(
            spec=PythonNodeSpec(kind="transform", name="py_users", function="py_users"), file=Path("seeknal/p.py")
        )
        executor = get_executor(node, context_in(tmp_path))
        assert isinstance(executor, PythonNodeExecutor) and executor.node.id == "transform.py_users"


class TestLifecycle:
    def test_run_calls_each_step_once_in_order(self, tmp_path):
        executor = RecordingExecutor(metric_node(), context_in(tmp_path))
        result = executor.run()
        assert executor.calls == ["validate", "pre_execute", "execute", "post_execute"]
        assert result.is_success() and not result.is_dry_run()
        assert (result.node_id, result.row_count, result.metadata) == ("metric.revenue", 3, {"engine": "none", "cleaned_up": True})
        assert result.duration_seconds >= 0

    def test_a_validation_error_stops_before_anything_runs(self, tmp_path):
        executor = RecordingExecutor(metric_node("invalid"), context_in(tmp_path))
        with pytest.raises(ExecutorValidationError, match="metric.invalid: type must be one of"):
            executor.run()
        assert executor.calls == ["validate"]

    def test_a_foreign_exception_becomes_an_execution_error_with_its_cause(self, tmp_path):
        executor = RecordingExecutor(metric_node(), context_in(tmp_path))
        executor.fail_with = ZeroDivisionError("division by zero")
        with pytest.raises(ExecutorExecutionError) as failed:
            executor.run()
        assert failed.value.node_id == "metric.revenue"
        assert isinstance(failed.value.cause, ZeroDivisionError)
        assert failed.value.message == "ZeroDivisionError: division by zero"
        # post_execute still runs, with a FAILED result, so resources are released.
        assert executor.calls == ["validate", "pre_execute", "execute", "post_execute"]
        assert executor.post_execute_saw.status == ExecutionStatus.FAILED
        assert executor.post_execute_saw.error_message == "ZeroDivisionError: division by zero"

    def test_an_executor_error_is_raised_unchanged(self, tmp_path):
        executor = RecordingExecutor(metric_node(), context_in(tmp_path))
        original = ExecutorExecutionError("metric.revenue", "warehouse unreachable", cause=ConnectionError("refused"))
        executor.fail_with = original
        with pytest.raises(ExecutorExecutionError) as failed:
            executor.run()
        assert failed.value is original and isinstance(failed.value.cause, ConnectionError)
        assert executor.calls[-1] == "post_execute"

    def test_dry_run_is_handled_once_in_the_base(self, tmp_path):
        executor = RecordingExecutor(metric_node(), context_in(tmp_path, dry_run=True))
        result = executor.run()
        assert executor.calls == ["validate"]
        assert result.is_dry_run() and result.is_success()
        assert result.status == ExecutionStatus.SUCCESS


ORDERS_PROJECT = {
    "data/orders.csv": "order_id,amount\n1,10\n",
    "seeknal/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/big.yml": """
        kind: transform
        name: big
        inputs: [{ref: source.orders}]
        params: {min_amount: 5}
        transform: |
          CREATE TEMP TABLE picked AS SELECT * FROM ref('source.orders') WHERE amount > {{ min_amount }};
          SELECT * FROM picked JOIN source.orders USING (order_id)
    """,
}


def test_a_dry_run_resolves_refs_and_templates_but_opens_and_writes_nothing(make_project):
    project = load_project(make_project(ORDERS_PROJECT))
    context = ExecutionContext.for_project(project, dry_run=True)
    result = get_executor(project.nodes["transform.big"], context).run()
    assert result.is_dry_run() and result.is_success()
    assert result.metadata["sql"] == (
        "CREATE TEMP TABLE picked AS SELECT * FROM source.orders WHERE amount > 5;\n"
        "SELECT * FROM picked JOIN source.orders USING (order_id)"
    )
    assert context.duckdb_connection is None
    assert not project.target_dir.exists()


def test_a_dry_run_reports_an_unknown_ref_with_the_available_inputs(tmp_path):
    node = ProjectNode(
        spec=TransformSpec(
            kind="transform",
            name="typo",
            inputs=[{"ref": "source.orders"}],
            transform="SELECT * FROM ref('source.nonexistent')",
        ),
        file=Path("seeknal/typo.yml"),
        upstream=["source.orders"],
    )
    with pytest.raises(ExecutorValidationError) as invalid:
        get_executor(node, context_in(tmp_path, dry_run=True)).run()
    assert invalid.value.node_id == "transform.typo"
    assert "unknown ref('source.nonexistent'). Available inputs: source.orders" in str(invalid.value)


def test_a_transform_whose_last_statement_returns_no_rows_is_invalid(tmp_path):
    node = ProjectNode(
        spec=TransformSpec(kind="transform", name="ddl", transform="SELECT 1; CREATE TABLE x AS SELECT 1"),
        file=Path("seeknal/ddl.yml"),
    )
    with pytest.raises(ExecutorValidationError, match="last statement of a transform must be a query"):
        get_executor(node, context_in(tmp_path)).run()


class TestResult:
    @pytest.mark.parametrize(
        ("status", "success"),
        [
            (ExecutionStatus.SUCCESS, True),
            (ExecutionStatus.WARNING, True),
            (ExecutionStatus.CACHED, True),
            (ExecutionStatus.FAILED, False),
            (ExecutionStatus.SKIPPED, False),
            (ExecutionStatus.PENDING, False),
            (ExecutionStatus.RUNNING, False),
        ],
    )
    def test_is_success(self, status, success):
        assert ExecutorResult("transform.t", status).is_success() is success

    def test_to_dict_is_json_ready(self, tmp_path):
        result = ExecutorResult(
            "transform.t",
            ExecutionStatus.SUCCESS,
            duration_seconds=1.5,
            row_count=7,
            output_path=tmp_path / "t.parquet",
            metadata={"engine": "duckdb"},
            is_dry_run=True,
            created_at=1700000000.0,
        )
        assert json.loads(json.dumps(result.to_dict())) == {
            "node_id": "transform.t",
            "status": "success",
            "duration_seconds": 1.5,
            "row_count": 7,
            "output_path": str(tmp_path / "t.parquet"),
            "error_message": None,
            "metadata": {"engine": "duckdb"},
            "is_dry_run": True,
            "created_at": 1700000000.0,
        }
        assert ExecutorResult("transform.t", ExecutionStatus.FAILED).created_at > 0


def test_the_exception_hierarchy():
    for error_class in (ExecutorNotFoundError, ExecutorExecutionError, ExecutorValidationError):
        assert issubclass(error_class, ExecutorError)
    cause = KeyError("amount")
    error = ExecutorExecutionError("transform.t", "column missing", cause=cause)
    assert (error.node_id, error.message, error.cause, str(error)) == (
        "transform.t",
        "column missing",
        cause,
        "transform.t: column missing",
    )
    assert ExecutorExecutionError("transform.t", "boom").cause is None
    assert ExecutorNotFoundError(NodeKind.MODEL, "model.churn").node_type == NodeKind.MODEL
