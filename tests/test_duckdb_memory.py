"""A run's DuckDB database is bounded: every node starts from the memory limit and the spill directory given to the
``seeknal`` resource (through ``build_definitions`` or the Component), or from a sensible default, and what does not
fit is spilled to a directory of the run's own, removed afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster
import duckdb
import pytest
from dagster.components.testing import create_defs_folder_sandbox
from dagster_duckdb import DuckDBResource

from seeknal_dagster import SeeknalProjectComponent, build_definitions
from seeknal_dagster.assets.resource import SeeknalResource
from seeknal_dagster.cli import main
from tests.support.projects import materialize

PROBE = "SELECT current_setting('memory_limit') AS memory_limit, current_setting('temp_directory') AS spill_to"
# 4M rows of about 60 bytes each: well past a 64 MB limit, so DuckDB must spill them to keep them.
SPILLING = """
  CREATE TEMP TABLE big AS SELECT i, repeat('x', 40) || i AS padding FROM range(4000000) t(i);
  SELECT (SELECT list(path) FROM duckdb_temporary_files()) AS spilled_files, count(*) AS rows FROM big
"""


def project_files(**transforms: str) -> dict[str, str]:
    files = {
        "seeknal_project.yml": "name: bounded\n",
        "data/orders.csv": "order_id,amount\n1,10\n2,30\n",
        "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    }
    for name, sql in transforms.items():
        body = "\n".join("  " + line.strip() for line in sql.strip().splitlines())
        files[f"seeknal/transforms/{name}.yml"] = f"kind: transform\nname: {name}\ntransform: |\n{body}\n"
    return files


def output(project: Path, node: str) -> dict:
    relation = duckdb.sql(f"SELECT * FROM '{project}/target/intermediate/transform_{node}.parquet'")
    [row] = relation.fetchall()
    return dict(zip(relation.columns, row))


def as_duckdb_shows(size: str) -> str:
    """How a fresh DuckDB database shows ``size`` as its memory limit."""
    return duckdb.connect(config={"memory_limit": size}).sql("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_every_node_runs_within_the_limit_and_spills_to_the_given_directory(make_project):
    project = make_project(project_files(probe=PROBE, spills=SPILLING))
    spill = project / "scratch"

    assert materialize(project, duckdb_memory_limit="64MB", duckdb_spill_directory=spill).success

    probed = output(project, "probe")
    assert probed["memory_limit"] == as_duckdb_shows("64MB")
    # A directory of the run's own under the one given, gone once the run ended.
    assert Path(probed["spill_to"]).parent == spill.resolve()
    assert not Path(probed["spill_to"]).exists()
    spilled = output(project, "spills")
    assert spilled["rows"] == 4_000_000
    assert spilled["spilled_files"] and all(Path(path).parent == Path(probed["spill_to"]) for path in spilled["spilled_files"])
    assert list(spill.iterdir()) == []


def test_a_nodes_own_memory_limit_does_not_outlive_the_node(make_project):
    project = make_project(
        project_files(a_tuned=f"SET memory_limit = '300MB';\n{PROBE}", b_probe=PROBE)  # a_tuned runs first
    )
    assert materialize(project, duckdb_memory_limit="700MB").success
    assert output(project, "a_tuned")["memory_limit"] == as_duckdb_shows("300MB")
    assert output(project, "b_probe")["memory_limit"] == as_duckdb_shows("700MB")


def test_by_default_a_run_takes_1_5_gb_a_thread_at_most_half_the_ram_and_cleans_up_after_killed_runs(make_project):
    project = make_project(project_files(probe=PROBE))
    spill_root = project / "target/seeknal_dagster/tmp"
    # A run killed while spilling left its directory; a directory of a live process is another run's.
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = spill_root / f"seeknal-{finished.stdout.strip()}-a1"
    in_use = spill_root / f"seeknal-{os.getpid()}-b2"
    for directory in (abandoned, in_use):
        directory.mkdir(parents=True)
        (directory / "duckdb_temp_storage_DEFAULT-0.tmp").write_bytes(b"spilled")

    assert materialize(project).success

    threads = duckdb.connect().sql("SELECT current_setting('threads')").fetchall()[0][0]
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    expected = min(threads * 1_500_000_000, ram // 2) // 1_000_000
    probed = output(project, "probe")
    assert probed["memory_limit"] == as_duckdb_shows(f"{expected}MB")
    assert Path(probed["spill_to"]).parent == spill_root
    assert not abandoned.exists() and in_use.exists()


def test_profiles_memory_limit_is_the_projects_own_and_options_override_it(make_project):
    project = make_project(
        {**project_files(probe=PROBE), "profiles.yml": "materialization:\n  duckdb:\n    memory_limit: 600MB\n"}
    )
    assert materialize(project).success
    assert output(project, "probe")["memory_limit"] == as_duckdb_shows("600MB")
    assert materialize(project, duckdb_memory_limit="800MB").success
    assert output(project, "probe")["memory_limit"] == as_duckdb_shows("800MB")


def test_a_bad_profiles_memory_limit_is_a_validate_problem(make_project, capsys):
    project = make_project(
        {**project_files(probe=PROBE), "profiles.yml": "materialization:\n  duckdb:\n    memory_limit: 4 gigs\n"}
    )
    assert main(["validate", str(project)]) == 1
    problems = capsys.readouterr().err
    assert "profiles.yml" in problems and "materialization.duckdb.memory_limit" in problems
    assert "'4 gigs' is not a memory size DuckDB understands" in problems


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"duckdb_memory_limit": "4 gigs"}, "duckdb_memory_limit\n.*'4 gigs' is not a memory size DuckDB understands"),
        ({"duckdb_memory_limit": "lots"}, "duckdb_memory_limit\n.*'lots' is not a memory size"),
        ({"duckdb_spill_directory": "/"}, "duckdb_spill_directory: / is outside the project"),
    ],
)
def test_a_bad_limit_or_spill_directory_fails_the_load_naming_the_option(make_project, options, complaint):
    project = make_project(project_files(probe=PROBE))
    with pytest.raises(Exception, match=complaint):
        build_definitions(project, **options)


def test_the_component_bounds_its_runs_too(make_project):
    project = make_project(project_files(probe=PROBE))
    with create_defs_folder_sandbox() as sandbox:
        attributes = {"project": str(project), "duckdb_memory_limit": "500MB", "duckdb_spill_directory": str(project / "spill")}
        defs_path = sandbox.scaffold_component(
            component_cls=SeeknalProjectComponent,
            defs_yaml_contents={"type": "seeknal_dagster.SeeknalProjectComponent", "attributes": attributes},
        )
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (_, defs):
            assert defs.resolve_implicit_global_asset_job_def().execute_in_process().success
    probed = output(project, "probe")
    assert probed["memory_limit"] == as_duckdb_shows("500MB")
    assert Path(probed["spill_to"]).parent == (project / "spill").resolve()

    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=SeeknalProjectComponent,
            defs_yaml_contents={
                "type": "seeknal_dagster.SeeknalProjectComponent",
                "attributes": {"project": str(project), "duckdb_memory_limit": "half"},
            },
        )
        with pytest.raises(Exception) as raised:
            with sandbox.load_component_and_build_defs(defs_path=defs_path):
                pass
    # Dagster wraps the component's error in its own, naming defs.yaml; ours is the cause it shows.
    causes, error = [], raised.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__ or error.__context__
    assert any("duckdb_memory_limit" in cause and "'half' is not a memory size" in cause for cause in causes)


def test_a_duckdb_resource_configured_by_hand_keeps_its_own_settings(make_project):
    """A user who passes their own DuckDBResource with a connection_config keeps what it says."""
    project = make_project(project_files(probe=PROBE))
    config = {"memory_limit": "900MB", "temp_directory": str(project / "own_spill")}
    seeknal = SeeknalResource(duckdb=DuckDBResource(database=":memory:", connection_config=config))
    built = build_definitions(project)
    [resource_key] = built.resources  # the project's own resource key (seeknal_<project>)
    defs = dagster.Definitions(assets=built.assets, resources={resource_key: seeknal})
    assert defs.resolve_implicit_global_asset_job_def().execute_in_process().success
    probed = output(project, "probe")
    assert probed["memory_limit"] == as_duckdb_shows("900MB")
    assert probed["spill_to"] == str(project / "own_spill")
