"""The node graph built from a project: edges, order, cycles."""

from seeknal_dagster.graph.graph import NodeGraph

__all__ = ["NodeGraph"]
