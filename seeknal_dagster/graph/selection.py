"""Choosing nodes by the words users already know: ids, names, ``tag:``, ``kind:``, ``path:``, and ``+`` for
upstream (``+x``) or downstream (``x+``)."""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import SeeknalProject


class SelectionError(ValueError):
    """A selection word that matches no node."""


def _match_word(project: "SeeknalProject", word: str) -> set[str]:
    if word == "*":
        return set(project.nodes)
    method, _, value = word.partition(":") if ":" in word else ("", "", word)
    if not method and not any(char in value for char in "*?["):
        # an exact id or name: a lookup, so selecting thousands of nodes by id stays linear
        return {value} if value in project.nodes else project.ids_named(value)
    matched = set()
    for node_id, node in project.nodes.items():
        if method == "tag":
            hit = value in node.spec.tags
        elif method == "kind":
            hit = node.kind.value == value
        elif method == "path":
            hit = fnmatch.fnmatch(str(node.file), value) or str(node.file).startswith(value.rstrip("/") + "/")
        elif method:
            raise SelectionError(f"unknown selection method '{method}:' in '{word}' (use tag:, kind: or path:)")
        else:
            hit = fnmatch.fnmatch(node_id, value) or fnmatch.fnmatch(node.name, value)
        if hit:
            matched.add(node_id)
    return matched


def select_nodes(project: "SeeknalProject", select: str | None = None, exclude: str | None = None) -> set[str]:
    """The node ids ``select`` names (all when empty) minus those ``exclude`` names."""

    def resolve(expression: str) -> set[str]:
        chosen: set[str] = set()
        for word in re.split(r"[\s,]+", expression.strip()):
            if not word:
                continue
            upstream, downstream = word.startswith("+"), word.endswith("+")
            core = word.strip("+")
            matched = _match_word(project, core)
            if not matched:
                raise SelectionError(f"'{core}' matches no node of project {project.name}")
            chosen |= matched
            if upstream:
                chosen |= project.graph.ancestors(matched)
            if downstream:
                chosen |= project.graph.descendants(matched)
        return chosen

    selected = resolve(select) if select and select.strip() else set(project.nodes)
    if exclude and exclude.strip():
        selected -= resolve(exclude)
    return selected
