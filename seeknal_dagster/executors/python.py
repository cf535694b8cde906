"""Python nodes: a decorated function in a ``seeknal/**/*.py`` file computes the node's rows, in a process of its own.

A ``@transform`` (and a ``@source`` that returns its rows instead of naming a table) writes what its function
returns to ``target/intermediate/<kind>_<name>.parquet``, as Seeknal does. A ``@feature_group`` or
``@second_order_aggregation`` is that kind's node over the function's rows, as in Seeknal: the rows are staged in
a hidden file beside the output, then the feature group executor (offline store, entity table, online store) or
the second-order aggregation executor reads them as its input. The process, its timeout and its log are
``engines/python_process.py``'s; here is what the function gets and where its rows go. The function runs with
the run's environment, so the profiles' secrets are registered before it starts and its output and errors are
scrubbed of every registered secret (:mod:`seeknal_dagster.project.secrets`) before they reach the run's log.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seeknal_dagster.engines.duckdb_engine import quote_literal
from seeknal_dagster.engines.outputs import atomic_path, scratch_path
from seeknal_dagster.engines.python_process import (
    DEFAULT_TIMEOUT_SECONDS,
    FunctionCall,
    FunctionRun,
    PythonNodeFailure,
    run_function,
)
from seeknal_dagster.executors.base import BaseExecutor, ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.feature_group import FeatureGroupExecutor
from seeknal_dagster.executors.second_order_aggregation import SecondOrderAggregationExecutor
from seeknal_dagster.featurestore.definition import FeatureGroupDefinition
from seeknal_dagster.project.models import NodeKind, PythonNodeSpec, function_output_id
from seeknal_dagster.project.secrets import scrub
from seeknal_dagster.project.templating import TemplateError

if TYPE_CHECKING:
    from seeknal_dagster.executors.context import ExecutionContext
    from seeknal_dagster.project.loader import ProjectNode

#: Fields of a Python node that describe its code rather than the node (left out of ``ctx.node_meta``).
_CODE_FIELDS = {"source_code", "code_digest", "decorator_args", "kind_spec"}


class PythonFunctionStep:
    """What every Python node does first: call its function with its inputs and params, writing the rows to a
    file. ``self.node`` is the node as its kind's executor sees it (``ProjectNode.kind_node``); ``self.python_node``
    the node as read from the file."""

    node: "ProjectNode"
    context: "ExecutionContext"

    def __init__(self, node: "ProjectNode", context: "ExecutionContext"):
        super().__init__(node.kind_node, context)  # type: ignore[call-arg]
        self.python_node = node
        self.kind = node.kind

    @property
    def python(self) -> PythonNodeSpec:
        return self.python_node.spec  # type: ignore[return-value]

    @property
    def file(self) -> Path:
        return self.context.workspace_path / self.python_node.file

    @property
    def described(self) -> str:
        return f"{self.python.function}() in {self.python_node.file}"

    def params(self) -> dict[str, Any]:
        """The decorator's params, ``{{ }}`` rendered, under every run-time override (Seeknal passes them all)."""
        renderer = self.context.renderer
        try:
            return {**renderer.render_params(self.python.params), **renderer.overrides}
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, f"params: {error}") from error

    def timeout(self) -> float:
        project = self.context.project
        project_timeout = project.python_timeout if project is not None else None
        return float(self.python.timeout or project_timeout or DEFAULT_TIMEOUT_SECONDS)

    def inputs(self) -> dict[str, Path]:
        """What ``ctx.ref`` accepts: each upstream's id, and its bare name when no other upstream shares it."""
        by_id = {}
        for upstream_id in self.python_node.upstream:
            path = self.context.output_path_for(upstream_id)
            if not path.exists():
                raise ExecutorExecutionError(
                    self.node.id, f"upstream {upstream_id} has no output at {path}: materialize {upstream_id} first"
                )
            by_id[upstream_id] = path
        names = Counter(upstream_id.partition(".")[2] for upstream_id in by_id)
        bare = {upstream_id.partition(".")[2]: path for upstream_id, path in by_id.items()}
        return {**{name: path for name, path in bare.items() if names[name] == 1}, **by_id}

    def validate(self) -> None:
        if not self.file.is_file():
            raise ExecutorValidationError(self.node.id, f"{self.python_node.file} does not exist")
        self.params()
        super().validate()  # type: ignore[misc]

    def call_function(self, output: Path) -> FunctionRun:
        node_meta = {key: value for key, value in self.python_node.config.items() if key not in _CODE_FIELDS}
        call = FunctionCall(
            node_id=self.node.id,
            kind=self.node.kind.value,
            file=self.file,
            function=self.python.function,
            project_path=self.context.workspace_path,
            target_dir=self.context.target_path,
            inputs=self.inputs(),
            params=self.params(),
            node_meta=node_meta,
            timeout=self.timeout(),
        )
        self.context.profiles.register_secrets()
        try:
            return run_function(call, output, lambda line: self.context.log.info(scrub(line)))
        except PythonNodeFailure as failure:
            raise ExecutorExecutionError(self.node.id, f"{self.described}: {scrub(str(failure))}", cause=failure) from failure


class PythonNodeExecutor(PythonFunctionStep, BaseExecutor):
    """A ``@transform``, or a ``@source`` returning its rows: the function's rows are the node's output."""

    def execute(self) -> ExecutorResult:
        output_path = self.context.get_output_path(self.node)
        with atomic_path(output_path) as temporary:
            run = self.call_function(temporary)
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=run.row_count,
            output_path=output_path,
            metadata={"engine": "python", "function": self.described, "result_type": run.result_type},
        )


class StagedFunctionRows(PythonFunctionStep):
    """For kinds that post-process the function's rows: they are staged in a hidden file beside the output and
    are the kind node's one input, ``python.<function>`` (a second-order aggregation's source, a feature group's
    ``source``)."""

    staged: Path | None = None

    def pre_execute(self) -> None:
        self.staged = scratch_path(self.context.get_output_path(self.node), "function")
        self.call_function(self.staged)
        super().pre_execute()  # type: ignore[misc]

    def input_relations(self) -> dict[str, str]:
        return {function_output_id(self.python.function): f"read_parquet({quote_literal(self.staged)})"}

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        try:
            result = super().post_execute(result)  # type: ignore[misc]
        finally:
            if self.staged is not None:
                self.staged.unlink(missing_ok=True)
        if result.is_success():
            result.metadata["function"] = self.described
        return result


class PythonFeatureGroupExecutor(StagedFunctionRows, FeatureGroupExecutor):
    @cached_property
    def definition(self) -> FeatureGroupDefinition:
        return replace(super().definition, code_digest=self.python.code_digest)


class PythonSecondOrderAggregationExecutor(StagedFunctionRows, SecondOrderAggregationExecutor):
    pass


_EXECUTORS: dict[NodeKind, type[BaseExecutor]] = {
    NodeKind.SOURCE: PythonNodeExecutor,
    NodeKind.TRANSFORM: PythonNodeExecutor,
    NodeKind.FEATURE_GROUP: PythonFeatureGroupExecutor,
    NodeKind.SECOND_ORDER_AGGREGATION: PythonSecondOrderAggregationExecutor,
}


def python_executor(node: "ProjectNode", context: "ExecutionContext") -> BaseExecutor:
    """The executor of a node computed by a Python function."""
    return _EXECUTORS[node.kind](node, context)
