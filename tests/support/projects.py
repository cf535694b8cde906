"""Writing small Seeknal projects on disk and materializing them the way users do."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Mapping

import dagster

from seeknal_dagster import build_definitions
from seeknal_dagster.executors import ExecutionContext, ExecutorResult, get_executor
from seeknal_dagster.project import ProjectLoadError
from seeknal_dagster.project.loader import load_project


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text is dedented); returns ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    (root / "seeknal").mkdir(exist_ok=True)
    return root


def materialize(
    project_dir: Path,
    selection: str | None = None,
    *,
    instance: dagster.DagsterInstance | None = None,
    raise_on_error: bool = False,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    **options: Any,
) -> dagster.ExecuteInProcessResult:
    """Materialize a project (or a Dagster asset selection of it) in process, as one run, with the run config and
    tags a launch would give it; ``options`` go to ``build_definitions``."""
    defs = build_definitions(project_dir, **options)
    job = defs.resolve_implicit_global_asset_job_def()
    asset_selection = None
    if selection:
        asset_selection = list(dagster.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph()))
    return job.execute_in_process(
        instance=instance, asset_selection=asset_selection, raise_on_error=raise_on_error, run_config=run_config, tags=tags
    )


def materialized_keys(result: dagster.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def materialization_metadata(result: dagster.ExecuteInProcessResult, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == key:
            return {name: value.value for name, value in event.step_materialization_data.materialization.metadata.items()}
    raise KeyError(f"{key} was not materialized")


def table_rows(value: Any) -> list[dict[str, Any]]:
    """The rows of a table shown as metadata (``MetadataValue.table``), as dicts."""
    return [record.data for record in value.records]


def failing_rows(check_metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """Every sample of failing rows a check result shows (one table per failed check)."""
    return [row for key, value in check_metadata.items() if key.startswith("failing_rows/") for row in table_rows(value)]


def failure_messages(result: dagster.ExecuteInProcessResult) -> str:
    """The messages of a run's failed steps, as Dagster shows them."""
    return "\n".join(
        event.step_failure_data.error.message for event in result.all_events if event.is_step_failure
    )


def run_node(project_dir: Path, node_id: str, **context_options: Any) -> ExecutorResult:
    """Run one node's executor directly (no Dagster), e.g. with ``partition_time_window=(start, end)``."""
    project = load_project(project_dir)
    context = ExecutionContext.for_project(project, **context_options)
    try:
        return get_executor(project.nodes[node_id], context).run()
    finally:
        context.close()


def replace_in_file(path: Path, old: str, new: str) -> None:
    """Edit a project file the way a user would: ``old`` (which must be there) becomes ``new``."""
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def load_problem(project_dir: Path, node_id: str) -> str:
    """What the project is refused with, at load, about one node (``seeknal-dagster validate`` prints it): every
    such problem's field and message, one per line. Fails when the project loads."""
    try:
        load_project(project_dir)
    except ProjectLoadError as error:
        found = [f"{problem.field}: {problem.message}" for problem in error.problems if problem.node_id == node_id]
        assert found, f"no problem names {node_id}:\n{error}"
        return "\n".join(found)
    raise AssertionError(f"{project_dir} loads: nothing is wrong with {node_id}")
