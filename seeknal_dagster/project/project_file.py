"""``seeknal_project.yml``: the project's name, the named schedules Dagster runs it on, and how long a Python node
may run::

    name: shop
    schedules:
      - name: nightly
        cron: "0 2 * * *"
        select: tag:daily+          # Dagster's selection syntax; Seeknal tags are asset tags
        timezone: Europe/Berlin     # optional (UTC by default)
        enabled: false              # optional: declared, but stopped until switched on in the UI
    dagster:
      python_timeout: 900           # optional: seconds (1,800 by default)

Everything but what ``select`` matches is checked here, when the project loads; the selection is resolved
against the assets when the definitions are built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from seeknal_dagster.project.dagster_rules import cron_problem
from seeknal_dagster.project.errors import Problem, describe_validation_error
from seeknal_dagster.project.models import known_timezone
from seeknal_dagster.project.yaml_files import read_yaml_file

PROJECT_FILE = Path("seeknal_project.yml")


class ScheduleSettings(BaseModel):
    """One entry of ``schedules:`` in ``seeknal_project.yml``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(pattern=re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z"))
    cron: str
    select: str = Field(min_length=1)
    timezone: str | None = None
    description: str | None = None
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    _known_timezone = field_validator("timezone")(known_timezone)

    @property
    def job_name(self) -> str:
        return f"{self.name}_job"


def _schedules(entries: Any) -> tuple[list[ScheduleSettings], list[Problem]]:
    if not isinstance(entries, list):
        return [], [Problem("'schedules' must be a list of {name, cron, select}", file=PROJECT_FILE, field="schedules")]
    schedules: list[ScheduleSettings] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        try:
            schedules.append(ScheduleSettings.model_validate(entry))
        except ValidationError as error:
            problems += [
                Problem(
                    f"schedule {name or index}: {describe_validation_error(detail)}",
                    file=PROJECT_FILE,
                    field=".".join([f"schedules[{index}]", *(str(part) for part in detail["loc"])]),
                )
                for detail in error.errors()
            ]
    names = [schedule.name for schedule in schedules]
    problems += [
        Problem(f"two schedules are named '{name}'", file=PROJECT_FILE, field="schedules")
        for name in sorted({name for name in names if names.count(name) > 1})
    ]
    return schedules, problems


def read_project_file(root: Path) -> tuple[dict[str, Any], list[ScheduleSettings], list[Problem]]:
    """(settings, schedules, problems) of the project's ``seeknal_project.yml`` (all empty when there is none)."""
    path = root / PROJECT_FILE
    if not path.is_file():
        return {}, [], []
    settings, problems = read_yaml_file(path, PROJECT_FILE)
    if settings is None:
        return {}, [], problems
    if not isinstance(settings, dict):
        return {}, [], [*problems, Problem("seeknal_project.yml must be a mapping", file=PROJECT_FILE)]
    schedules, schedule_problems = _schedules(settings.get("schedules") or [])
    timeout = python_timeout(settings)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        message = f"python_timeout must be a number of seconds above 0 (got {timeout!r})"
        schedule_problems.append(Problem(message, file=PROJECT_FILE, field="dagster.python_timeout"))
    return settings, schedules, [*problems, *schedule_problems]


def python_timeout(settings: Mapping[str, Any]) -> Any:
    """``dagster: {python_timeout: seconds}``: how long any Python node may run unless it says otherwise."""
    dagster_settings = settings.get("dagster")
    return dagster_settings.get("python_timeout") if isinstance(dagster_settings, dict) else None
