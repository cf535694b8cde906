"""Executors: one module per node kind, each registering itself with ``@register_executor``.

A module named after a kind (``model.py`` for ``model`` nodes) is imported the first time a node of that kind
runs, so adding a kind means adding one file, and a load pays only for the kinds it runs.
"""

import pkgutil

from seeknal_dagster.executors.base import BaseExecutor, ExecutionStatus, ExecutorResult
from seeknal_dagster.executors.context import EngineNotConfiguredError, ExecutionContext
from seeknal_dagster.executors.errors import (
    ExecutorError,
    ExecutorExecutionError,
    ExecutorNotFoundError,
    ExecutorValidationError,
)
from seeknal_dagster.executors.registry import ExecutorRegistry, default_registry, get_executor, register_executor
from seeknal_dagster.project.models import NodeKind

_KINDS = {kind.value for kind in NodeKind}
for _module in pkgutil.iter_modules(__path__):
    if _module.name in _KINDS:
        default_registry.defer(_module.name, f"{__name__}.{_module.name}")

__all__ = [
    "BaseExecutor",
    "EngineNotConfiguredError",
    "ExecutionContext",
    "ExecutionStatus",
    "ExecutorError",
    "ExecutorExecutionError",
    "ExecutorNotFoundError",
    "ExecutorRegistry",
    "ExecutorResult",
    "ExecutorValidationError",
    "default_registry",
    "get_executor",
    "register_executor",
]
