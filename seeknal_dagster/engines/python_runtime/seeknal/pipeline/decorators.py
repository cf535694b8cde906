"""``@source``, ``@transform``, ``@feature_group``, ``@second_order_aggregation`` and ``@materialize``.

Each returns the decorated function itself, so calling it is calling the user's code, and records which node it
declares. Everything else a decorator says (inputs, entity, features, params, …) was already read from the file's
syntax tree when the project loaded; the node's process receives it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Declaration:
    """One decorated function: the node it computes and the arguments its decorator was given."""

    node_id: str
    kind: str
    function: Callable[..., Any]
    arguments: dict[str, Any]


_DECLARED: dict[str, Declaration] = {}


def _declare(kind: str, name: Any, arguments: dict[str, Any]) -> Callable[..., Any]:
    if callable(name):  # used bare, as @transform
        return _declare(kind, None, arguments)(name)

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        node_id = f"{kind}.{name or function.__name__}"
        _DECLARED[node_id] = Declaration(node_id, kind, function, arguments)
        return function

    return decorate


def source(name: str | None = None, **arguments: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return _declare("source", name, arguments)


def transform(name: str | None = None, **arguments: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return _declare("transform", name, arguments)


def feature_group(name: str | None = None, **arguments: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return _declare("feature_group", name, arguments)


def second_order_aggregation(
    name: str | None = None, **arguments: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return _declare("second_order_aggregation", name, arguments)


def materialize(**target: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A copy of the node's output in a table (Seeknal's ``@materialize``); read from the file at load time."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        function.__dict__.setdefault("_seeknal_materializations", []).append(target)
        return function

    return decorate


def get_registered_nodes() -> dict[str, Declaration]:
    return dict(_DECLARED)


def clear_registry() -> None:
    _DECLARED.clear()
