"""Named schedules declared in ``seeknal_project.yml``, one job each::

    schedules:
      - name: nightly
        cron: "0 2 * * *"
        select: tag:daily+          # Dagster's selection syntax; Seeknal tags are asset tags
        timezone: Europe/Berlin     # optional (UTC by default)
        enabled: false              # optional: declared, but stopped until switched on in the UI

Only schedules get jobs: a job per node would bury the few that matter in the UI.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job, in_process_executor
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from seeknal_dagster.assets._compat import is_valid_cron_string
from seeknal_dagster.operations.tags import RETRY_FROM_ASSET_FAILURE
from seeknal_dagster.project.errors import Problem, ProjectLoadError
from seeknal_dagster.project.loader import _describe_validation_error

if TYPE_CHECKING:
    from seeknal_dagster.assets._compat import AssetGraph, UnresolvedAssetJobDefinition
    from seeknal_dagster.project.loader import SeeknalProject

PROJECT_FILE = Path("seeknal_project.yml")


class ScheduleSettings(BaseModel):
    """One entry of ``schedules:`` in ``seeknal_project.yml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=re.compile(r"^[A-Za-z][A-Za-z0-9_]*$"))
    cron: str
    select: str
    timezone: str | None = None
    description: str | None = None
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not is_valid_cron_string(value):
            raise ValueError(f"'{value}' is not a cron expression (five fields, e.g. \"0 6 * * *\")")
        return value

    @property
    def job_name(self) -> str:
        return f"{self.name}_job"

    def selection(self) -> AssetSelection:
        with warnings.catch_warnings():  # Dagster flags parts of its own string parser as beta
            warnings.simplefilter("ignore")
            return AssetSelection.from_string(self.select)


def _validated(entry: Any, index: int, asset_graph: "AssetGraph") -> ScheduleSettings | list[Problem]:
    where = f"schedules[{index}]"
    name = entry.get("name") if isinstance(entry, dict) else None
    try:
        schedule = ScheduleSettings.model_validate(entry)
    except ValidationError as error:
        return [
            Problem(
                f"schedule {name or index}: {_describe_validation_error(detail)}",
                file=PROJECT_FILE,
                field=".".join([where, *(str(part) for part in detail["loc"])]),
            )
            for detail in error.errors()
        ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            selected = schedule.selection().resolve(asset_graph)
    except Exception as error:  # Dagster raises several error types for a selection that does not parse
        return [Problem(f"schedule {schedule.name}: invalid select '{schedule.select}': {error}", file=PROJECT_FILE, field=f"{where}.select")]
    if not selected:
        return [Problem(f"schedule {schedule.name}: select '{schedule.select}' matches no asset", file=PROJECT_FILE, field=f"{where}.select")]
    return schedule


def project_schedules(
    project: "SeeknalProject", asset_graph: "AssetGraph", key_prefix: Sequence[str] = ()
) -> tuple[list["UnresolvedAssetJobDefinition"], list[ScheduleDefinition]]:
    """A job and a schedule per entry of ``schedules:``; every problem is raised at once, naming the entry.

    With a key prefix, names start with it (``<prefix>_<name>``), so the same project loaded twice under two
    prefixes gets two sets of schedules. Jobs run in process: all their nodes are one step."""
    entries = project.settings.get("schedules") or []
    if not isinstance(entries, list):
        raise ProjectLoadError(
            project.root, [Problem("'schedules' must be a list of {name, cron, select}", file=PROJECT_FILE, field="schedules")]
        )
    schedules: list[ScheduleSettings] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        result = _validated(entry, index, asset_graph)
        if isinstance(result, ScheduleSettings):
            schedules.append(result)
        else:
            problems += result
    duplicates = sorted({schedule.name for schedule in schedules if [s.name for s in schedules].count(schedule.name) > 1})
    problems += [Problem(f"two schedules are named '{name}'", file=PROJECT_FILE, field="schedules") for name in duplicates]
    if problems:
        raise ProjectLoadError(project.root, problems)
    jobs, definitions = [], []
    # A selection names keys or tags of this project only, even when another project in the code location matches.
    project_assets = AssetSelection.assets(*asset_graph.get_all_asset_keys())
    prefix = "".join(f"{''.join(char if char.isalnum() else '_' for char in part)}_" for part in key_prefix)
    for schedule in schedules:
        job = define_asset_job(
            prefix + schedule.job_name,
            selection=schedule.selection() & project_assets,
            executor_def=in_process_executor,
            tags=RETRY_FROM_ASSET_FAILURE,
            description=f"Nodes of schedule '{schedule.name}' in {PROJECT_FILE}: {schedule.select}",
        )
        jobs.append(job)
        definitions.append(
            ScheduleDefinition(
                name=prefix + schedule.name,
                job=job,
                cron_schedule=schedule.cron,
                execution_timezone=schedule.timezone,
                description=schedule.description or f"{schedule.select} at '{schedule.cron}'",
                default_status=DefaultScheduleStatus.RUNNING if schedule.enabled else DefaultScheduleStatus.STOPPED,
            )
        )
    return jobs, definitions
