"""The executor exception hierarchy of the seed design."""

from __future__ import annotations

from typing import Any


class ExecutorError(Exception):
    """Base of every executor error; always names the node."""

    def __init__(self, node_id: str, message: str):
        self.node_id = node_id
        self.message = message
        super().__init__(f"{node_id}: {message}")


class ExecutorNotFoundError(ExecutorError):
    """No executor is registered for a node's kind."""

    def __init__(self, node_type: Any, node_id: str = "<unknown>"):
        self.node_type = node_type
        kind = getattr(node_type, "value", node_type)
        super().__init__(node_id, f"no executor is registered for node kind '{kind}'")


class ExecutorValidationError(ExecutorError):
    """A node's configuration cannot run (raised before anything is executed)."""


class ExecutorExecutionError(ExecutorError):
    """Running a node failed; ``cause`` keeps the underlying exception, ``metadata`` what the node did before it
    failed (an exposure's partial delivery), for the asset's history."""

    def __init__(
        self,
        node_id: str,
        message: str,
        cause: BaseException | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self.cause = cause
        self.metadata = dict(metadata or {})
        super().__init__(node_id, message)
