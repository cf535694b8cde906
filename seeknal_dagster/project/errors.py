"""Problems found while reading a project, reported all at once.

A user fixing a broken project wants every problem in one pass, each pointing at the file, the node and the
field, so the loader collects :class:`Problem` records instead of raising on the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a project: where it is and what is wrong."""

    message: str
    file: Path | None = None
    node_id: str | None = None
    field: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = str(self.file) if self.file else "<project>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.node_id:
            parts.append(f"node {self.node_id}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return f"{' | '.join(parts)}: {self.message}"


class ProjectLoadError(Exception):
    """A project could not be loaded; carries every problem found."""

    def __init__(self, project_dir: Path, problems: list[Problem]):
        self.project_dir = project_dir
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"Seeknal project {project_dir} has {len(problems)} problem(s):\n{lines}")


def describe_validation_error(detail: Mapping[str, Any]) -> str:
    """One pydantic error detail in the user's words."""
    if detail["type"] == "missing":
        return "missing required field"
    return str(detail["msg"]).removeprefix("Value error, ")


def validation_problems(error: "ValidationError", file: Path, line: int | None, node_id: str | None) -> list[Problem]:
    """A problem per field a node's document got wrong."""
    return [
        Problem(
            describe_validation_error(detail),
            file=file,
            line=line,
            node_id=node_id,
            field=".".join(str(part) for part in detail["loc"]) or None,
        )
        for detail in error.errors()
    ]
