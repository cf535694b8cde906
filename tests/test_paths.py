"""Where nodes may read and write: a file exposure cannot overwrite the project's own data or definitions or escape
it, a source cannot read outside it, unless ``seeknal_project.yml`` opts a directory in. Refused at load (``validate``
and the code location list the problem with file, node and field) and again at run time, where run config can
fill a path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster
import pytest

from seeknal_dagster import build_definitions
from seeknal_dagster.project.errors import ProjectLoadError
from seeknal_dagster.project.loader import load_project
from tests.support.cli import seeknal_params_config
from tests.support.projects import failure_messages, materialize

ORDERS = "order_id,amount\n1,10\n2,20\n"
ORDERS_SOURCE = "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n"


def file_exposure(path: str, name: str = "export") -> str:
    return f"kind: exposure\nname: {name}\ntype: file\ninputs: [{{ref: source.orders}}]\nparams: {{path: '{path}'}}\n"


def shop(make_project, **files: str) -> Path:
    return make_project({"data/orders.csv": ORDERS, "seeknal/sources/orders.yml": ORDERS_SOURCE, **files})


def validate(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["seeknal-dagster", "validate", str(project)], capture_output=True, text=True, env=os.environ)


@pytest.mark.parametrize(
    "path, why",
    [
        ("../../stolen.csv", "is outside the project"),
        ("{outside}/stolen.csv", "is outside the project"),
        ("~/stolen.csv", "is outside the project"),
        ("data/orders.csv", "is a file source.orders reads (table: data/orders.csv)"),
        ("./data/../data/orders.csv", "is a file source.orders reads"),
        ("seeknal/sources/orders.yml", "part of the project's definitions (seeknal)"),
        ("profiles.yml", "part of the project's definitions (profiles.yml)"),
        ("target/intermediate/source_orders.parquet", "which seeknal-dagster manages"),
        ("target/models/churn/v1/model.skops", "which seeknal-dagster manages"),
        ("definitions.py", "never source code or configuration"),
        ("exports/*.csv", "has wildcards"),
    ],
    ids=["dotdot", "absolute", "home", "source-csv", "source-csv-spelled-otherwise", "node-yaml", "profiles",
         "intermediate", "models", "python", "glob"],
)
def test_validate_refuses_an_exposure_path_that_escapes_or_overwrites_the_project(make_project, tmp_path, path, why):
    outside = tmp_path / "outside"
    project = shop(make_project, **{"seeknal/exposures/export.yml": file_exposure(path.format(outside=outside))})

    checked = validate(project)

    assert checked.returncode == 1
    assert "seeknal/exposures/export.yml:1 | node exposure.export | field 'params.path'" in checked.stderr
    assert why in checked.stderr and "Traceback" not in checked.stderr
    assert (project / "data/orders.csv").read_text() == ORDERS


def test_a_symlink_inside_the_project_pointing_outside_counts_as_outside(make_project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secrets.csv").write_text("token\nabc\n")
    project = shop(
        make_project,
        **{
            "seeknal/sources/linked.yml": "kind: source\nname: linked\nsource: csv\ntable: data/linked/secrets.csv\n",
            "seeknal/exposures/export.yml": file_exposure("exports/linked/out.csv"),
        },
    )
    (project / "data/linked").symlink_to(outside)
    (project / "exports").mkdir()
    (project / "exports/linked").symlink_to(outside)

    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)

    problems = {(problem.node_id, problem.field): problem.message for problem in raised.value.problems}
    assert set(problems) == {("source.linked", "table"), ("exposure.export", "params.path")}
    assert f"{outside}/secrets.csv is outside the project" in problems[("source.linked", "table")]
    assert f"{outside}/out.csv is outside the project" in problems[("exposure.export", "params.path")]


@pytest.mark.parametrize(
    "table",
    ["../secret.csv", "{outside}/secret.csv", "../*.csv", "{outside}"],
    ids=["dotdot", "absolute", "glob", "directory"],
)
def test_a_source_outside_the_project_is_refused_at_load(make_project, tmp_path, table):
    outside = tmp_path
    (tmp_path / "secret.csv").write_text("password\nhunter2\n")
    project = shop(
        make_project, **{"seeknal/sources/leak.yml": f"kind: source\nname: leak\nsource: csv\ntable: '{table.format(outside=outside)}'\n"}
    )

    with pytest.raises(ProjectLoadError) as raised:
        build_definitions(project)

    [problem] = raised.value.problems
    assert (problem.node_id, problem.field, str(problem.file)) == ("source.leak", "table", "seeknal/sources/leak.yml")
    assert "is outside the project" in problem.message and "allowed_paths.read" in problem.message


@pytest.mark.parametrize("table", ["data/**/*.csv", "data/daily", "data/daily/*.csv"])
def test_an_exposure_cannot_write_where_a_glob_or_directory_source_reads(make_project, table):
    project = shop(
        make_project,
        **{
            "data/daily/2025-01-01.csv": ORDERS,
            "seeknal/sources/daily.yml": f"kind: source\nname: daily\nsource: csv\ntable: '{table}'\n",
            "seeknal/exposures/export.yml": file_exposure("data/daily/2025-01-02.csv"),
        },
    )

    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)

    [problem] = raised.value.problems
    assert problem.node_id == "exposure.export" and f"is a file source.daily reads (table: {table})" in problem.message


def test_two_exposures_writing_one_file_are_refused(make_project):
    project = shop(
        make_project,
        **{
            "seeknal/exposures/a.yml": file_exposure("exports/orders.csv", "a"),
            "seeknal/exposures/b.yml": file_exposure("exports/orders.csv", "b"),
        },
    )

    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)

    [problem] = raised.value.problems
    assert problem.node_id == "exposure.b" and "is a file exposure.a writes" in problem.message


def test_directories_opted_in_by_the_project_may_be_read_and_written(make_project, tmp_path):
    lake, exports = tmp_path / "lake", tmp_path / "exports"
    lake.mkdir()
    (lake / "refunds.csv").write_text("order_id,refunded\n1,5\n")
    project = shop(
        make_project,
        **{
            "seeknal_project.yml": f"name: shop\nallowed_paths:\n  read: ['{lake}']\n  write: ['{exports}']\n",
            "seeknal/sources/refunds.yml": f"kind: source\nname: refunds\nsource: csv\ntable: {lake}/refunds.csv\n",
            "seeknal/exposures/export.yml": file_exposure(f"{exports}/orders.csv"),
        },
    )

    result = materialize(project)

    assert result.success, failure_messages(result)
    assert (exports / "orders.csv").read_text().splitlines() == ["order_id,amount", "1,10", "2,20"]


def test_the_opt_in_is_checked_too(make_project):
    project = shop(make_project, **{"seeknal_project.yml": "allowed_paths:\n  write: /srv/exports\n  delete: [x]\n"})

    with pytest.raises(ProjectLoadError) as raised:
        load_project(project)

    [problem] = raised.value.problems
    assert (str(problem.file), problem.field) == ("seeknal_project.yml", "allowed_paths.delete")


def test_run_config_cannot_point_an_exposure_outside_the_project(make_project, tmp_path):
    project = shop(
        make_project,
        **{"seeknal/exposures/export.yml": file_exposure("exports/{{ batch }}.csv").replace(
            "params: {", "params: {batch: daily, "
        )},
    )
    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    escape = os.path.relpath(tmp_path / "escaped", project / "exports")

    result = job.execute_in_process(
        run_config=seeknal_params_config({"batch": escape}), raise_on_error=False
    )

    assert not result.success
    message = failure_messages(result)
    # Refused before the path policy is even asked: a run value may not set a param that decides what a node writes.
    assert "exposure.export" in message and "param 'batch' comes from run config" in message
    assert not (tmp_path / "escaped.csv").exists()
    assert dagster.AssetKey(["source", "orders"]) in {
        event.asset_key for event in result.get_asset_materialization_events()
    }
