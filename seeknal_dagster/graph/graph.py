"""The node graph: edges, topological order, cycles and selections.

Kept free of Dagster so that ``seeknal-dagster validate`` and the executors share one notion of "upstream".
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class NodeGraph:
    """Directed graph of node ids; ``upstream[x]`` lists what ``x`` reads, in declaration order."""

    upstream: dict[str, list[str]] = field(default_factory=dict)

    def add_node(self, node_id: str) -> None:
        self.upstream.setdefault(node_id, [])

    def add_edge(self, from_id: str, to_id: str) -> None:
        parents = self.upstream.setdefault(to_id, [])
        if from_id not in parents:
            parents.append(from_id)

    @property
    def downstream(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = {node_id: [] for node_id in self.upstream}
        for node_id, parents in self.upstream.items():
            for parent in parents:
                children.setdefault(parent, []).append(node_id)
        return children

    def edge_count(self) -> int:
        return sum(len(parents) for parents in self.upstream.values())

    def find_cycle(self) -> list[str] | None:
        """One cycle as a path ``[a, b, …, a]`` (following reads), or ``None``."""
        state: dict[str, int] = {}
        for start in sorted(self.upstream):
            if state.get(start):
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            path: list[str] = []
            while stack:
                node_id, index = stack.pop()
                if index == 0:
                    state[node_id] = 1
                    path.append(node_id)
                parents = self.upstream.get(node_id, [])
                if index < len(parents):
                    stack.append((node_id, index + 1))
                    parent = parents[index]
                    if state.get(parent) == 1:
                        cycle = path[path.index(parent) :] + [parent]
                        return list(reversed(cycle))
                    if not state.get(parent):
                        stack.append((parent, 0))
                else:
                    state[node_id] = 2
                    path.pop()
        return None

    def topological_order(self, subset: Iterable[str] | None = None) -> list[str]:
        """Upstream before downstream, ties broken by id (deterministic, as in Seeknal); restricted to
        ``subset`` when given."""
        wanted = set(self.upstream if subset is None else subset)
        remaining = {node_id: sum(1 for parent in self.upstream.get(node_id, []) if parent in wanted) for node_id in wanted}
        children = self.downstream
        ready = [node_id for node_id, count in remaining.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node_id = heapq.heappop(ready)
            order.append(node_id)
            for child in children.get(node_id, []):
                if child in remaining:
                    remaining[child] -= 1
                    if remaining[child] == 0:
                        heapq.heappush(ready, child)
        if len(order) != len(wanted):
            raise ValueError(f"cycle detected: {' -> '.join(self.find_cycle() or [])}")
        return order

    def ancestors(self, node_ids: Iterable[str]) -> set[str]:
        return _reach(self.upstream, node_ids)

    def descendants(self, node_ids: Iterable[str]) -> set[str]:
        return _reach(self.downstream, node_ids)


def _reach(edges: dict[str, list[str]], start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        for neighbour in edges.get(stack.pop(), []):
            if neighbour not in seen:
                seen.add(neighbour)
                stack.append(neighbour)
    return seen
