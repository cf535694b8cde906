"""The executor contract: validate → pre_execute → execute → post_execute, orchestrated once in ``run()``."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seeknal_dagster.executors.errors import ExecutorError, ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.project.checks import node_findings
from seeknal_dagster.project.checks.scope import CheckScope, SettingError
from seeknal_dagster.project.models import NodeKind

if TYPE_CHECKING:
    from seeknal_dagster.executors.context import ExecutionContext
    from seeknal_dagster.project.loader import ProjectNode


@dataclass(frozen=True)
class Table:
    """Rows an executor reports for people to read (failing rows, statistics, importances). Executors return
    plain data; the Dagster layer decides how it is shown."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def of(cls, columns: "list[str] | tuple[str, ...]", rows: "list[tuple[Any, ...]] | list[list[Any]]") -> "Table":
        return cls(tuple(columns), tuple(tuple(row) for row in rows))


@dataclass(frozen=True)
class Link:
    """A URL an executor reports (a dashboard, a delivery endpoint), already fit to show."""

    url: str


class ExecutionStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    WARNING = "warning"
    FAILED = "failed"
    CACHED = "cached"
    SKIPPED = "skipped"


@dataclass(init=False)
class ExecutorResult:
    """What running one node produced: status, timing, rows, where the output is, and metadata."""

    node_id: str
    status: ExecutionStatus
    duration_seconds: float = 0.0
    row_count: int = 0
    output_path: Path | None = None
    error_message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    created_at: float = 0.0

    def __init__(
        self,
        node_id: str,
        status: ExecutionStatus,
        duration_seconds: float = 0.0,
        row_count: int = 0,
        output_path: Path | None = None,
        error_message: str | None = None,
        metadata: dict[str, Any] | None = None,
        is_dry_run: bool = False,
        created_at: float | None = None,
    ):
        self.node_id = node_id
        self.status = status
        self.duration_seconds = duration_seconds
        self.row_count = row_count
        self.output_path = output_path
        self.error_message = error_message
        self.metadata = dict(metadata or {})
        self.dry_run = is_dry_run
        self.created_at = time.time() if created_at is None else created_at

    def is_success(self) -> bool:
        """Success includes a warning: the node produced its output."""
        return self.status in (ExecutionStatus.SUCCESS, ExecutionStatus.WARNING, ExecutionStatus.CACHED)

    def is_dry_run(self) -> bool:
        return self.dry_run

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "status": self.status.value,
            "duration_seconds": self.duration_seconds,
            "row_count": self.row_count,
            "output_path": str(self.output_path) if self.output_path else None,
            "error_message": self.error_message,
            "metadata": self.metadata,
            "is_dry_run": self.dry_run,
            "created_at": self.created_at,
        }


class BaseExecutor(ABC):
    """One node kind's behaviour. Subclasses implement :meth:`execute`, and usually :meth:`validate`."""

    #: The kind this executor runs; set by ``@register_executor``.
    kind: NodeKind

    def __init__(self, node: "ProjectNode", context: "ExecutionContext"):
        self.node = node
        self.context = context

    @property
    def node_type(self) -> NodeKind:
        return self.kind

    def check_scope(self) -> CheckScope:
        """The project around this node, for the checks it shares with the loader."""
        nodes = self.context.project.nodes if self.context.project is not None else {self.node.id: self.node}
        return CheckScope(nodes=nodes, profiles=self.context.profiles, renderer=self.context.renderer)

    def validate(self) -> None:
        """Raise :class:`ExecutorValidationError` when the node cannot run; nothing is executed yet.

        The node's settings are checked exactly as the loader checks them (:mod:`seeknal_dagster.project.checks`),
        with the run's params; executors extend this with what only the run can know (files, connections)."""
        for finding in node_findings(self.node, self.check_scope()):
            if finding.severity == "error":
                raise ExecutorValidationError(self.node.id, finding.message)

    def pre_execute(self) -> None:
        """Prepare connections, directories, input views."""

    @abstractmethod
    def execute(self) -> ExecutorResult:
        """Do the node's work and describe it."""

    def post_execute(self, result: ExecutorResult) -> ExecutorResult:
        """Release what ``pre_execute`` took; may enrich the result. Also called, with a FAILED result, when
        ``execute`` raised, so resources are released either way."""
        return result

    def dry_run(self) -> ExecutorResult:
        """What a dry run reports once validation passed; executors may add what they would do."""
        return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, is_dry_run=True)

    def run(self) -> ExecutorResult:
        """validate → (dry run, or pre_execute → execute → post_execute), timed; foreign exceptions become
        :class:`ExecutorExecutionError` naming the node."""
        started = time.perf_counter()
        try:
            self.validate()
            result = self.dry_run() if self.context.dry_run else None
        except SettingError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from None
        if result is None:
            try:
                self.pre_execute()
                result = self.execute()
            except Exception as error:  # the node's failure, whatever raised it, is reported against the node
                failure = _as_executor_error(self.node.id, error)
                self.post_execute(ExecutorResult(self.node.id, ExecutionStatus.FAILED, error_message=failure.message))
                if failure is error:
                    raise
                raise failure from error
            result = self.post_execute(result)
        result.duration_seconds = time.perf_counter() - started
        return result


def _as_executor_error(node_id: str, error: Exception) -> ExecutorError:
    """The node's failure as an executor error: a setting it cannot run with is invalid configuration (never
    retried), anything else an execution failure."""
    if isinstance(error, ExecutorError):
        return error
    if isinstance(error, SettingError):
        return ExecutorValidationError(node_id, str(error))
    return ExecutorExecutionError(node_id, f"{type(error).__name__}: {error}", cause=error)
