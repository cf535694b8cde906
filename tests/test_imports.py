"""Every module of the package imports on its own, first, in a fresh interpreter: no import cycle hides behind the
order in which the rest of the suite happens to import things."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import seeknal_dagster

REPOSITORY = Path(__file__).resolve().parents[1]


def test_every_module_imports_first_in_a_fresh_interpreter():
    modules = sorted(
        module.name for module in pkgutil.walk_packages(seeknal_dagster.__path__, prefix="seeknal_dagster.")
    )
    # One interpreter for speed: before each import every seeknal_dagster module is forgotten, so each is imported
    # first, as `python -c "import <module>"` would (third-party packages stay loaded; they cannot cycle with ours).
    script = textwrap.dedent(
        """
        import importlib, sys, traceback
        failures = []
        for name in sys.argv[1:]:
            for loaded in [key for key in sys.modules if key == "seeknal_dagster" or key.startswith("seeknal_dagster.")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception:
                failures.append(name + ":\\n" + traceback.format_exc(limit=-3))
        print("\\n".join(failures))
        sys.exit(1 if failures else 0)
        """
    )
    # Two interpreters side by side, each with every other module: the machine's cores share the work.
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *modules[half::2]], cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for half in (0, 1)
    ]
    outputs = [run.communicate()[0] for run in runs]
    assert len(modules) > 50
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)


def test_loading_a_project_imports_no_engine_it_only_runs_with(tmp_path):
    """A code location imports the package and builds the definitions on every deploy, reload and run worker
    start: the run-time engines (Spark, Arrow, pandas, scikit-learn, Iceberg) and the step runner are imported where
    rows flow, not at load."""
    script = textwrap.dedent(
        """
        import sys
        from seeknal_dagster import build_definitions
        build_definitions(sys.argv[1], target_dir=sys.argv[2]).get_repository_def()
        heavy = ["pyspark", "dagster_pyspark", "pyarrow", "numpy", "pandas", "sklearn",
                 "seeknal_dagster.engines.iceberg", "seeknal_dagster.assets.runner"]
        print(" ".join(name for name in heavy if name in sys.modules))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(REPOSITORY / "seeknal_project"), str(tmp_path / "target")],
        cwd=REPOSITORY, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""
