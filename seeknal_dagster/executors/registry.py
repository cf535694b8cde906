"""Routing node kinds to executor classes without if/elif chains."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, TypeVar

from seeknal_dagster.executors.base import BaseExecutor
from seeknal_dagster.executors.errors import ExecutorNotFoundError
from seeknal_dagster.project.models import NodeKind

if TYPE_CHECKING:
    from seeknal_dagster.executors.context import ExecutionContext
    from seeknal_dagster.project.loader import ProjectNode

ExecutorClass = TypeVar("ExecutorClass", bound=type[BaseExecutor])


class ExecutorRegistry:
    """Maps each :class:`NodeKind` to the executor class that runs it."""

    def __init__(self) -> None:
        self._executors: dict[NodeKind, type[BaseExecutor]] = {}
        self._deferred: dict[NodeKind, str] = {}

    def defer(self, node_type: NodeKind | str, module: str) -> None:
        """Register the executor that ``module`` defines for ``node_type`` when it is first needed: a project
        without models never imports scikit-learn."""
        self._deferred[NodeKind(node_type)] = module

    def register(self, executor_cls: type[BaseExecutor], node_type: NodeKind | None = None) -> None:
        kind = NodeKind(node_type or executor_cls.kind)
        executor_cls.kind = kind
        self._executors[kind] = executor_cls

    def get_executor(self, node_type: NodeKind | str) -> type[BaseExecutor]:
        try:
            kind = NodeKind(node_type)
        except ValueError:
            raise ExecutorNotFoundError(node_type) from None
        if kind not in self._executors and kind in self._deferred:
            importlib.import_module(self._deferred.pop(kind))
        try:
            return self._executors[kind]
        except KeyError:
            raise ExecutorNotFoundError(node_type) from None

    def create_executor(self, node: "ProjectNode", context: "ExecutionContext") -> BaseExecutor:
        if node.is_python:  # a function computes its rows, whatever its kind
            from seeknal_dagster.executors.python import python_executor

            return python_executor(node, context)
        try:
            executor_cls = self.get_executor(node.kind)
        except ExecutorNotFoundError:
            raise ExecutorNotFoundError(node.kind, node.id) from None
        return executor_cls(node, context)

    def has_executor(self, node_type: NodeKind | str) -> bool:
        return NodeKind(node_type) in self._executors or NodeKind(node_type) in self._deferred

    @property
    def registered_types(self) -> list[NodeKind]:
        return sorted({*self._executors, *self._deferred}, key=lambda kind: kind.value)

    def clear(self) -> None:
        self._executors.clear()
        self._deferred.clear()


default_registry = ExecutorRegistry()


def register_executor(node_type: NodeKind | str) -> Callable[[ExecutorClass], ExecutorClass]:
    """Class decorator: ``@register_executor(NodeKind.TRANSFORM)`` registers the class in the default registry."""

    def decorate(executor_cls: ExecutorClass) -> ExecutorClass:
        default_registry.register(executor_cls, NodeKind(node_type))
        return executor_cls

    return decorate


def get_executor(node: "ProjectNode", context: "ExecutionContext") -> BaseExecutor:
    """An executor instance for ``node`` from the default registry."""
    return default_registry.create_executor(node, context)
