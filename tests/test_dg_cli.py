"""The real ``dg`` CLI on a Dagster project: scaffold a Seeknal component, check it, list it, launch it.

``dg`` finds ``seeknal_dagster.SeeknalProjectComponent`` through the package's ``dagster_dg_cli.registry_modules``
entry point, so these tests need a Python environment where this repository is installed. That is the current
one when it was installed from here (``pip install -e .``, as CI does); otherwise a throw-away virtualenv over the
current site-packages gets an editable install of this repository. Each ``dg`` call costs seconds: few calls.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.support.projects import write_project
from tests.support.shop import CLEAN_ORDERS, SHOP_SOURCES

REPOSITORY = Path(__file__).resolve().parents[1]
DG_PROJECT_FILES = {
    "pyproject.toml": """
        [project]
        name = "shop_dg"
        version = "0.1.0"
        requires-python = ">=3.11"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "shop_dg"
    """,
    "shop_dg/__init__.py": "",
    "shop_dg/defs/__init__.py": "",
    "shop_dg/definitions.py": """
        from pathlib import Path

        import dagster as dg


        @dg.definitions
        def defs():
            return dg.load_from_defs_folder(path_within_project=Path(__file__).parent.parent)
    """,
}


def _installed_from_here(python: str, elsewhere: Path) -> bool:
    """Whether ``python``, started in ``elsewhere`` (not in this repository, whose metadata it would find), finds
    this repository's component through the entry point."""
    probe = (
        "import importlib.metadata as m, seeknal_dagster, sys;"
        "points = [p.value for p in m.entry_points(group='dagster_dg_cli.registry_modules')];"
        "print('seeknal_dagster' in points, seeknal_dagster.__file__)"
    )
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=_clean_env(), cwd=elsewhere)
    registered, _, location = found.stdout.strip().partition(" ")
    return registered == "True" and Path(location).resolve().is_relative_to(REPOSITORY)


def _clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH: what dg sees must come from the installed package alone."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.fixture(scope="module")
def python(tmp_path_factory) -> str:
    elsewhere = tmp_path_factory.mktemp("dg_probe")
    if _installed_from_here(sys.executable, elsewhere):
        return sys.executable
    venv = tmp_path_factory.mktemp("dg_venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    executable = str(venv / "bin" / "python")
    subprocess.run(
        [executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPOSITORY)],
        check=True,
        capture_output=True,
        env=_clean_env(),
    )
    assert _installed_from_here(executable, elsewhere), "the editable install does not register the dg entry point"
    return executable


@pytest.fixture
def dg_project(tmp_path, python) -> Path:
    root = write_project(tmp_path / "shop_dg", DG_PROJECT_FILES)
    # dg runs the project's code with this interpreter (instead of <project>/.venv).
    (root / ".env").write_text(f"DG_PROJECT_PYTHON_EXECUTABLE={python}\n")
    return root


def dg(python: str, project: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = _clean_env()
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    command = "import sys; from dagster_dg_cli.cli import main; sys.argv[0] = 'dg'; sys.exit(main())"
    result = subprocess.run(
        [python, "-c", command, *args], cwd=project, capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, f"dg {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_a_scaffolded_component_passes_dg_checks_lists_its_nodes_and_runs(dg_project, python, tmp_path):
    # Two Seeknal projects in one code location: a starter project, and an existing one under a key prefix with
    # a translation block.
    dg(python, dg_project, "scaffold", "defs", "seeknal_dagster.SeeknalProjectComponent", "starter")
    starter = dg_project / "shop_dg/defs/starter"
    assert yaml.safe_load((starter / "defs.yaml").read_text()) == {
        "type": "seeknal_dagster.SeeknalProjectComponent",
        "attributes": {"project": "seeknal_project"},
    }
    dg(python, dg_project, "check", "yaml")

    existing = write_project(tmp_path / "shop", {**SHOP_SOURCES, **CLEAN_ORDERS, "seeknal_project.yml": "name: shop\n"})
    dg(python, dg_project, "scaffold", "defs", "seeknal_dagster.SeeknalProjectComponent", "shop", "--project-path", str(existing))
    shop_yaml = dg_project / "shop_dg/defs/shop/defs.yaml"
    attributes = yaml.safe_load(shop_yaml.read_text())["attributes"]
    assert (shop_yaml.parent / attributes["project"]).resolve() == existing.resolve()
    shop_yaml.write_text(
        shop_yaml.read_text()
        + textwrap.indent(
            textwrap.dedent(
                """
                key_prefix: [shop]
                target_dir: shop_outputs
                translation:
                  group_name: "shop_{{ node.kind }}"
                  tags: {seeknal_file: "{{ node.name }}"}
                """
            ),
            "  ",
        )
    )
    checked = dg(python, dg_project, "check", "defs")
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    listed = json.loads(dg(python, dg_project, "list", "defs", "--json").stdout)
    assets = {asset["asset_key"]: asset for asset in listed["assets"]}
    assert {"source/orders", "transform/customer_revenue", "shop/source/orders", "shop/transform/clean_orders"} <= set(assets)
    assert assets["shop/transform/clean_orders"]["group_name"] == "shop_transform"
    assert assets["shop/transform/clean_orders"]["dependency_keys"] == ["shop/source/orders"]
    assert assets["transform/customer_revenue"]["source"].endswith("seeknal/transforms/customer_revenue.yml:1")
    assert {check["key"] for check in listed["asset_checks"]} == {"source/orders:positive_amounts"}
    assert {sensor["name"] for sensor in listed["sensors"]} == {"seeknal_starter_source_sensor", "seeknal_shop_shop_source_sensor"}

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    dg(python, dg_project, "launch", "--assets", 'key:"shop/transform/clean_orders" or key:"shop/source/orders"', home=home)
    # target_dir is relative to the defs.yaml folder, like the project.
    output = shop_yaml.parent / "shop_outputs/intermediate/transform_clean_orders.parquet"
    assert output.is_file()
    assert not (starter / "seeknal_project/target/intermediate").exists()
