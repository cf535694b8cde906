"""Executors: one module per node kind, each registering itself with ``@register_executor``.

Every module in this package is imported here, so adding a kind means adding one file.
"""

import importlib
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

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

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
