"""Named schedules declared in ``seeknal_project.yml`` (read and checked with the project, see
:mod:`seeknal_dagster.project.project_file`), one job each. Only schedules get jobs: a job per node would bury
the few that matter in the UI.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Sequence

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job, in_process_executor

from seeknal_dagster.operations.tags import UNATTENDED_RUN_TAGS
from seeknal_dagster.project.errors import Problem, ProjectLoadError
from seeknal_dagster.project.project_file import PROJECT_FILE, ScheduleSettings

if TYPE_CHECKING:
    from seeknal_dagster.assets._compat import AssetGraph, UnresolvedAssetJobDefinition
    from seeknal_dagster.project.loader import SeeknalProject


def _selection(schedule: ScheduleSettings) -> AssetSelection:
    with warnings.catch_warnings():  # Dagster flags parts of its own string parser as beta
        warnings.simplefilter("ignore")
        return AssetSelection.from_string(schedule.select)


def _selection_problem(schedule: ScheduleSettings, index: int, asset_graph: "AssetGraph") -> Problem | None:
    where = f"schedules[{index}].select"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            selected = _selection(schedule).resolve(asset_graph)
    except Exception as error:  # Dagster raises several error types for a selection that does not parse
        return Problem(f"schedule {schedule.name}: invalid select '{schedule.select}': {error}", file=PROJECT_FILE, field=where)
    if not selected:
        return Problem(f"schedule {schedule.name}: select '{schedule.select}' matches no asset", file=PROJECT_FILE, field=where)
    return None


def project_schedules(
    project: "SeeknalProject", asset_graph: "AssetGraph", key_prefix: Sequence[str] = ()
) -> tuple[list["UnresolvedAssetJobDefinition"], list[ScheduleDefinition]]:
    """A job and a schedule per entry of ``schedules:``; a selection matching nothing is raised, naming the entry.

    With a key prefix, names start with it (``<prefix>_<name>``), so the same project loaded twice under two
    prefixes gets two sets of schedules. Jobs run in process: all their nodes are one step."""
    problems = [
        problem
        for index, schedule in enumerate(project.schedules)
        if (problem := _selection_problem(schedule, index, asset_graph)) is not None
    ]
    if problems:
        raise ProjectLoadError(project.root, problems)
    jobs, definitions = [], []
    # A selection names keys or tags of this project only, even when another project in the code location matches.
    project_assets = AssetSelection.assets(*asset_graph.get_all_asset_keys())
    prefix = "".join(f"{''.join(char if char.isalnum() else '_' for char in part)}_" for part in key_prefix)
    for schedule in project.schedules:
        job = define_asset_job(
            prefix + schedule.job_name,
            selection=_selection(schedule) & project_assets,
            executor_def=in_process_executor,
            tags=UNATTENDED_RUN_TAGS,
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
