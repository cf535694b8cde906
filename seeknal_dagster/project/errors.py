"""Problems found while reading a project, reported all at once.

A user fixing a broken project wants every problem in one pass, each pointing at the file, the node and the
field, so the loader collects :class:`Problem` records instead of raising on the first one. An error stops the
project from loading (or, with ``allow_partial``, takes its node and that node's downstream out of the runnable
set); a warning is reported and the project loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

if TYPE_CHECKING:
    from pydantic import ValidationError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a project: where it is and what is wrong."""

    message: str
    file: Path | None = None
    node_id: str | None = None
    field: str | None = None
    line: int | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = str(self.file) if self.file else "<project>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.node_id:
            parts.append(f"node {self.node_id}")
        if self.field:
            parts.append(f"field '{self.field}'")
        prefix = "warning: " if not self.is_error else ""
        return f"{prefix}{' | '.join(parts)}: {self.message}"


class ProjectLoadError(Exception):
    """A project could not be loaded; carries every problem found (its warnings too)."""

    def __init__(self, project_dir: Path, problems: list[Problem]):
        self.project_dir = project_dir
        self.problems = problems
        errors = [problem for problem in problems if problem.is_error]
        warnings = [problem for problem in problems if not problem.is_error]
        lines = "\n".join(f"  - {problem}" for problem in [*errors, *warnings])
        counted = f"{len(errors)} problem(s)" + (f" and {len(warnings)} warning(s)" if warnings else "")
        super().__init__(f"Seeknal project {project_dir} has {counted}:\n{lines}")


def describe_validation_error(detail: Mapping[str, Any]) -> str:
    """A pydantic error as a user reads it."""
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
